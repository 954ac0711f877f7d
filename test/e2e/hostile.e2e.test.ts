/**
 * A flood of hostile tokens against a real Directus, for each supported major: the same generators as the
 * property-based unit tests (test/helpers/hostile-tokens.ts), sent over real HTTP 20 at a time.
 *
 * Nothing may be accepted (no 2xx), nothing may break (no 5xx, no dropped connection), no user may be created,
 * and a valid token must still work afterwards.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startDirectus } from '../../dev/directus-instance.mjs';
import { makeKey, startLocalIssuer } from '../../dev/local-issuer.mjs';
import { seedAccessModel, seededExtensionEnv } from '../../dev/seed.mjs';
import {
	hostileToken,
	mapWithConcurrency,
	TARGET_ALGORITHMS,
	validToken,
	type HostileTarget,
} from '../helpers/hostile-tokens.js';
import { directusVersions } from './versions.js';

type Directus = Awaited<ReturnType<typeof startDirectus>>;
type Issuer = Awaited<ReturnType<typeof startLocalIssuer>>;

const SEED = 20_260_123;
const TOKENS = 2_000;
const CONCURRENCY = 20;

describe.each(directusVersions())('Directus %s', (version) => {
	let issuer: Issuer;
	let directus: Directus;
	let target: HostileTarget;

	beforeAll(async () => {
		issuer = await startLocalIssuer({ keys: [makeKey('RS256', 'issuer-rsa'), makeKey('ES256', 'issuer-ec')] });
		// `svc#read` is mapped: every hostile token carries it, so only its flaw can refuse it.
		target = { issuer: issuer.issuer, audience: issuer.audience, scope: 'svc#read', keys: issuer.keys };
		directus = await startDirectus({
			version,
			env: {
				...seededExtensionEnv(issuer),
				BCC_AUTH_ALGORITHMS: TARGET_ALGORITHMS.join(','),
			},
		});
		await seedAccessModel(directus);
	});

	afterAll(async () => {
		await directus?.stop();
		await issuer?.stop();
	});

	const countUsers = async () => ((await directus.admin('/users?limit=-1&fields=id')) as unknown[]).length;

	test(`${TOKENS} hostile tokens: none accepted, no 5xx, no user created, and a valid token still works`, async () => {
		// A valid token first: proves the setup accepts what it should, so the refusals below mean something.
		const warmUp = await directus.request('/items/articles', { token: validToken(target, 'hostile-warm-up@clients') });
		expect(warmUp.status).toBe(200);

		const usersBefore = await countUsers();
		const jwksBefore = issuer.counters.jwks;
		const tokens = fc.sample(hostileToken(target), { numRuns: TOKENS, seed: SEED });
		/** Responses by status and Directus error code ("401 INVALID_CREDENTIALS"), or by client-side error. */
		const outcomes = new Map<string, number>();
		let accepted = 0;
		let failed = 0;
		const offenders: string[] = [];
		const started = performance.now();

		await mapWithConcurrency(tokens, CONCURRENCY, async ({ label, token }) => {
			let outcome: string;
			let status = 0;

			try {
				const response = await directus.request('/items/articles', { token });
				status = response.status;
				outcome = `${status} ${response.json?.errors?.[0]?.extensions?.code ?? '-'}`;
			} catch (error) {
				// A dropped connection, or a token fetch refuses to send: neither may happen.
				const { message, cause } = error as Error & { cause?: { code?: string } };
				outcome = `error ${cause?.code ?? message}`;
			}

			outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
			if (status >= 200 && status < 300) accepted++;
			if (status >= 500) failed++;
			// Refusals are 401 (the extension, or Directus for tokens not ours), 403 (Directus's INVALID_TOKEN for a
			// forged "iss: directus") or 431 (a token beyond Node's header limit): anything else is named here.
			if (status < 400 || status >= 500) offenders.push(`${outcome}: ${label}`);
		});

		const seconds = (performance.now() - started) / 1000;
		const usersCreated = (await countUsers()) - usersBefore;
		const breakdown = [...outcomes]
			.sort(([a], [b]) => a.localeCompare(b))
			.map(([outcome, n]) => `${outcome} ×${n}`)
			.join(', ');

		console.log(
			`[hostile] Directus ${version}: ${tokens.length} tokens in ${seconds.toFixed(1)} s (${CONCURRENCY} at a time): ` +
				`${breakdown}; accepted ${accepted}, 5xx ${failed}, users created ${usersCreated}, ` +
				`JWKS fetches ${issuer.counters.jwks - jwksBefore}`,
		);

		expect(tokens.length).toBeGreaterThanOrEqual(TOKENS);
		expect(offenders.slice(0, 20)).toEqual([]);
		expect(accepted).toBe(0);
		expect(failed).toBe(0);
		expect(usersCreated).toBe(0);

		const after = await directus.request('/items/articles', { token: validToken(target, 'hostile-after@clients', 1) });
		expect(after.status).toBe(200);
	}, 600_000);
});
