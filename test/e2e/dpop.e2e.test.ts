/**
 * DPoP (RFC 9449) end to end: `oidc-provider` issues DPoP-bound tokens (`cnf.jkt`) to a client that proves its key
 * at the token endpoint, and a real Directus with the built extension checks the proof of every request. The test
 * plays the client: its proof key is made at test time, its proofs are signed here, its tokens come from the server.
 *
 * Directus runs with PUBLIC_URL set to an address other than the one the test connects to, as behind a proxy: the
 * `htu` a proof must name is PUBLIC_URL + the path, never the Host the request reached.
 */
import { hash, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startAuthorizationServerStack, type AuthorizationServerStack } from '../helpers/authorization-server-stack.js';
import { openSocket } from './watched-socket.js';
import { directusVersions } from './versions.js';

const RESOURCE = 'https://orders-api.example.test';
const SCOPES = ['svc#read', 'svc#write'];
/** What the clients address; Directus itself listens on 127.0.0.1 and is told this by PUBLIC_URL. */
const PUBLIC_URL = 'https://cms.example.test/directus';
const secret = () => `secret-${randomUUID()}`;
const clients = {
	// Accepted with its proofs.
	holder: { secret: secret(), scopes: ['svc#read'], dpopBound: true },
	// Every one of its requests is refused: proof that no refusal writes anything.
	refused: { secret: secret(), scopes: ['svc#read'], dpopBound: true },
	// An ordinary bearer-token client, for the RFC 6750 challenge.
	bearer: { secret: secret(), scopes: ['svc#read'] },
};

interface ProofKey {
	privateKey: CryptoKey;
	jwk: JWK;
}

async function makeProofKey(): Promise<ProofKey> {
	const { privateKey, publicKey } = await generateKeyPair('ES256');
	return { privateKey, jwk: await exportJWK(publicKey) };
}

/** A proof as a DPoP client library makes it (RFC 9449 §4.2): fresh jti, iat now, htm and htu of the request. */
function makeProof(key: ProofKey, claims: Record<string, unknown>): Promise<string> {
	return new SignJWT({ jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
		.setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
		.sign(key.privateKey);
}

const ath = (token: string) => hash('sha256', token, 'base64url');

describe.each(directusVersions())('Directus %s: DPoP-bound tokens from oidc-provider', (version) => {
	let stack: AuthorizationServerStack;
	let server: AuthorizationServerStack['server'];
	let directus: AuthorizationServerStack['directus'];
	let key: ProofKey;
	let readers: string;

	/** A DPoP-bound token for `clientId`, obtained with a proof of `proofKey` at the token endpoint. */
	const boundToken = async (clientId: string, proofKey = key) => {
		const dpopProof = await makeProof(proofKey, { htm: 'POST', htu: server.tokenEndpoint });
		const answer = await server.getToken({ clientId, dpopProof });
		expect(answer.token_type).toBe('DPoP');
		return answer.access_token as string;
	};

	/** A proof for `GET /items/articles` with `token`; `claims` override what a correct client would send. */
	const articlesProof = (token: string, claims: Record<string, unknown> = {}, proofKey = key) =>
		makeProof(proofKey, { htm: 'GET', htu: `${PUBLIC_URL}/items/articles`, ath: ath(token), ...claims });

	const getArticles = (authorization: string, proof?: string) =>
		fetch(`${directus.url}/items/articles`, {
			headers: { authorization, ...(proof === undefined ? {} : { dpop: proof }) },
		}).then(async (response) => ({
			status: response.status,
			challenge: response.headers.get('www-authenticate'),
			json: (await response.json()) as { data?: unknown[]; errors?: { extensions: { code: string } }[] },
		}));

	beforeAll(async () => {
		key = await makeProofKey();
		stack = await startAuthorizationServerStack(version, {
			clients,
			resource: RESOURCE,
			scopes: SCOPES,
			env: { PUBLIC_URL, WEBSOCKETS_ENABLED: 'true', WEBSOCKETS_REST_ENABLED: 'true' },
		});
		({ server, directus } = stack);
		readers = stack.roles.readers;
	});

	afterAll(() => stack?.stop());

	test('a bound token with a fresh proof per request is accepted, and acts as its service user', async () => {
		const token = await boundToken('holder');
		expect(decodeJwt(token).cnf).toEqual({ jkt: await calculateJwkThumbprint(key.jwk) });

		// The second request hits the verified-token cache; it needs its own proof all the same.
		for (let i = 0; i < 2; i++) {
			const answer = await getArticles(`DPoP ${token}`, await articlesProof(token));
			expect(answer.status).toBe(200);
			expect(answer.json.data).toHaveLength(3);
			expect(answer.challenge).toBeNull();
		}
		expect(await stack.userOf('holder')).toMatchObject({ role: readers });
	});

	test('the same proof replayed is refused with 401 and a DPoP challenge', async () => {
		const token = await boundToken('holder');
		const proof = await articlesProof(token);
		expect((await getArticles(`DPoP ${token}`, proof)).status).toBe(200);

		const mark = directus.logs().length;
		const replay = await getArticles(`DPoP ${token}`, proof);
		expect(replay.status).toBe(401);
		expect(replay.json.errors?.[0]?.extensions.code).toBe('INVALID_CREDENTIALS');
		expect(replay.challenge).toMatch(/^DPoP error="invalid_dpop_proof", error_description="[^"]+", algs="ES256 EdDSA/);
		expect(directus.extensionLogs(mark).join('\n')).toContain('refused dpop_replayed');
	});

	describe('refused with 401, a WWW-Authenticate header, and nothing written', () => {
		const other = makeProofKey();

		test.each<[string, (token: string) => Promise<[string, string | undefined]>, string]>([
			['a proof for POST', async (t) => [`DPoP ${t}`, await articlesProof(t, { htm: 'POST' })], 'dpop_htm_mismatch'],
			[
				'a proof naming the address Directus listens on, not PUBLIC_URL',
				async (t) => [`DPoP ${t}`, await articlesProof(t, { htu: `${directus.url}/items/articles` })],
				'dpop_htu_mismatch',
			],
			[
				'a proof for another path',
				async (t) => [`DPoP ${t}`, await articlesProof(t, { htu: `${PUBLIC_URL}/items/secrets` })],
				'dpop_htu_mismatch',
			],
			[
				'a proof for another token',
				async (t) => [`DPoP ${t}`, await articlesProof(t, { ath: ath(`${t}x`) })],
				'dpop_ath_mismatch',
			],
			[
				'a proof signed by a key the token is not bound to',
				async (t) => [`DPoP ${t}`, await articlesProof(t, {}, await other)],
				'dpop_jkt_mismatch',
			],
			[
				'a proof made two minutes ago',
				async (t) => [`DPoP ${t}`, await articlesProof(t, { iat: Math.floor(Date.now() / 1000) - 120 })],
				'dpop_iat_out_of_window',
			],
			['no proof', async (t) => [`DPoP ${t}`, undefined], 'dpop_proof_missing'],
			['the Bearer scheme', async (t) => [`Bearer ${t}`, await articlesProof(t)], 'dpop_bound_token_as_bearer'],
		])('%s', async (_, make, code) => {
			const token = await boundToken('refused');
			const [authorization, proof] = await make(token);
			const mark = directus.logs().length;

			const answer = await getArticles(authorization, proof);
			expect(answer.status).toBe(401);
			expect(answer.json.errors?.[0]?.extensions.code).toBe('INVALID_CREDENTIALS');
			expect(answer.challenge).toMatch(/^DPoP error="invalid_(dpop_proof|token)", error_description="[^"]+", algs="/);
			expect(directus.extensionLogs(mark).join('\n')).toContain(`refused ${code}`);
			expect(directus.extensionLogs(mark).join('\n')).not.toContain(token);
			expect(await stack.userOf('refused')).toBeNull();
		});
	});

	test('RFC 6750: a refused bearer token gets a Bearer challenge, with Directus’s body and code kept', async () => {
		const { access_token: token } = await server.getToken({ clientId: 'bearer' });
		expect((await getArticles(`Bearer ${token}`)).status).toBe(200);

		const forged = `${token.slice(0, token.lastIndexOf('.'))}.${'A'.repeat(342)}`;
		const answer = await getArticles(`Bearer ${forged}`);
		expect(answer.status).toBe(401);
		expect(answer.json.errors?.[0]?.extensions.code).toBe('INVALID_CREDENTIALS');
		expect(answer.challenge).toBe('Bearer error="invalid_token", error_description="The access token is invalid"');
	});

	test('a bound token on a WebSocket is refused (no proof can come with the auth message)', async () => {
		const token = await boundToken('holder');
		const socket = await openSocket(`${directus.url.replace('http', 'ws')}/websocket`);
		const mark = directus.logs().length;
		try {
			socket.send({ type: 'auth', access_token: token });
			const reply = await socket.next((message) => message['type'] === 'auth');
			expect(reply.message).toMatchObject({ status: 'error', error: { code: 'AUTH_FAILED' } });
			expect(directus.extensionLogs(mark).join('\n')).toContain('refused dpop_websocket_unsupported');
		} finally {
			socket.close();
		}
	});
});
