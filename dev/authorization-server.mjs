/**
 * A real OAuth 2.0 authorization server for the demo and the end-to-end tests: `oidc-provider` (OpenID-certified,
 * by the author of `jose`), configured for the client-credentials grant. DEVELOPMENT ONLY: clients and keys live in
 * memory, and it binds to 127.0.0.1.
 *
 * What a client gets is what such a server issues in production: `POST <issuer>/token` with HTTP Basic client
 * authentication, `grant_type=client_credentials`, `resource=<the API>` (RFC 8707) and `scope` returns an RFC 9068
 * JWT access token (`typ: at+jwt`, `aud` = the resource, `client_id` = `sub`), DPoP-bound (`cnf.jkt`) when the
 * request carries a `DPoP` proof. Discovery is at `<issuer>/.well-known/openid-configuration`, the keys at
 * `<issuer>/jwks`. Without `resource` the server issues an opaque token, as oidc-provider does.
 *
 * Run as a script (`node dev/authorization-server.mjs [--port 8056]`) it prints its issuer and demo clients as one
 * JSON line and exits when the process that started it does.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';

/**
 * A client: its secret, the scopes of the resource it may be granted, and whether its tokens must be DPoP-bound
 * (`dpop_bound_access_tokens`: a token request without a `DPoP` proof is then refused).
 * @typedef {{ secret: string, scopes: string[], dpopBound?: boolean }} RegisteredClient
 * @typedef {{ status: number, headers: Headers, body: Record<string, any> }} TokenResponse
 */

/** Access tokens live an hour, like Auth0's and Keycloak's client-credentials defaults. */
const ACCESS_TOKEN_TTL = 3600;

/**
 * Starts the authorization server on 127.0.0.1 (`port` 0 or absent = any free one). `clients` are registered with
 * their secrets and the scopes of `resource` each may be granted; `scopes` are all the scopes `resource` defines.
 * Returns `{ issuer, tokenEndpoint, jwksUri, discoveryUri, resource, getToken, requestToken, kids, rotate, hits,
 * stop }`. A `dpopProof` given to `getToken`/`requestToken` is sent as the `DPoP` header: a proof for `POST` at
 * `tokenEndpoint` (ES256 or EdDSA) makes the token DPoP-bound (`token_type` `DPoP`, `cnf.jkt`).
 * @param {{ port?: number, clients: Record<string, RegisteredClient>, resource: string, scopes: string[] }} options
 */
export async function startAuthorizationServer(options) {
	const { clients, resource, scopes } = options;
	validateOptions(options);

	/** @type {Map<string, number>} */
	const hits = new Map();
	const adapter = createMemoryAdapter();
	/** Private JWKs, the signing key first: oidc-provider signs with the first key of a usable type. */
	let keys = [await makeSigningKey()];
	/** @type {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void} */
	let handle = (_req, res) => res.writeHead(503).end();

	const server = createServer((req, res) => {
		const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
		hits.set(path, (hits.get(path) ?? 0) + 1);
		handle(req, res);
	});

	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(options.port ?? 0, '127.0.0.1', () => resolve(undefined));
	});

	const port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
	// oidc-provider's issuer has no trailing slash; the extension must be configured with exactly this string.
	const issuer = `http://127.0.0.1:${port}`;

	/**
	 * A Provider over the current key set. Why a new one per key change: oidc-provider reads `jwks` once, at
	 * construction; its documented rotation is "change the JWKS, reload the processes", and this is the reload.
	 */
	const load = () => {
		const provider = new Provider(issuer, {
			clients: Object.entries(clients).map(([clientId, client]) => ({
				client_id: clientId,
				client_secret: client.secret,
				grant_types: ['client_credentials'],
				response_types: [],
				redirect_uris: [],
				token_endpoint_auth_method: 'client_secret_basic',
				...(client.dpopBound ? { dpop_bound_access_tokens: true } : {}),
			})),
			jwks: { keys },
			adapter,
			ttl: { ClientCredentials: ACCESS_TOKEN_TTL },
			features: {
				devInteractions: { enabled: false },
				clientCredentials: { enabled: true },
				dPoP: { enabled: true },
				introspection: { enabled: false },
				revocation: { enabled: false },
				userinfo: { enabled: false },
				resourceIndicators: {
					enabled: true,
					// The resource must be named: without it oidc-provider issues an opaque token no API can verify.
					defaultResource: () => undefined,
					useGrantedResource: () => false,
					getResourceServerInfo: (_ctx, indicator, client) => {
						if (indicator !== resource) throw new errors.InvalidTarget();
						// Why per client: a client is granted only the scopes it was registered with, as Auth0 grants an
						// application its authorized scopes; the rest of a request's scopes are dropped, not refused.
						const allowed = new Set(clients[client.clientId]?.scopes ?? []);
						return {
							scope: scopes.filter((scope) => allowed.has(scope)).join(' '),
							audience: resource,
							accessTokenTTL: ACCESS_TOKEN_TTL,
							accessTokenFormat: 'jwt',
							jwt: { sign: { alg: 'RS256' } },
						};
					},
				},
			},
		});
		handle = provider.callback();
	};

	load();

	const tokenEndpoint = `${issuer}/token`;

	/**
	 * Asks the token endpoint, the way any OAuth client does, and returns its answer whatever the status. `resource`
	 * defaults to the API's; `null` leaves it out (oidc-provider then issues an opaque token).
	 * @param {{ clientId: string, clientSecret: string, scope?: string, resource?: string | null, dpopProof?: string }} request
	 * @returns {Promise<TokenResponse>}
	 */
	const requestToken = async ({ clientId, clientSecret, scope, resource: target = resource, dpopProof }) => {
		const form = new URLSearchParams({ grant_type: 'client_credentials' });
		if (target !== null) form.set('resource', target);
		if (scope !== undefined) form.set('scope', scope);
		// RFC 6749 §2.3.1: the id and secret are form-encoded before they are joined and base64-encoded.
		const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');
		const response = await fetch(tokenEndpoint, {
			method: 'POST',
			headers: {
				authorization: `Basic ${basic}`,
				'content-type': 'application/x-www-form-urlencoded',
				...(dpopProof === undefined ? {} : { dpop: dpopProof }),
			},
			body: form,
		});
		return { status: response.status, headers: response.headers, body: await response.json() };
	};

	return {
		issuer,
		tokenEndpoint,
		jwksUri: `${issuer}/jwks`,
		discoveryUri: `${issuer}/.well-known/openid-configuration`,
		resource,

		requestToken,

		/**
		 * A token response body (`access_token`, `token_type`, `expires_in`, `scope`) from the token endpoint; a
		 * refusal throws an error carrying the server's `status` and `body`. `scope` defaults to all the client may get.
		 * @param {{ clientId: string, clientSecret?: string, scope?: string, dpopProof?: string }} request
		 */
		async getToken({ clientId, clientSecret = clients[clientId]?.secret ?? '', scope, dpopProof }) {
			const answer = await requestToken({
				clientId,
				clientSecret,
				scope: scope ?? clients[clientId]?.scopes.join(' '),
				dpopProof,
			});
			if (answer.status !== 200) {
				throw Object.assign(new Error(`token endpoint answered ${answer.status}: ${JSON.stringify(answer.body)}`), {
					status: answer.status,
					body: answer.body,
				});
			}
			return answer.body;
		},

		/** The `kid` of each published key, the signing key first. */
		get kids() {
			return keys.map((key) => key.kid);
		},

		/**
		 * Rotates the signing key in oidc-provider's documented order: the new key is first published at the end of the
		 * JWKS (verifiable, not yet signing), then moved to the front, where it signs. The old keys stay published, so
		 * tokens they signed remain verifiable. Returns the new `kid`.
		 */
		async rotate() {
			const next = await makeSigningKey();
			keys = [...keys, next];
			load();
			keys = [next, ...keys.slice(0, -1)];
			load();
			return next.kid;
		},

		/** How many requests reached `path` (for example `/jwks`). */
		hits(path) {
			return hits.get(path) ?? 0;
		},

		async stop() {
			server.closeAllConnections();
			await new Promise((resolve) => server.close(() => resolve(undefined)));
		},
	};
}

/**
 * oidc-provider's adapter interface over one Map, shared by every reload so that what the server remembers (DPoP
 * proofs seen at its token endpoint, opaque tokens) survives a key rotation; its built-in one starts empty per Provider.
 */
function createMemoryAdapter() {
	/** @type {Map<string, { payload: Record<string, any>, expiresAt: number }>} */
	const store = new Map();
	const read = (key) => {
		const entry = store.get(key);
		if (entry && entry.expiresAt <= Date.now()) store.delete(key);
		return entry && entry.expiresAt > Date.now() ? entry.payload : undefined;
	};

	return class MemoryAdapter {
		constructor(model) {
			this.model = model;
		}
		async upsert(id, payload, expiresIn) {
			store.set(`${this.model}:${id}`, { payload, expiresAt: Date.now() + (expiresIn ?? 86_400) * 1000 });
		}
		async find(id) {
			return read(`${this.model}:${id}`);
		}
		async findByUid() {
			return undefined;
		}
		async findByUserCode() {
			return undefined;
		}
		async consume(id) {
			const payload = read(`${this.model}:${id}`);
			if (payload) payload.consumed = Math.floor(Date.now() / 1000);
		}
		async destroy(id) {
			store.delete(`${this.model}:${id}`);
		}
		async revokeByGrantId() {}
	};
}

/** An RS256 key pair made now, as a private JWK with a fresh `kid` (never written anywhere). */
async function makeSigningKey() {
	const { privateKey } = await generateKeyPair('RS256', { extractable: true });
	return { ...(await exportJWK(privateKey)), kid: `as-${randomUUID().slice(0, 8)}`, alg: 'RS256', use: 'sig' };
}

/** Bad options fail here with a message naming them, not later as an opaque provider error. */
function validateOptions({ clients, resource, scopes }) {
	const problems = [];
	if (typeof resource !== 'string' || !URL.canParse(resource)) problems.push('`resource` must be an absolute URI');
	if (
		!Array.isArray(scopes) ||
		scopes.some((scope) => typeof scope !== 'string' || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope))
	)
		problems.push('`scopes` must be an array of RFC 6749 scope tokens');
	for (const [clientId, client] of Object.entries(clients ?? {})) {
		if (typeof client?.secret !== 'string' || client.secret.length < 8)
			problems.push(`client ${clientId}: a secret of 8+ characters`);
		for (const scope of client?.scopes ?? []) {
			if (!scopes?.includes(scope)) problems.push(`client ${clientId}: scope ${scope} is not one of \`scopes\``);
		}
	}
	if (problems.length > 0) throw new Error(`startAuthorizationServer: ${problems.join('; ')}`);
}

/** The demo's clients with fresh secrets: what the demo and `node dev/authorization-server.mjs` register. */
export function demoClients() {
	const secret = () => randomBytes(12).toString('hex');
	return {
		'demo-reader': { secret: secret(), scopes: ['svc#read'] },
		'demo-writer': { secret: secret(), scopes: ['svc#read', 'svc#write'] },
		// Granted a scope of the API that no role is mapped to: refused by the extension.
		'demo-outsider': { secret: secret(), scopes: ['svc#audit'] },
		// Used by `npm run token -- --scope ...`: may be given any scope of the API.
		'demo-cli': { secret: secret(), scopes: ['svc#read', 'svc#write', 'svc#admin', 'svc#audit'] },
	};
}

/** The demo API: its resource indicator (= the tokens' audience) and the scopes it defines. */
export const DEMO_RESOURCE = 'https://demo-api.local';
export const DEMO_SCOPES = ['svc#read', 'svc#write', 'svc#admin', 'svc#audit'];

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
	const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });
	const clients = demoClients();
	const server = await startAuthorizationServer({
		port: Number(values.port),
		clients,
		resource: DEMO_RESOURCE,
		scopes: DEMO_SCOPES,
	});
	console.log(
		JSON.stringify({ issuer: server.issuer, tokenEndpoint: server.tokenEndpoint, resource: DEMO_RESOURCE, clients }),
	);

	// Why: started by another process (a test, a script), it must not outlive it, even when that one is killed.
	const parent = process.ppid;
	setInterval(() => {
		let alive = process.ppid === parent;
		try {
			if (alive) process.kill(parent, 0);
		} catch {
			alive = false;
		}
		if (!alive) server.stop().finally(() => process.exit(0));
	}, 1000).unref();
	for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.stop().finally(() => process.exit(0)));
}
