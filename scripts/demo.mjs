/**
 * `npm start`: the extension working on your laptop, with no Auth0 tenant and no Docker.
 *
 * Starts the local development issuer (dev/local-issuer.mjs, NOT for production) on 127.0.0.1, boots Directus on
 * SQLite with the freshly built extension, seeds a collection, roles and policies, and prints curl lines to try.
 * Runs until Ctrl-C, then stops both and deletes the temporary project.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
	DEFAULT_DIRECTUS_VERSION,
	freePort,
	installDirectus,
	REPO_ROOT,
	startDirectus,
} from '../dev/directus-instance.mjs';
import { startLocalIssuer } from '../dev/local-issuer.mjs';
import { SEED_SCOPE_ROLES, seedAccessModel, seededExtensionEnv } from '../dev/seed.mjs';

export const DEMO_STATE = join(REPO_ROOT, '.demo/state.json');
const version = process.env.DEMO_DIRECTUS_VERSION ?? DEFAULT_DIRECTUS_VERSION;

const secret = () => randomBytes(12).toString('hex');
const clients = {
	'demo-reader': { secret: secret(), scopes: ['svc#read'] },
	'demo-writer': { secret: secret(), scopes: ['svc#read', 'svc#write'] },
	'demo-outsider': { secret: secret(), scopes: ['other#read'] },
	// Used by `npm run token -- --scope ...`: may be given any scope.
	'demo-cli': { secret: secret(), scopes: ['svc#read', 'svc#write', 'svc#admin', 'other#read'] },
};

let issuer;
let directus;
let stopping = false;

async function shutdown(code = 0) {
	if (stopping) return;
	stopping = true;
	console.log('\nStopping Directus and the demo issuer…');
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

	issuer = await startLocalIssuer({ port: await preferredPort(8056), audience: 'https://demo-api.local', clients });
	console.log(`Demo issuer (development only) on ${issuer.url}`);

	directus = await startDirectus({
		version,
		port: await preferredPort(8055),
		env: {
			...seededExtensionEnv(issuer),
		},
	});
	await seedAccessModel(directus);

	await mkdir(join(REPO_ROOT, '.demo'), { recursive: true });
	await writeFile(
		DEMO_STATE,
		JSON.stringify({ issuer: issuer.url, audience: issuer.audience, directus: directus.url, clients }, null, '\t'),
	);

	printInstructions();
	echoExtensionLogs();
} catch (error) {
	console.error(error instanceof Error ? error.message : error);
	await shutdown(1);
}

function printInstructions() {
	const tokenCall = (client) =>
		`curl -s -X POST ${issuer.url}/oauth/token -H 'content-type: application/json' -d '${JSON.stringify({
			grant_type: 'client_credentials',
			client_id: client,
			client_secret: clients[client].secret,
			audience: issuer.audience,
		})}'`;
	const extract = `node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token'`;

	console.log(`
Directus ${version} is running on ${directus.url} with the extension loaded.
Admin login (local only): admin@example.com / admin-password-for-local-only

Scope mapping: BCC_AUTH_SCOPE_ROLES="${SEED_SCOPE_ROLES}"

1. Get a token for the client "demo-reader" (scope svc#read):
   ${tokenCall('demo-reader')}

2. Read data with it:
   TOKEN=$(${tokenCall('demo-reader')} | ${extract})
   curl -s -H "Authorization: Bearer $TOKEN" ${directus.url}/items/articles

3. The same client may not read secrets (403), and a client without a mapped scope is refused (401):
   curl -s -H "Authorization: Bearer $TOKEN" ${directus.url}/items/secrets
   OUTSIDER=$(${tokenCall('demo-outsider')} | ${extract})
   curl -s -H "Authorization: Bearer $OUTSIDER" ${directus.url}/items/articles

4. Any scope, from the running demo issuer:
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
