/**
 * `npm start`: the extension working on your laptop, with no Auth0 tenant and no Docker.
 *
 * Starts a real OAuth 2.0 authorization server (`oidc-provider`, dev/authorization-server.mjs: clients with secrets,
 * the client-credentials grant, RFC 9068 JWT access tokens for the demo API) on 127.0.0.1, boots Directus on SQLite
 * with the freshly built extension configured for it (preset `rfc9068`, OpenID discovery), seeds a collection, roles
 * and policies, and prints curl lines that get a token from its token endpoint. Runs until Ctrl-C, then stops both
 * and deletes the temporary project.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEMO_RESOURCE, DEMO_SCOPES, demoClients, startAuthorizationServer } from '../dev/authorization-server.mjs';
import {
	DEFAULT_DIRECTUS_VERSION,
	freePort,
	installDirectus,
	REPO_ROOT,
	startDirectus,
} from '../dev/directus-instance.mjs';
import { SEED_SCOPE_ROLES, seedAccessModel, seededExtensionEnv } from '../dev/seed.mjs';

export const DEMO_STATE = join(REPO_ROOT, '.demo/state.json');
const version = process.env.DEMO_DIRECTUS_VERSION ?? DEFAULT_DIRECTUS_VERSION;
const clients = demoClients();

let issuer;
let directus;
let stopping = false;

async function shutdown(code = 0) {
	if (stopping) return;
	stopping = true;
	console.log('\nStopping Directus and the authorization server…');
	await directus?.stop().catch(() => undefined);
	await issuer?.stop().catch(() => undefined);
	await rm(DEMO_STATE, { force: true });
	process.exit(code);
}

process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));

try {
	console.log(`Preparing Directus ${version} (the first run installs it from npm into a cache: a few minutes)…`);
	await installDirectus(version);

	issuer = await startAuthorizationServer({
		port: await preferredPort(8056),
		clients,
		resource: DEMO_RESOURCE,
		scopes: DEMO_SCOPES,
	});
	console.log(`Authorization server (oidc-provider, development only) on ${issuer.issuer}`);

	directus = await startDirectus({
		version,
		port: await preferredPort(8055),
		env: {
			...seededExtensionEnv({ issuer: issuer.issuer, audience: issuer.resource }),
			// oidc-provider issues RFC 9068 tokens and publishes its keys at `<issuer>/jwks`, found by discovery.
			BCC_AUTH_PRESET: 'rfc9068',
			BCC_AUTH_DISCOVERY: 'true',
		},
	});
	await seedAccessModel(directus);

	await mkdir(join(REPO_ROOT, '.demo'), { recursive: true });
	await writeFile(
		DEMO_STATE,
		JSON.stringify(
			{
				issuer: issuer.issuer,
				tokenEndpoint: issuer.tokenEndpoint,
				resource: issuer.resource,
				directus: directus.url,
				clients,
			},
			null,
			'\t',
		),
	);

	printInstructions();
	echoExtensionLogs();
} catch (error) {
	console.error(error instanceof Error ? error.message : error);
	await shutdown(1);
}

function printInstructions() {
	// A standard token request: HTTP Basic client authentication, form-encoded (`#` in a scope must be encoded).
	const tokenCall = (client) =>
		`curl -s -u ${client}:${clients[client].secret} -d grant_type=client_credentials ` +
		`--data-urlencode resource=${issuer.resource} --data-urlencode 'scope=${clients[client].scopes.join(' ')}' ` +
		issuer.tokenEndpoint;
	const extract = `node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token'`;

	console.log(`
Directus ${version} is running on ${directus.url} with the extension loaded.
Admin login (local only): admin@example.com / admin-password-for-local-only

Extension: BCC_AUTH_PRESET=rfc9068 BCC_AUTH_DISCOVERY=true BCC_AUTH_ISSUER=${issuer.issuer} BCC_AUTH_AUDIENCE=${issuer.resource}
Scope mapping: BCC_AUTH_SCOPE_ROLES="${SEED_SCOPE_ROLES}"

1. Get a token for the client "demo-reader" (scope svc#read):
   ${tokenCall('demo-reader')}

2. Read data with it:
   TOKEN=$(${tokenCall('demo-reader')} | ${extract})
   curl -s -H "Authorization: Bearer $TOKEN" ${directus.url}/items/articles

3. The same client may not read secrets (403), and a client granted only an unmapped scope (svc#audit) is refused (401):
   curl -s -H "Authorization: Bearer $TOKEN" ${directus.url}/items/secrets
   OUTSIDER=$(${tokenCall('demo-outsider')} | ${extract})
   curl -s -H "Authorization: Bearer $OUTSIDER" ${directus.url}/items/articles

4. A wrong secret is refused by the authorization server itself (401 invalid_client, no token):
   curl -s -u demo-reader:wrong-secret -d grant_type=client_credentials --data-urlencode resource=${issuer.resource} ${issuer.tokenEndpoint}

5. Any scope of the API, from the running authorization server:
   npm run token -- --scope "svc#write"

Revoke a client: suspend its user (External Client) in the Directus app, or
   curl -s -X PATCH -H "Authorization: Bearer ${directus.adminToken}" -H 'content-type: application/json' \\
     -d '{"status":"suspended"}' ${directus.url}/users/<user id>

Press Ctrl-C to stop.`);
}

/** Prints the extension's log lines (refusals and their reasons) as Directus writes them. */
function echoExtensionLogs() {
	let seen = directus.logs().length;
	setInterval(() => {
		const lines = directus.logs();
		for (const line of lines.slice(seen)) {
			if (!line.includes('[auth-client-credentials]')) continue;
			try {
				console.log(`directus log: ${JSON.parse(line).msg}`);
			} catch {
				console.log(`directus log: ${line}`);
			}
		}
		seen = lines.length;
	}, 500).unref();
}

/** The port asked for when it is free, otherwise any free one: a second demo must not fail on a busy port. */
async function preferredPort(port) {
	const { createServer } = await import('node:net');
	const free = await new Promise((resolve) => {
		const server = createServer();
		server.once('error', () => resolve(false));
		server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
	});
	return free ? port : freePort();
}
