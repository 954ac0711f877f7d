/**
 * Issuer faults against a real Directus, for each supported major: the JWKS endpoint goes down, hangs, answers
 * garbage, 404 or an empty key set. Known keys must keep working, unknown `kid`s must be refused quickly, a flood of
 * random `kid`s must not turn into a flood of JWKS fetches, and a recovered issuer's rotated key must be picked up.
 *
 * The timeout and cooldown are short here (1 s and 2 s) so the suite can wait them out.
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
const COOLDOWN_MS = 2_000;
/** How long a refusal may take at most: the JWKS timeout, plus a second for Directus and the machine. */
const REFUSAL_BUDGET_MS = TIMEOUT_MS + 1_000;
/**
 * The same inside a flood, where a request also queues behind 19 others on two cores. Still far below the slow
 * issuer's delay, so a request that waited for the JWKS instead of timing out would exceed it.
 */
const FLOOD_BUDGET_MS = TIMEOUT_MS + 3_000;
const SLOW_JWKS_MS = 10_000;
const FLOOD = 200;
/** The flood is spread over this long (still 20 at a time), so that it spans more than two cooldowns. */
const FLOOD_SPREAD_MS = 5_000;

const MODES: [mode: JwksMode, description: string, options: { delayMs?: number }][] = [
	['down', 'connection dropped', {}],
	['slow', `answers after ${SLOW_JWKS_MS} ms, past the timeout`, { delayMs: SLOW_JWKS_MS }],
	['garbage', 'truncated JSON', {}],
	['not-found', '404', {}],
	['empty', 'an empty key set', {}],
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
				BCC_AUTH_JWKS_COOLDOWN: String(COOLDOWN_MS),
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

	test.each(MODES)(
		'JWKS %s (%s): known keys work, unknown kids are refused fast, a flood stays cheap',
		async (mode, _, options) => {
			issuer.setJwksMode('ok');
			// Past the cooldown, the next unknown kid really goes to the (broken) issuer: the worst case.
			await sleep(COOLDOWN_MS + 500);
			issuer.setJwksMode(mode, options);

			expect((await call(known())).status).toBe(200);

			const fetchesBefore = issuer.counters.jwks;
			const refused = await call(unknown());
			expect(refused).toMatchObject({ status: 401, code: 'INVALID_CREDENTIALS' });
			expect(refused.ms).toBeLessThan(REFUSAL_BUDGET_MS);
			// It did ask the broken issuer, or this test would prove nothing about the fault.
			expect(issuer.counters.jwks - fetchesBefore).toBe(1);

			// The flood: random kids, with a token of the known key every tenth request.
			const floodFetchesBefore = issuer.counters.jwks;
			const started = performance.now();
			const results = await mapWithConcurrency(
				Array.from({ length: FLOOD }, (_, i) => i),
				20,
				async (i) => {
					await sleep(started + (i * FLOOD_SPREAD_MS) / FLOOD - performance.now());
					return { valid: i % 10 === 0, ...(await call(i % 10 === 0 ? known() : unknown())) };
				},
			);
			const elapsed = performance.now() - started;
			const fetches = issuer.counters.jwks - floodFetchesBefore;
			// One fetch may start at once, then at most one per cooldown: that is the whole point of the cooldown.
			const bound = Math.floor(elapsed / COOLDOWN_MS) + 1;
			const slowest = Math.max(...results.map((result) => result.ms));

			console.log(
				`[issuer-faults] Directus ${version}, JWKS ${mode}: unknown kid refused in ${Math.round(refused.ms)} ms; ` +
					`flood of ${FLOOD} in ${Math.round(elapsed)} ms, slowest ${Math.round(slowest)} ms, ` +
					`JWKS fetches ${fetches} (bound ${bound})`,
			);

			expect(results.filter((r) => r.valid).map((r) => r.status)).toEqual(Array(FLOOD / 10).fill(200));
			expect(new Set(results.filter((r) => !r.valid).map((r) => `${r.status} ${r.code}`))).toEqual(
				new Set(['401 INVALID_CREDENTIALS']),
			);
			expect(fetches).toBeLessThanOrEqual(bound);
			expect(slowest).toBeLessThan(FLOOD_BUDGET_MS);

			expect((await call(known())).status).toBe(200);
		},
		60_000,
	);

	test('after the issuer recovers and rotates, the new key works and the old one still does', async () => {
		issuer.setJwksMode('ok');
		const key = issuer.rotate();
		await sleep(COOLDOWN_MS + 500);

		const fetchesBefore = issuer.counters.jwks;
		const rotated = await call(issuer.mint({ sub: 'faults-rotated@clients', scope: 'svc#read' }, { key }));
		expect(rotated.status).toBe(200);
		expect(issuer.counters.jwks - fetchesBefore).toBe(1);
		expect((await call(known())).status).toBe(200);
	}, 60_000);
});
