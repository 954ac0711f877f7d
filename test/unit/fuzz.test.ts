/**
 * Property-based tests of the whole token path: the real filter, verifier, key resolver and token cache against a
 * JWKS on 127.0.0.1; only the database-backed parts (roles, service users, accountabilities) are recording stubs.
 *
 * Properties, each with a fixed seed so that a failure reproduces:
 * - a hostile token is passed through untouched or refused with a Directus 401/403, never anything else;
 * - whatever a random mutation of a valid token does, only a token the issuer's key signed is ever accepted;
 * - arbitrary text, Unicode included, never makes the filter throw a plain error;
 * and in every case a refused token never reaches `serviceUsers.ensure`.
 */
import { isDirectusError } from '@directus/errors';
import type { Accountability } from '@directus/types';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeKey, startLocalIssuer } from '../../dev/local-issuer.mjs';
import type { AccountabilityBuilder } from '../../src/directus/accountability.js';
import { createAuthenticate, type AuthenticateFilter, type VerifiedClient } from '../../src/authenticate.js';
import { BoundedCache } from '../../src/sync/bounded-cache.js';
import { parseConfig } from '../../src/config.js';
import { createKeyResolver } from '../../src/token/jwks.js';
import type { RoleResolver } from '../../src/directus/roles.js';
import type { ServiceUserRequest, ServiceUsers } from '../../src/directus/service-user.js';
import { createTokenVerifier } from '../../src/token/verify-token.js';
import {
	deepJson,
	hostileToken,
	mutatedToken,
	signedByIssuer,
	TARGET_ALGORITHMS,
	validClaims,
	validToken,
	type HostileTarget,
} from '../helpers/hostile-tokens.js';

type Issuer = Awaited<ReturnType<typeof startLocalIssuer>>;

/** One seed for every property: a failure prints its path, and the same run comes back. */
const SEED = 20_260_123;
const ROLE_ID = '5f0e2c3a-0000-4000-8000-000000000001';

let issuer: Issuer;
let target: HostileTarget;
let authenticate: AuthenticateFilter;
const ensured: ServiceUserRequest[] = [];
const logLines: string[] = [];

beforeAll(async () => {
	issuer = await startLocalIssuer({ keys: [makeKey('RS256', 'issuer-rsa'), makeKey('ES256', 'issuer-ec')] });
	target = { issuer: issuer.issuer, audience: issuer.audience, scope: 'svc#read', keys: issuer.keys };

	const config = parseConfig({
		BCC_AUTH_ISSUER: issuer.issuer,
		BCC_AUTH_AUDIENCE: issuer.audience,
		BCC_AUTH_SCOPE_ROLES: 'svc#read=Readers',
		BCC_AUTH_ALGORITHMS: TARGET_ALGORITHMS.join(','),
		BCC_AUTH_JWKS_TIMEOUT: 2000,
	});

	const keys = createKeyResolver({
		jwksUri: `${issuer.url}/.well-known/jwks.json`,
		timeoutMs: config.jwksTimeoutMs,
		requestsPerMinute: config.jwksRequestsPerMinute,
	});

	// Stubs that always succeed: any refusal below comes from the token path, and a 503 can only be a bug.
	const roles: RoleResolver = { resolve: async () => ROLE_ID, clear() {} };
	const serviceUsers: ServiceUsers = {
		async ensure(request) {
			ensured.push(request);
			return 'fuzz-user';
		},
		forget() {},
		clear() {},
	};
	const accountabilities: AccountabilityBuilder = {
		build: async (base, user, role) => ({ ...base, user, role, roles: role ? [role] : [] }),
		clear() {},
	};

	authenticate = createAuthenticate({
		config,
		verifyToken: createTokenVerifier({ ...config, keys }),
		verifiedTokens: new BoundedCache<string, VerifiedClient>(config.tokenCacheMax),
		roles,
		serviceUsers,
		accountabilities,
		logger: { warn: (line) => logLines.push(line), error: (line) => logLines.push(line) },
	});
});

afterAll(() => issuer?.stop());

/** Directus's default accountability for an anonymous request from 127.0.0.1. */
const defaultAccountability = (): Accountability =>
	({ user: null, role: null, roles: [], admin: false, app: false, ip: '127.0.0.1' }) as Accountability;

type Outcome =
	| { kind: 'passed' }
	| { kind: 'accepted'; accountability: Accountability }
	| { kind: 'refused'; status: number; code: string };

/** Runs the filter as Directus does; anything thrown that is not a Directus error fails the property on the spot. */
async function outcomeOf(token: string): Promise<Outcome> {
	const base = defaultAccountability();
	let result: Accountability;

	try {
		result = await authenticate(base, { req: { token } });
	} catch (error) {
		if (!isDirectusError(error)) {
			throw new Error(`the filter threw a non-Directus error (Directus answers 500): ${String(error)}`, {
				cause: error,
			});
		}
		return { kind: 'refused', status: error.status, code: error.code };
	}

	// Directus takes anything that differs from its default as an answer: that is what "accepted" means.
	return isDeepStrictEqual(result, defaultAccountability())
		? { kind: 'passed' }
		: { kind: 'accepted', accountability: result };
}

/** Runs one property and prints how many inputs it tried, so the log shows the fuzzing actually happened. */
async function check<T>(
	name: string,
	arbitrary: fc.Arbitrary<T>,
	numRuns: number,
	predicate: (value: T) => Promise<void>,
) {
	const started = performance.now();
	await fc.assert(fc.asyncProperty(arbitrary, predicate), { seed: SEED, numRuns });
	console.log(`[fuzz] ${name}: ${numRuns} runs, seed ${SEED}, ${Math.round(performance.now() - started)} ms`);
}

/** Tallies outcomes per generator label (the part before the first colon), printed after each property. */
function tally() {
	const counts = new Map<string, Map<string, number>>();
	return {
		add(label: string, outcome: Outcome) {
			const family = label.split(':')[0]!;
			const key = outcome.kind === 'refused' ? `${outcome.status} ${outcome.code}` : outcome.kind;
			const row = counts.get(family) ?? new Map<string, number>();
			row.set(key, (row.get(key) ?? 0) + 1);
			counts.set(family, row);
		},
		print(name: string) {
			const rows = [...counts].map(
				([family, row]) => `${family} {${[...row].map(([k, n]) => `${k}: ${n}`).join(', ')}}`,
			);
			console.log(`[fuzz] ${name} outcomes: ${rows.join('; ')}`);
		},
	};
}

describe('the harness accepts what it should (otherwise every refusal below would prove nothing)', () => {
	test.each([
		['RS256', 0],
		['ES256', 1],
	])('a valid %s token is accepted', async (_, index) => {
		const before = ensured.length;
		const outcome = await outcomeOf(validToken(target, `valid-${index}@clients`, index));
		expect(outcome).toMatchObject({ kind: 'accepted', accountability: { role: ROLE_ID } });
		expect(ensured.length).toBe(before + 1);
	});
});

describe('properties', () => {
	test('a hostile token is passed through or refused with 401/403, and never provisions a user', async () => {
		const outcomes = tally();

		await check('hostile tokens', hostileToken(target), 1500, async ({ label, token }) => {
			const before = ensured.length;
			const outcome = await outcomeOf(token);
			outcomes.add(label, outcome);

			expect(outcome.kind, label).not.toBe('accepted');
			// Why not 503 as well: the issuer and the stubs are healthy, so a 503 here is an unexpected exception
			// dressed up as a host fault.
			if (outcome.kind === 'refused') expect([401, 403], `${label}: ${outcome.code}`).toContain(outcome.status);
			expect(ensured.length, label).toBe(before);
		});

		outcomes.print('hostile tokens');
	}, 60_000);

	test('a random mutation of a valid token is accepted only when the issuer signed exactly what it carries', async () => {
		const outcomes = tally();

		await check('raw mutations', mutatedToken(target), 600, async ({ label, token }) => {
			const before = ensured.length;
			const outcome = await outcomeOf(token);
			outcomes.add(label, outcome);

			if (outcome.kind === 'accepted') {
				expect(signedByIssuer(token, target), `${label} was accepted without the issuer's signature`).toBe(true);
				expect(ensured.length).toBe(before + 1);
			} else {
				if (outcome.kind === 'refused') expect([401, 403], `${label}: ${outcome.code}`).toContain(outcome.status);
				expect(ensured.length, label).toBe(before);
			}
		});

		outcomes.print('raw mutations');
	}, 60_000);

	test('arbitrary text, Unicode and control characters included, never escapes as a plain error', async () => {
		const ours = Buffer.from(JSON.stringify(validClaims(target))).toString('base64url');
		const text = fc.string({ unit: 'binary', maxLength: 400 });
		const arbitrary = fc.oneof(
			text,
			fc.tuple(text, text).map(([header, signature]) => `${header}.${ours}.${signature}`),
			fc
				.tuple(text, text)
				.map(([header, signature]) => `${Buffer.from(header).toString('base64url')}.${ours}.${signature}`),
		);

		await check('arbitrary text', arbitrary, 500, async (token) => {
			const before = ensured.length;
			const outcome = await outcomeOf(token);
			expect(outcome.kind).not.toBe('accepted');
			if (outcome.kind === 'refused') expect([401, 403]).toContain(outcome.status);
			expect(ensured.length).toBe(before);
		});
	}, 60_000);

	test('after all that, valid tokens of both keys are still accepted', async () => {
		for (const index of [0, 1]) {
			expect(await outcomeOf(validToken(target, `still-valid-${index}@clients`, index))).toMatchObject({
				kind: 'accepted',
			});
		}
	});
});

describe('regressions found by the properties', () => {
	const encode = (value: string | object) =>
		Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
	// Deep enough that JSON.stringify overflows the stack: printing it in a log line used to throw a RangeError.
	const deep = deepJson(5_000);

	test.each<[string, () => string]>([
		[
			'sub nested 5,000 deep, bad signature (the refusal logs the client)',
			() => {
				const claims = JSON.stringify(validClaims(target, { sub: undefined })).slice(0, -1);
				return `${encode({ alg: 'RS256', kid: 'issuer-rsa' })}.${encode(`${claims},"sub":${deep}}`)}.c2ln`;
			},
		],
		[
			'kid nested 5,000 deep (the refusal logs the kid)',
			() => `${encode(`{"alg":"RS256","kid":${deep}}`)}.${encode(validClaims(target))}.c2ln`,
		],
		[
			'alg nested 5,000 deep (the refusal names the alg)',
			() => `${encode(`{"alg":${deep},"kid":"issuer-rsa"}`)}.${encode(validClaims(target))}.c2ln`,
		],
	])('%s: 401, not a 500 or 503', async (_, make) => {
		expect(await outcomeOf(make())).toEqual({ kind: 'refused', status: 401, code: 'INVALID_CREDENTIALS' });
		expect(logLines.at(-1)).toMatch(/refused (invalid_signature|malformed|algorithm_not_allowed)/);
	});
});
