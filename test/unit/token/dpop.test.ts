/**
 * DPoP proof checks (RFC 9449 §4.3), with proof keys made when the test starts and time frozen.
 */
import { hash } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { beforeAll, describe, expect, test } from 'vitest';
import {
	createDpopVerifier,
	normalizeHtu,
	replayRetentionMs,
	type DpopAlgorithm,
	type DpopRequest,
	type ReplayStore,
} from '../../../src/token/dpop.js';
import { createLocalReplayStore } from '../../../src/sync/dpop-replay.js';
import { TokenRejectedError } from '../../../src/token/token-rejected-error.js';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const nowSeconds = NOW / 1000;
const URL_ = 'https://api.example.test/items/articles';
const TOKEN = 'header.payload.signature';
const ath = hash('sha256', TOKEN, 'base64url');

interface ProofKey {
	alg: string;
	privateKey: CryptoKey;
	jwk: JWK;
	jkt: string;
}

const keys: Record<string, ProofKey> = {};

async function makeProofKey(alg: string, options?: Parameters<typeof generateKeyPair>[1]): Promise<ProofKey> {
	const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...options });
	const jwk = await exportJWK(publicKey);
	return { alg, privateKey, jwk, jkt: await calculateJwkThumbprint(jwk, 'sha256') };
}

beforeAll(async () => {
	keys['ES256'] = await makeProofKey('ES256');
	keys['EdDSA'] = await makeProofKey('EdDSA');
	keys['PS256'] = await makeProofKey('PS256');
	keys['RS256'] = await makeProofKey('RS256');
	keys['ES384'] = await makeProofKey('ES384');
	keys['other'] = await makeProofKey('ES256');
});

interface ProofOptions {
	key?: ProofKey;
	header?: Record<string, unknown>;
	claims?: Record<string, unknown>;
	/** Signs with this key while the header shows `key`'s public JWK. */
	signWith?: ProofKey;
}

let jtiCounter = 0;

async function makeProof({ key = keys['ES256']!, header = {}, claims = {}, signWith }: ProofOptions = {}) {
	return new SignJWT({ htm: 'GET', htu: URL_, ath, jti: `jti-${++jtiCounter}`, iat: nowSeconds, ...claims })
		.setProtectedHeader({ alg: key.alg, typ: 'dpop+jwt', jwk: key.jwk, ...header } as never)
		.sign((signWith ?? key).privateKey);
}

const ALL_ALGORITHMS: DpopAlgorithm[] = ['ES256', 'EdDSA', 'PS256', 'RS256'];

function makeVerifier(replay: ReplayStore = createLocalReplayStore(1000, () => NOW)) {
	return createDpopVerifier({ algorithms: ALL_ALGORITHMS, iatWindow: 60, clockTolerance: 5, replay, now: () => NOW });
}

function requestFor(proofs: string[], overrides: Partial<DpopRequest> = {}): DpopRequest {
	return { proofs, method: 'GET', url: URL_, accessTokenHash: ath, jkt: keys['ES256']!.jkt, ...overrides };
}

async function rejectionCode(promise: Promise<unknown>): Promise<string> {
	try {
		await promise;
	} catch (error) {
		expect(error).toBeInstanceOf(TokenRejectedError);
		return (error as TokenRejectedError).code;
	}
	throw new Error('expected a rejection');
}

describe('accepted', () => {
	test.each(ALL_ALGORITHMS)('a fresh proof signed with %s', async (alg) => {
		const key = keys[alg]!;
		await expect(makeVerifier()(requestFor([await makeProof({ key })], { jkt: key.jkt }))).resolves.toBeUndefined();
	});

	test.each([
		['an iat at the window edge in the past', { iat: nowSeconds - 65 }],
		['an iat at the window edge in the future', { iat: nowSeconds + 65 }],
		[
			'an htu with default port, upper-case host and encoded unreserved characters',
			{ htu: 'HTTPS://API.example.test:443/items/%61rticles' },
		],
		['an htu with a query and a fragment (both ignored)', { htu: `${URL_}?limit=1#top` }],
	])('%s', async (_, claims) => {
		await expect(makeVerifier()(requestFor([await makeProof({ claims })]))).resolves.toBeUndefined();
	});

	test('typ with the application/ prefix, in any case', async () => {
		const proof = await makeProof({ header: { typ: 'application/DPoP+JWT' } });
		await expect(makeVerifier()(requestFor([proof]))).resolves.toBeUndefined();
	});

	test('the request URL is compared normalised too', async () => {
		const proof = await makeProof();
		const request = requestFor([proof], { url: 'https://api.example.test:443/items/./articles?x=1' });
		await expect(makeVerifier()(request)).resolves.toBeUndefined();
	});
});

describe('refused', () => {
	const hs256 = async () => {
		const { jwk } = keys['ES256']!;
		return new SignJWT({ htm: 'GET', htu: URL_, ath, jti: 'hs', iat: nowSeconds })
			.setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk } as never)
			.sign(new Uint8Array(32));
	};
	const unsigned = async () => {
		const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
		const header = { alg: 'none', typ: 'dpop+jwt', jwk: keys['ES256']!.jwk };
		return `${encode(header)}.${encode({ htm: 'GET', htu: URL_, ath, jti: 'none', iat: nowSeconds })}.`;
	};

	test.each<[string, () => Promise<DpopRequest>, string]>([
		['no DPoP header', async () => requestFor([]), 'dpop_proof_missing'],
		['two DPoP headers', async () => requestFor([await makeProof(), await makeProof()]), 'dpop_proof_malformed'],
		['a proof that is not a JWS', async () => requestFor(['not-a-jws']), 'dpop_proof_malformed'],
		['a proof of four segments', async () => requestFor([`${await makeProof()}.x`]), 'dpop_proof_malformed'],
		[
			'a proof longer than 8 KiB',
			async () => requestFor([`${await makeProof()}${'A'.repeat(9000)}`]),
			'dpop_proof_malformed',
		],
		['typ JWT', async () => requestFor([await makeProof({ header: { typ: 'JWT' } })]), 'dpop_proof_type'],
		['no typ', async () => requestFor([await makeProof({ header: { typ: undefined } })]), 'dpop_proof_type'],
		[
			'typ at+jwt (an access token as proof)',
			async () => requestFor([await makeProof({ header: { typ: 'at+jwt' } })]),
			'dpop_proof_type',
		],
		['alg none', async () => requestFor([await unsigned()]), 'dpop_algorithm_not_allowed'],
		['alg HS256', async () => requestFor([await hs256()]), 'dpop_algorithm_not_allowed'],
		[
			'alg ES384, not in the allow-list',
			async () => requestFor([await makeProof({ key: keys['ES384'] })], { jkt: keys['ES384']!.jkt }),
			'dpop_algorithm_not_allowed',
		],
		[
			'alg of a nested object',
			async () =>
				requestFor([await makeProof({ header: { alg: 'ES256' } }).then((p) => swapHeader(p, { alg: { a: [1] } }))]),
			'dpop_algorithm_not_allowed',
		],
		['no jwk', async () => requestFor([await makeProof({ header: { jwk: undefined } })]), 'dpop_jwk_invalid'],
		[
			'a jwk that is a string',
			async () => requestFor([await makeProof().then((p) => swapHeader(p, { jwk: 'key' }))]),
			'dpop_jwk_invalid',
		],
		['a private jwk (with d)', async () => requestFor([await privateJwkProof()]), 'dpop_jwk_invalid'],
		[
			'a symmetric jwk (with k)',
			async () => requestFor([await makeProof().then((p) => swapHeader(p, { jwk: { kty: 'oct', k: 'AAAA' } }))]),
			'dpop_jwk_invalid',
		],
		[
			'an EC jwk without y',
			async () =>
				requestFor([await makeProof().then((p) => swapHeader(p, { jwk: { ...keys['ES256']!.jwk, y: undefined } }))]),
			'dpop_jwk_invalid',
		],
		[
			'a key that is not the bound one',
			async () => requestFor([await makeProof({ key: keys['other'] })]),
			'dpop_jkt_mismatch',
		],
		[
			'a jwk of the bound key, signed by another',
			async () => requestFor([await makeProof({ signWith: keys['other'] })]),
			'dpop_invalid_signature',
		],
		[
			'a tampered payload',
			async () =>
				requestFor([
					await makeProof().then((p) => swapPayload(p, { htm: 'GET', htu: URL_, ath, jti: 'x', iat: nowSeconds })),
				]),
			'dpop_invalid_signature',
		],
		['htm POST for a GET', async () => requestFor([await makeProof({ claims: { htm: 'POST' } })]), 'dpop_htm_mismatch'],
		['htm in lower case', async () => requestFor([await makeProof({ claims: { htm: 'get' } })]), 'dpop_htm_mismatch'],
		['no htm', async () => requestFor([await makeProof({ claims: { htm: undefined } })]), 'dpop_htm_mismatch'],
		[
			'htu of another path',
			async () => requestFor([await makeProof({ claims: { htu: 'https://api.example.test/items/secrets' } })]),
			'dpop_htu_mismatch',
		],
		[
			'htu of another host',
			async () => requestFor([await makeProof({ claims: { htu: 'https://evil.test/items/articles' } })]),
			'dpop_htu_mismatch',
		],
		[
			'htu over http for https',
			async () => requestFor([await makeProof({ claims: { htu: 'http://api.example.test/items/articles' } })]),
			'dpop_htu_mismatch',
		],
		[
			'htu relative',
			async () => requestFor([await makeProof({ claims: { htu: '/items/articles' } })]),
			'dpop_htu_mismatch',
		],
		['htu not a string', async () => requestFor([await makeProof({ claims: { htu: ['x'] } })]), 'dpop_htu_mismatch'],
		[
			'ath of another token',
			async () => requestFor([await makeProof({ claims: { ath: hash('sha256', 'other', 'base64url') } })]),
			'dpop_ath_mismatch',
		],
		['no ath', async () => requestFor([await makeProof({ claims: { ath: undefined } })]), 'dpop_ath_mismatch'],
		[
			'iat 66 s in the past',
			async () => requestFor([await makeProof({ claims: { iat: nowSeconds - 66 } })]),
			'dpop_iat_out_of_window',
		],
		[
			'iat 66 s in the future',
			async () => requestFor([await makeProof({ claims: { iat: nowSeconds + 66 } })]),
			'dpop_iat_out_of_window',
		],
		['no iat', async () => requestFor([await makeProof({ claims: { iat: undefined } })]), 'dpop_proof_malformed'],
		[
			'an expired exp',
			async () => requestFor([await makeProof({ claims: { exp: nowSeconds - 60 } })]),
			'dpop_iat_out_of_window',
		],
		['no jti', async () => requestFor([await makeProof({ claims: { jti: undefined } })]), 'dpop_proof_malformed'],
		['an empty jti', async () => requestFor([await makeProof({ claims: { jti: '' } })]), 'dpop_proof_malformed'],
		[
			'a jti of 257 characters',
			async () => requestFor([await makeProof({ claims: { jti: 'j'.repeat(257) } })]),
			'dpop_proof_malformed',
		],
	])('%s', async (_, request, code) => {
		expect(await rejectionCode(makeVerifier()(await request()))).toBe(code);
	});

	test('the same proof twice: the second is a replay', async () => {
		const verify = makeVerifier();
		const proof = await makeProof();
		await verify(requestFor([proof]));
		expect(await rejectionCode(verify(requestFor([proof])))).toBe('dpop_replayed');
	});

	test('a remembered proof key still needs a valid signature: another key signing under its jwk is refused', async () => {
		const verify = makeVerifier();
		await verify(requestFor([await makeProof()]));
		expect(await rejectionCode(verify(requestFor([await makeProof({ signWith: keys['other'] })])))).toBe(
			'dpop_invalid_signature',
		);
		expect(
			await rejectionCode(verify(requestFor([await makeProof({ key: keys['other'] })], { jkt: keys['ES256']!.jkt }))),
		).toBe('dpop_jkt_mismatch');
	});

	test('a proof refused for another reason does not use up its jti', async () => {
		const verify = makeVerifier();
		const proof = await makeProof();
		expect(await rejectionCode(verify(requestFor([proof], { method: 'POST' })))).toBe('dpop_htm_mismatch');
		await expect(verify(requestFor([proof]))).resolves.toBeUndefined();
	});

	test('the same jti from another key is not a replay of this one', async () => {
		const verify = makeVerifier();
		const other = keys['other']!;
		await verify(requestFor([await makeProof({ claims: { jti: 'shared' } })]));
		await expect(
			verify(requestFor([await makeProof({ key: other, claims: { jti: 'shared' } })], { jkt: other.jkt })),
		).resolves.toBeUndefined();
	});

	test('a replay store failure is not a refusal: it goes through as it is', async () => {
		const failing: ReplayStore = { claim: () => Promise.reject(new Error('redis down')) };
		const promise = makeVerifier(failing)(requestFor([await makeProof()]));
		await expect(promise).rejects.toThrow('redis down');
		await expect(promise).rejects.not.toBeInstanceOf(TokenRejectedError);
	});

	test('the claim lasts until the proof would be stale anyway', async () => {
		const claims: number[] = [];
		const recording: ReplayStore = { claim: async (_, expiresAt) => (claims.push(expiresAt), true) };
		await makeVerifier(recording)(requestFor([await makeProof({ claims: { iat: nowSeconds - 10 } })]));
		expect(claims).toEqual([(nowSeconds - 10 + 65) * 1000]);
		// A fixed-TTL store must outlive any claim made within the window.
		expect(replayRetentionMs(60, 5)).toBeGreaterThanOrEqual(claims[0]! - (NOW - 65_000));
	});
});

describe('normalizeHtu', () => {
	test.each([
		['https://A.test:443', 'https://a.test/'],
		['http://a.test:80/x', 'http://a.test/x'],
		['http://a.test:8055/x?y#z', 'http://a.test:8055/x'],
		['https://a.test/a/../b/%7e%2f', 'https://a.test/b/~%2F'],
	])('%s → %s', (input, expected) => {
		expect(normalizeHtu(input)).toBe(expected);
	});

	test.each(['/relative', 'ftp://a.test/x', 'not a url', ''])('%j is not an htu', (input) => {
		expect(normalizeHtu(input)).toBeUndefined();
	});
});

/** Replaces header members without re-signing: the signature no longer matters to what is tested. */
function swapHeader(proof: string, changes: Record<string, unknown>): string {
	const [header, payload, signature] = proof.split('.');
	const decoded = JSON.parse(Buffer.from(header!, 'base64url').toString()) as Record<string, unknown>;
	return [Buffer.from(JSON.stringify({ ...decoded, ...changes })).toString('base64url'), payload, signature].join('.');
}

function swapPayload(proof: string, payload: Record<string, unknown>): string {
	const [header, , signature] = proof.split('.');
	return [header, Buffer.from(JSON.stringify(payload)).toString('base64url'), signature].join('.');
}

async function privateJwkProof(): Promise<string> {
	const key = keys['ES256']!;
	const privateJwk = await exportJWK(key.privateKey);
	return swapHeader(await makeProof(), { jwk: privateJwk });
}
