/**
 * Issuer faults against a real Directus, for each supported major: a key rotated in right after a fetch, then the
 * JWKS endpoint goes down, hangs, answers garbage, 404 or an empty key set. A rotated key must work on first sight,
 * known keys must keep working, unknown `kid`s must be refused quickly (and logged as the issuer's outage), and a
 * flood of random `kid`s must cost at most the minute's fetch limit.
 *
 * The fetches of the whole file stay within one minute's limit until the flood, which comes last: each earlier
 * step can then count on its unknown `kid` really reaching the issuer, with no wait.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startDirectus } from '../../dev/directus-instance.mjs';
import { makeKey, startLocalIssuer } from '../../dev/local-issuer.mjs';
import { seedAccessModel, seededExtensionEnv } from '../../dev/seed.mjs';
import { mapWithConcurrency } from '../helpers/hostile-tokens.js';
import { directusVersions } from './versions.js';

type Directus = Awaited<ReturnType<typeof startDirectus>>;
type Issuer = Awaited<ReturnType<typeof startLocalIssuer>>;
type JwksMode = Parameters<Issuer['setJwksMode']>[0];

const TIMEOUT_MS = 1_000;
/** The guide's rate, and the default. */
const REQUESTS_PER_MINUTE = 10;
/** How long a refusal may take at most: the JWKS timeout, plus a second for Directus and the machine. */
const REFUSAL_BUDGET_MS = TIMEOUT_MS + 1_000;
/**
 * The same inside a flood, where a request also queues behind 19 others on two cores. Still far below the slow
 * issuer's delay, so a request that waited for the JWKS instead of timing out would exceed it.
 */
const FLOOD_BUDGET_MS = TIMEOUT_MS + 3_000;
const SLOW_JWKS_MS = 10_000;
const FLOOD = 200;
/** The flood is spread over this long, 20 requests at a time. */
const FLOOD_SPREAD_MS = 5_000;

const MODES: [mode: JwksMode, description: string, options: { delayMs?: number }][] = [
	['down', 'connection dropped', {}],
	['slow', `answers after ${SLOW_JWKS_MS} ms, past the timeout`, { delayMs: SLOW_JWKS_MS }],
	['garbage', 'truncated JSON', {}],
	['not-found', '404', {}],
	['empty', 'an empty key set', {}],
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The reason codes of the refusals logged since `mark`. */
const refusalReasons = (directus: Directus, mark: number) =>
	directus.extensionLogs(mark).flatMap((line) => /refused (\w+)/.exec(line)?.[1] ?? []);

describe.each(directusVersions())('Directus %s', (version) => {
	let issuer: Issuer;
	let directus: Directus;
	// Signs the random-kid tokens: an unknown kid must be refused before its signature is even looked at.
	const attacker = makeKey('RS256', 'attacker');
	const original = makeKey('RS256', 'issuer-rsa');

	beforeAll(async () => {
		issuer = await startLocalIssuer({ keys: [original] });
		directus = await startDirectus({
			version,
			env: {
				...seededExtensionEnv(issuer),
				BCC_AUTH_JWKS_TIMEOUT: String(TIMEOUT_MS),
				BCC_AUTH_JWKS_REQUESTS_PER_MINUTE: String(REQUESTS_PER_MINUTE),
			},
		});
		await seedAccessModel(directus);

		// The known key is loaded while the issuer is healthy.
		expect((await call(known())).status).toBe(200);
	});

	afterAll(async () => {
		await directus?.stop();
		await issuer?.stop();
	});

	/** A fresh token of the known key (a new `jti`, so it is verified again rather than served from the cache). */
	const known = () => issuer.mint({ sub: 'faults@clients', scope: 'svc#read', jti: randomUUID() }, { key: original });
	/** A token whose kid the issuer never published. */
	const unknown = () =>
		issuer.mint({ sub: 'faults-unknown@clients', scope: 'svc#read' }, { key: attacker, header: { kid: randomUUID() } });

	/** One request, timed; the status and Directus's error code. */
	async function call(token: string) {
		const started = performance.now();
		const response = await directus.request('/items/articles?limit=1', { token });
		return {
			status: response.status,
			code: response.json?.errors?.[0]?.extensions?.code as string | undefined,
			ms: performance.now() - started,
		};
	}

	test('a key rotated in right after a fetch works on first sight, and the old one still does', async () => {
		issuer.setJwksMode('ok');
		const key = issuer.rotate();

		const fetchesBefore = issuer.counters.jwks;
		const rotated = await call(issuer.mint({ sub: 'faults-rotated@clients', scope: 'svc#read' }, { key }));
		expect(rotated.status).toBe(200);
		expect(issuer.counters.jwks - fetchesBefore).toBe(1);
		expect((await call(known())).status).toBe(200);
		expect(issuer.counters.jwks - fetchesBefore).toBe(1);
	}, 60_000);

	test.each(MODES)(
		'JWKS %s (%s): known keys work, an unknown kid is refused fast and logged as jwks_unavailable',
		async (mode, _, options) => {
			issuer.setJwksMode(mode, options);
			expect((await call(known())).status).toBe(200);

			const fetchesBefore = issuer.counters.jwks;
			const mark = directus.logs().length;
			const refused = await call(unknown());
			expect(refused).toMatchObject({ status: 401, code: 'INVALID_CREDENTIALS' });
			expect(refused.ms).toBeLessThan(REFUSAL_BUDGET_MS);
			// It did ask the broken issuer, or this test would prove nothing about the fault.
			expect(issuer.counters.jwks - fetchesBefore).toBe(1);
			await expect.poll(() => refusalReasons(directus, mark)).toEqual(['jwks_unavailable']);

			console.log(
				`[issuer-faults] Directus ${version}, JWKS ${mode}: unknown kid refused in ${Math.round(refused.ms)} ms`,
			);
			expect((await call(known())).status).toBe(200);
		},
		60_000,
	);

	test('after the issuer recovers and rotates again, the new key works on first sight', async () => {
		issuer.setJwksMode('ok');
		const key = issuer.rotate();

		const fetchesBefore = issuer.counters.jwks;
		const rotated = await call(issuer.mint({ sub: 'faults-recovered@clients', scope: 'svc#read' }, { key }));
		expect(rotated.status).toBe(200);
		expect(issuer.counters.jwks - fetchesBefore).toBe(1);
	}, 60_000);

	test('a flood of random kids against a hanging JWKS stays within the fetch limit, and fast', async () => {
		issuer.setJwksMode('slow', { delayMs: SLOW_JWKS_MS });
		const fetchesBefore = issuer.counters.jwks;
		const mark = directus.logs().length;
		const started = performance.now();

		// Random kids, with a token of the known key every tenth request.
		const results = await mapWithConcurrency(
			Array.from({ length: FLOOD }, (_, i) => i),
			20,
			async (i) => {
				await sleep(started + (i * FLOOD_SPREAD_MS) / FLOOD - performance.now());
				return { valid: i % 10 === 0, ...(await call(i % 10 === 0 ? known() : unknown())) };
			},
		);
		const elapsed = performance.now() - started;
		const fetches = issuer.counters.jwks - fetchesBefore;
		const slowest = Math.max(...results.map((result) => result.ms));
		// Log lines reach the test through Directus's stdout, possibly after the responses.
		await expect.poll(() => refusalReasons(directus, mark).length).toBe(FLOOD - FLOOD / 10);
		const reasons = refusalReasons(directus, mark);

		console.log(
			`[issuer-faults] Directus ${version}, JWKS slow: flood of ${FLOOD} in ${Math.round(elapsed)} ms, ` +
				`slowest ${Math.round(slowest)} ms, JWKS fetches ${fetches} (limit ${REQUESTS_PER_MINUTE} a minute; ` +
				`${fetchesBefore} earlier in this file), refusals logged: ${[...new Set(reasons)].join(', ')}`,
		);

		expect(results.filter((r) => r.valid).map((r) => r.status)).toEqual(Array(FLOOD / 10).fill(200));
		expect(new Set(results.filter((r) => !r.valid).map((r) => `${r.status} ${r.code}`))).toEqual(
			new Set(['401 INVALID_CREDENTIALS']),
		);
		// The flood lasts seconds, so its fetches all fall within one minute: the limit bounds them.
		expect(fetches).toBeLessThanOrEqual(REQUESTS_PER_MINUTE);
		expect(fetches).toBeGreaterThan(0);
		expect(slowest).toBeLessThan(FLOOD_BUDGET_MS);
		// An outage, not a bad token: every refusal says so, also those the limit kept from the issuer.
		expect(new Set(reasons)).toEqual(new Set(['jwks_unavailable']));

		expect((await call(known())).status).toBe(200);
	}, 60_000);
});
