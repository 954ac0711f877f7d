/**
 * Verification against a JWKS served from 127.0.0.1, with RSA and EC keys made when the test starts.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeKey, signJws, startLocalIssuer } from '../../../dev/local-issuer.mjs';
import type { Algorithm } from '../../../src/config.js';
import { decodeUnverified } from '../../../src/token/decode-jwt.js';
import { createKeyResolver } from '../../../src/token/jwks.js';
import { PRINTABLE_MAX_LENGTH } from '../../../src/token/printable.js';
import { TokenRejectedError } from '../../../src/token/token-rejected-error.js';
import { createTokenVerifier, type TokenVerifier } from '../../../src/token/verify-token.js';

type Issuer = Awaited<ReturnType<typeof startLocalIssuer>>;

let issuer: Issuer;
let verify: TokenVerifier;
const rsa = makeKey('RS256', 'rsa-key');
const ec = makeKey('ES256', 'ec-key');
const stranger = makeKey('RS256', 'rsa-key'); // same kid, different key

beforeAll(async () => {
	issuer = await startLocalIssuer({ keys: [rsa, ec] });
	verify = verifierFor(issuer, ['RS256', 'ES256']);
});

afterAll(() => issuer.stop());

function verifierFor(i: Issuer, algorithms: Algorithm[]): TokenVerifier {
	return createTokenVerifier({
		issuer: i.issuer,
		audiences: ['https://first.test', i.audience],
		algorithms,
		clockTolerance: 5,
		keys: createKeyResolver({ jwksUri: `${i.url}/.well-known/jwks.json`, timeoutMs: 2000 }),
	});
}

const check = (token: string, verifier = verify) => verifier(token, decodeUnverified(token)!);

async function rejectionCode(token: string, verifier = verify): Promise<string> {
	try {
		await check(token, verifier);
	} catch (error) {
		expect(error).toBeInstanceOf(TokenRejectedError);
		return (error as TokenRejectedError).code;
	}
	throw new Error('expected a rejection');
}

const now = () => Math.floor(Date.now() / 1000);
const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('accepted', () => {
	test.each([
		['RSA', rsa],
		['EC', ec],
	])('a token signed with the %s key', async (_, key) => {
		const verified = await check(issuer.mint({ sub: 'c@clients', scope: 'a b' }, { key }));
		expect(verified).toMatchObject({ clientId: 'c@clients', claims: { scope: 'a b' } });
		expect(verified.expiresAt).toBeGreaterThan(now());
	});

	test('aud as an array containing any configured audience', async () => {
		await expect(check(issuer.mint({ aud: ['https://x.test', issuer.audience] }))).resolves.toBeDefined();
	});

	test('within the clock tolerance', async () => {
		await expect(check(issuer.mint({ exp: now() - 2 }))).resolves.toBeDefined();
		await expect(check(issuer.mint({ nbf: now() + 2 }))).resolves.toBeDefined();
	});
});

describe('refused', () => {
	test.each<[string, () => string, string]>([
		['wrong aud', () => issuer.mint({ aud: 'https://elsewhere.test' }), 'invalid_audience'],
		['no aud', () => issuer.mint({ aud: undefined }), 'invalid_audience'],
		['wrong iss', () => issuer.mint({ iss: 'https://evil.test/' }), 'invalid_issuer'],
		['expired', () => issuer.mint({ exp: now() - 60 }), 'token_expired'],
		['not yet valid', () => issuer.mint({ nbf: now() + 60 }), 'token_not_active'],
		['no exp', () => issuer.mint({ exp: undefined }), 'missing_exp'],
		['exp a string', () => issuer.mint({ exp: String(now() + 60) }), 'invalid_claims'],
		['exp infinite (1e400)', () => withRawPayload('"exp":1e400'), 'invalid_claims'],
		['iat in the future', () => issuer.mint({ iat: now() + 600 }), 'invalid_claims'],
		['iat far in the future', () => issuer.mint({ iat: 9e12 }), 'invalid_claims'],
		['alg none', () => `${encode({ alg: 'none' })}.${issuer.mint().split('.')[1]}.`, 'algorithm_not_allowed'],
		['HS256 with the public key as secret', () => hmacWithPublicKey(), 'algorithm_not_allowed'],
		[
			'an algorithm the JWK does not name',
			() => resignHeader({ alg: 'RS384', kid: 'rsa-key' }),
			'algorithm_not_allowed',
		],
		['unknown kid', () => issuer.mint({}, { key: makeKey('RS256', 'nobody') }), 'unknown_kid'],
		['known kid, other key', () => issuer.mint({}, { key: stranger }), 'invalid_signature'],
		['tampered payload', () => tamper(issuer.mint({ scope: 'read' })), 'invalid_signature'],
		['truncated signature', () => issuer.mint().slice(0, -10), 'invalid_signature'],
		['kid a number', () => resignHeader({ alg: 'RS256', kid: 7 }), 'malformed'],
		['empty sub', () => issuer.mint({ sub: '' }), 'invalid_claims'],
		['sub of 10 KB', () => issuer.mint({ sub: 'x'.repeat(10_240) }), 'invalid_claims'],
		['sub an object', () => issuer.mint({ sub: { id: 1 } }), 'invalid_claims'],
	])('%s', async (_, make, code) => {
		expect(await rejectionCode(make())).toBe(code);
	});

	test('ES256 when only RS256 is allowed', async () => {
		expect(await rejectionCode(issuer.mint({}, { key: ec }), verifierFor(issuer, ['RS256']))).toBe(
			'algorithm_not_allowed',
		);
	});

	test('a 10 KB alg is refused with a message of bounded length', async () => {
		const alg = 'A'.repeat(10_240);
		const error = await check(resignHeader({ alg, kid: 'rsa-key' })).catch((e: unknown) => e);
		expect(error).toMatchObject({ code: 'algorithm_not_allowed' });
		// The message becomes the refusal's log line: the alg shows cut to the bound, whatever its length.
		expect((error as Error).message).toBe(`alg "${'A'.repeat(PRINTABLE_MAX_LENGTH)}…" is not allowed`);
	});

	test('a JWKS that cannot be reached', async () => {
		const gone = await startLocalIssuer({ keys: [rsa] });
		const verifier = verifierFor(gone, ['RS256']);
		const token = gone.mint();
		await gone.stop();
		expect(await rejectionCode(token, verifier)).toBe('jwks_unavailable');
	});
});

/** A token whose payload JSON is written by hand (numbers JSON.stringify cannot produce), properly signed. */
function withRawPayload(extra: string): string {
	const payload = `{"iss":${JSON.stringify(issuer.issuer)},"aud":${JSON.stringify(issuer.audience)},"sub":"x",${extra}}`;
	return signJws({ alg: 'RS256', kid: rsa.kid }, payload, rsa);
}

function hmacWithPublicKey(): string {
	const pem = rsa.publicKey.export({ format: 'pem', type: 'spki' }) as string;
	const head = `${encode({ alg: 'HS256', kid: 'rsa-key' })}.${encode({ iss: issuer.issuer, aud: issuer.audience, sub: 'x', exp: now() + 60 })}`;
	return `${head}.${createHmac('sha256', pem).update(head).digest('base64url')}`;
}

/** A token whose header was replaced after signing. */
function resignHeader(header: Record<string, unknown>): string {
	const [, payload, signature] = issuer.mint().split('.');
	return `${encode(header)}.${payload}.${signature}`;
}

function tamper(token: string): string {
	const [header, payload, signature] = token.split('.') as [string, string, string];
	const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
	return `${header}.${encode({ ...claims, scope: 'admin' })}.${signature}`;
}
