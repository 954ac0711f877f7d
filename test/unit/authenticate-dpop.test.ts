/**
 * The filter's DPoP and RFC 6750 parts: which scheme a token may come in, the proof on every request (cache hit or
 * not), and the `WWW-Authenticate` challenge set on the response. Real tokens and proofs, keys made at test time.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startLocalIssuer } from '../../dev/local-issuer.mjs';
import { hashToken, type AuthenticateFilter } from '../../src/authenticate.js';
import { serviceUserId } from '../../src/directus/service-user.js';
import {
	authenticateHarness,
	base,
	ROLE,
	type AuthenticateHarness,
	type AuthenticateHarnessOptions,
	type LocalIssuer,
} from '../helpers/authenticate-harness.js';

const PUBLIC_URL = 'https://cms.example.test/directus/';

let issuer: LocalIssuer;
let proofKey: { privateKey: CryptoKey; jwk: JWK; jkt: string };

beforeAll(async () => {
	issuer = await startLocalIssuer();
	const { privateKey, publicKey } = await generateKeyPair('ES256');
	const jwk = await exportJWK(publicKey);
	proofKey = { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
});

afterAll(() => issuer.stop());

/** A fresh filter behind {@link PUBLIC_URL}, with `env` and `stubs` on top. */
function harnessFor(env: Record<string, unknown> = {}, stubs: AuthenticateHarnessOptions = {}): AuthenticateHarness {
	return authenticateHarness(issuer, { ...stubs, env: { PUBLIC_URL, ...env } });
}

const boundToken = () => issuer.mint({ sub: 'svc@clients', scope: 'svc#read', cnf: { jkt: proofKey.jkt } });
const plainToken = () => issuer.mint({ sub: 'svc@clients', scope: 'svc#read' });

async function proofFor(token: string, claims: Record<string, unknown> = {}): Promise<string> {
	return new SignJWT({
		htm: 'GET',
		htu: 'https://cms.example.test/directus/items/articles',
		ath: hashToken(token),
		jti: crypto.randomUUID(),
		iat: Math.floor(Date.now() / 1000),
		...claims,
	})
		.setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: proofKey.jwk })
		.sign(proofKey.privateKey);
}

/** An Express-like request with its response, as Directus hands it to the `authenticate` filter. */
function request(authorization: string | undefined, proofs: string[] = [], token: string | null = null) {
	const headers = new Map<string, string>();
	const req = {
		token,
		method: 'GET',
		originalUrl: '/items/articles?limit=1',
		protocol: 'http',
		headers: { authorization, host: '127.0.0.1:8055' },
		headersDistinct: { dpop: proofs.length > 0 ? proofs : undefined },
		res: { setHeader: (name: string, value: string) => headers.set(name.toLowerCase(), value), headersSent: false },
	};
	return { meta: { req }, headers };
}

async function refusal(filter: AuthenticateFilter, meta: Record<string, unknown>) {
	const error = (await filter(base, meta).then(
		() => undefined,
		(e: unknown) => e,
	)) as { code?: string; status?: number } | undefined;
	expect(error, 'expected a refusal').toBeDefined();
	return `${error!.status} ${error!.code}`;
}

const lastRefusalCode = (logs: string[]) => /refused (\S+):/.exec(logs.at(-1) ?? '')?.[1];

describe('accepted', () => {
	test('a DPoP-bound token with a fresh proof, and again with another fresh proof (cache hit)', async () => {
		const { filter } = harnessFor();
		const token = boundToken();

		for (let i = 0; i < 2; i++) {
			const { meta, headers } = request(`DPoP ${token}`, [await proofFor(token)]);
			expect(await filter(base, meta)).toMatchObject({ user: serviceUserId('svc@clients'), role: ROLE });
			expect(headers.size).toBe(0);
		}
	});

	test('a token without cnf as Bearer, in the default mode', async () => {
		const token = plainToken();
		expect(await harnessFor().filter(base, request(`Bearer ${token}`, [], token).meta)).toMatchObject({ role: ROLE });
	});

	test('the scheme name in any case', async () => {
		const token = boundToken();
		const { meta } = request(`dpop ${token}`, [await proofFor(token)]);
		expect(await harnessFor().filter(base, meta)).toMatchObject({ role: ROLE });
	});

	test('without an absolute PUBLIC_URL, htu is the request’s own origin', async () => {
		const token = boundToken();
		const proof = await proofFor(token, { htu: 'http://127.0.0.1:8055/items/articles' });
		expect(await harnessFor({ PUBLIC_URL: '/' }).filter(base, request(`DPoP ${token}`, [proof]).meta)).toMatchObject({
			role: ROLE,
		});
	});
});

describe('refused, with a challenge, and nothing written', () => {
	test.each<[string, () => Promise<ReturnType<typeof request>>, string, string, Record<string, unknown>?]>([
		[
			'a DPoP-bound token sent as Bearer',
			async () => {
				const token = boundToken();
				return request(`Bearer ${token}`, [await proofFor(token)], token);
			},
			'dpop_bound_token_as_bearer',
			'DPoP error="invalid_token"',
		],
		[
			'a DPoP-bound token in the access_token query parameter',
			async () => request(undefined, [], boundToken()),
			'dpop_bound_token_as_bearer',
			'DPoP error="invalid_token"',
		],
		[
			'a DPoP-bound token without a proof',
			async () => request(`DPoP ${boundToken()}`),
			'dpop_proof_missing',
			'DPoP error="invalid_dpop_proof"',
		],
		[
			'a proof for another URL',
			async () => {
				const token = boundToken();
				return request(`DPoP ${token}`, [await proofFor(token, { htu: 'https://cms.example.test/items/articles' })]);
			},
			'dpop_htu_mismatch',
			'DPoP error="invalid_dpop_proof"',
		],
		[
			'a proof for another token',
			async () => request(`DPoP ${boundToken()}`, [await proofFor(plainToken())]),
			'dpop_ath_mismatch',
			'DPoP error="invalid_dpop_proof"',
		],
		[
			'an unbound token with the DPoP scheme',
			async () => {
				const token = plainToken();
				return request(`DPoP ${token}`, [await proofFor(token)]);
			},
			'dpop_token_not_bound',
			'DPoP error="invalid_token"',
		],
		[
			'a token bound by an mTLS certificate (cnf without jkt)',
			async () => {
				const token = issuer.mint({ sub: 'svc@clients', scope: 'svc#read', cnf: { 'x5t#S256': 'abc' } });
				return request(`Bearer ${token}`, [], token);
			},
			'dpop_unsupported_confirmation',
			'Bearer error="invalid_token"',
		],
		[
			'an unbound Bearer token when DPoP is required',
			async () => {
				const token = plainToken();
				return request(`Bearer ${token}`, [], token);
			},
			'dpop_required',
			'DPoP error="invalid_token"',
			{ BCC_AUTH_DPOP: 'required' },
		],
		[
			'an expired Bearer token (RFC 6750 only)',
			async () => {
				const token = issuer.mint({ sub: 'svc@clients', scope: 'svc#read' }, { expiresIn: -60 });
				return request(`Bearer ${token}`, [], token);
			},
			'token_expired',
			'Bearer error="invalid_token", error_description="The access token expired"',
		],
	])('%s', async (_, make, code, challenge, env) => {
		const { meta, headers } = await make();
		const { filter, ensured, logs } = harnessFor(env);
		const answer = await refusal(filter, meta);
		expect(answer).toBe(code === 'token_expired' ? '401 TOKEN_EXPIRED' : '401 INVALID_CREDENTIALS');
		expect(lastRefusalCode(logs)).toBe(code);
		expect(headers.get('www-authenticate')).toContain(challenge);
		if (challenge.startsWith('DPoP'))
			expect(headers.get('www-authenticate')).toContain('algs="ES256 EdDSA PS256 RS256"');
		expect(ensured).toEqual([]);
	});

	test('the cache never skips the proof: a verified, cached token with a replayed proof is refused', async () => {
		const { filter, ensured, logs } = harnessFor();
		const token = boundToken();
		const proof = await proofFor(token);
		await filter(base, request(`DPoP ${token}`, [proof]).meta);
		expect(ensured).toHaveLength(1);

		const { meta, headers } = request(`DPoP ${token}`, [proof]);
		expect(await refusal(filter, meta)).toBe('401 INVALID_CREDENTIALS');
		expect(lastRefusalCode(logs)).toBe('dpop_replayed');
		expect(headers.get('www-authenticate')).toMatch(
			/^DPoP error="invalid_dpop_proof", error_description="[^"]+", algs="/,
		);

		// Cached and bound, then sent as Bearer: still refused.
		expect(await refusal(filter, request(`Bearer ${token}`, [], token).meta)).toBe('401 INVALID_CREDENTIALS');
		expect(lastRefusalCode(logs)).toBe('dpop_bound_token_as_bearer');
		expect(ensured).toHaveLength(1);
	});

	test('a WebSocket auth message with a DPoP-bound token is refused; an unbound one is accepted', async () => {
		const { filter, logs } = harnessFor();
		expect(await refusal(filter, { message: { access_token: boundToken() } })).toBe('401 INVALID_CREDENTIALS');
		expect(lastRefusalCode(logs)).toBe('dpop_websocket_unsupported');
		expect(await filter(base, { message: { access_token: plainToken() } })).toMatchObject({ role: ROLE });
	});

	test('a host fault is a 503 without a challenge', async () => {
		// Without PUBLIC_URL, as a Bearer token needs none.
		const { filter } = authenticateHarness(issuer, {
			roles: { resolve: () => Promise.reject(new Error('database down')), clear: () => undefined },
		});
		const token = plainToken();
		const { meta, headers } = request(`Bearer ${token}`, [], token);
		expect(await refusal(filter, meta)).toBe('503 SERVICE_UNAVAILABLE');
		expect(headers.has('www-authenticate')).toBe(false);
	});

	test('a replay store that fails is a 503, not an acceptance', async () => {
		const { filter, ensured } = harnessFor(
			{},
			{ dpopReplay: { claim: () => Promise.reject(new Error('redis down')) } },
		);
		const token = boundToken();
		expect(await refusal(filter, request(`DPoP ${token}`, [await proofFor(token)]).meta)).toBe(
			'503 SERVICE_UNAVAILABLE',
		);
		expect(ensured).toEqual([]);
	});
});
