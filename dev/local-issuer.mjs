/**
 * A local OAuth2 authorization server for the demo, the benchmark and the tests. DEVELOPMENT ONLY: it signs
 * whatever it is asked to and must never stand in for a real issuer. The extension's code never imports it.
 *
 * Keys are generated when it starts and never written to disk. It binds to 127.0.0.1 only and serves:
 * - GET  /.well-known/jwks.json             the public keys (with switches to simulate outages)
 * - GET  /.well-known/openid-configuration  OpenID discovery
 * - POST /oauth/token                       client-credentials grant, shaped like Auth0's
 */
import { constants, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { createServer } from 'node:http';

/**
 * @typedef {{ kid: string, alg: string, privateKey: import('node:crypto').KeyObject, publicKey: import('node:crypto').KeyObject, publicJwk: object }} IssuerKey
 * @typedef {'ok' | 'down' | 'slow' | 'garbage' | 'not-found' | 'empty'} JwksMode
 * @typedef {{ secret: string, scopes: string[] }} DemoClient
 */

/** Makes a signing key pair; `alg` decides the type (RS*, PS* → RSA 2048; ES256 → P-256; ES384 → P-384). */
export function makeKey(alg = 'RS256', kid = `key-${randomUUID().slice(0, 8)}`) {
	const { privateKey, publicKey } = alg.startsWith('ES')
		? generateKeyPairSync('ec', { namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg] })
		: generateKeyPairSync('rsa', { modulusLength: 2048 });

	return {
		kid,
		alg,
		privateKey,
		publicKey,
		publicJwk: { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' },
	};
}

/**
 * Starts an issuer on 127.0.0.1 (port 0 = any free one).
 * @param {{ port?: number, audience?: string, clients?: Record<string, DemoClient>, keys?: IssuerKey[] }} [options]
 */
export async function startLocalIssuer(options = {}) {
	const { audience = 'https://api.example.test', clients = {} } = options;
	let keys = options.keys ?? [makeKey('RS256')];
	/** @type {JwksMode} */
	let jwksMode = 'ok';
	let slowMs = 10_000;
	const counters = { jwks: 0, token: 0 };
	const pending = new Set();

	const server = createServer((req, res) => {
		const url = new URL(req.url ?? '/', 'http://127.0.0.1');

		if (req.method === 'GET' && url.pathname === '/.well-known/jwks.json') return serveJwks(res);
		if (req.method === 'GET' && url.pathname === '/.well-known/openid-configuration') {
			return json(res, 200, {
				issuer: issuer.issuer,
				jwks_uri: `${issuer.url}/.well-known/jwks.json`,
				token_endpoint: `${issuer.url}/oauth/token`,
				grant_types_supported: ['client_credentials'],
				id_token_signing_alg_values_supported: ['RS256'],
			});
		}
		if (req.method === 'POST' && url.pathname === '/oauth/token') return issueToken(req, res);
		json(res, 404, { error: 'not_found' });
	});

	function serveJwks(res) {
		counters.jwks++;
		if (jwksMode === 'down') return res.destroy();
		if (jwksMode === 'not-found') return json(res, 404, { error: 'not_found' });
		if (jwksMode === 'garbage')
			return res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": [ oops');
		if (jwksMode === 'empty') return json(res, 200, { keys: [] });
		const answer = () => json(res, 200, { keys: keys.map((key) => key.publicJwk) });
		if (jwksMode === 'slow') {
			const timer = setTimeout(answer, slowMs);
			pending.add(timer);
			return;
		}
		answer();
	}

	async function issueToken(req, res) {
		counters.token++;
		const body = await readBody(req);
		const client = clients[body.client_id];

		if (body.grant_type !== 'client_credentials') return json(res, 400, { error: 'unsupported_grant_type' });
		if (!client || client.secret !== body.client_secret) {
			return json(res, 401, { error: 'access_denied', error_description: 'Unauthorized' });
		}
		if (body.audience !== undefined && body.audience !== audience) {
			return json(res, 403, { error: 'access_denied', error_description: 'Service not enabled within domain' });
		}

		// Auth0 grants the scopes the application was given; a `scope` request narrows them.
		const requested = typeof body.scope === 'string' ? body.scope.split(' ').filter(Boolean) : client.scopes;
		const scope = requested.filter((name) => client.scopes.includes(name)).join(' ');
		const expiresIn = 86_400;
		const token = issuer.mint({ sub: `${body.client_id}@clients`, azp: body.client_id, scope }, { expiresIn });
		json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: expiresIn, scope });
	}

	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(options.port ?? 0, '127.0.0.1', resolve);
	});

	const url = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`;

	const issuer = {
		url,
		/** Auth0's issuer ends with a slash. */
		issuer: `${url}/`,
		audience,
		counters,
		get keys() {
			return keys;
		},

		/**
		 * Signs an Auth0-shaped client-credentials token; `claims` override or (with `undefined`) remove defaults.
		 * @param {Record<string, unknown>} [claims]
		 * @param {{ key?: IssuerKey, expiresIn?: number, header?: Record<string, unknown> }} [options]
		 */
		mint(claims = {}, { key = keys[0], expiresIn = 3600, header = {} } = {}) {
			const now = Math.floor(Date.now() / 1000);
			const payload = {
				iss: issuer.issuer,
				sub: 'demo-client@clients',
				aud: audience,
				iat: now,
				exp: now + expiresIn,
				gty: 'client-credentials',
				...claims,
			};
			for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
			return signJws({ alg: key.alg, typ: 'JWT', kid: key.kid, ...header }, payload, key);
		},

		/** Publishes a new key first in the set (it signs from now on); `keepOld` keeps the previous ones. */
		rotate({ alg = 'RS256', keepOld = true } = {}) {
			const key = makeKey(alg);
			keys = keepOld ? [key, ...keys] : [key];
			return key;
		},

		/** @param {JwksMode} mode @param {{ delayMs?: number }} [options] */
		setJwksMode(mode, { delayMs = 10_000 } = {}) {
			jwksMode = mode;
			slowMs = delayMs;
		},

		async stop() {
			for (const timer of pending) clearTimeout(timer);
			server.closeAllConnections();
			await new Promise((resolve) => server.close(() => resolve(undefined)));
		},
	};

	return issuer;
}

/**
 * Signs any header and payload as a compact JWS, with no claim validation, so tests can make malformed tokens.
 * @param {Record<string, unknown>} header @param {unknown} payload @param {IssuerKey} key
 */
export function signJws(header, payload, key) {
	const encode = (value) =>
		Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
	const input = `${encode(header)}.${encode(payload)}`;
	const hash = `sha${key.alg.slice(2)}`;
	const signature = sign(hash, Buffer.from(input), {
		key: key.privateKey,
		...(key.alg.startsWith('ES') ? { dsaEncoding: 'ieee-p1363' } : {}),
		...(key.alg.startsWith('PS')
			? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(key.alg.slice(2)) / 8 }
			: {}),
	});
	return `${input}.${signature.toString('base64url')}`;
}

function json(res, status, body) {
	res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** Reads a form-encoded or JSON body, as Auth0's token endpoint accepts both. */
async function readBody(req) {
	let text = '';
	for await (const chunk of req) {
		text += chunk;
		if (text.length > 65_536) break;
	}
	if ((req.headers['content-type'] ?? '').includes('application/json')) {
		try {
			return JSON.parse(text);
		} catch {
			return {};
		}
	}
	return Object.fromEntries(new URLSearchParams(text));
}
