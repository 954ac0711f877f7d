/**
 * The key resolver's policy against a real JWKS server on 127.0.0.1: rotation on first sight, shared fetches, the
 * rate limit (time frozen through `now`), timeout, outages with known keys.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { makeKey, startLocalIssuer } from '../../../dev/local-issuer.mjs';
import { createKeyResolver, type KeyResolverOptions } from '../../../src/token/jwks.js';
import { TokenRejectedError } from '../../../src/token/token-rejected-error.js';

type Issuer = Awaited<ReturnType<typeof startLocalIssuer>>;
let issuer: Issuer;

beforeEach(async () => {
	issuer = await startLocalIssuer({ keys: [makeKey('RS256', 'one')] });
});

afterEach(() => issuer.stop());

const resolver = (options: Partial<KeyResolverOptions> = {}) =>
	createKeyResolver({ jwksUri: `${issuer.url}/.well-known/jwks.json`, timeoutMs: 1000, ...options });

/** A clock the test moves by hand. */
function frozenClock() {
	const clock = { at: 0, now: () => clock.at };
	return clock;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
	const error = await promise.then(
		() => undefined,
		(e: unknown) => e,
	);
	expect(error).toBeInstanceOf(TokenRejectedError);
	return (error as TokenRejectedError).code;
}

/** The most fetches that started within any 60 s, given their start times. */
function busiestMinute(times: number[]): number {
	return Math.max(0, ...times.map((start) => times.filter((t) => t >= start && t < start + 60_000).length));
}

test('a key rotated in right after a fetch is accepted on first sight', async () => {
	const clock = frozenClock();
	const keys = resolver({ now: clock.now });
	await keys.getKey('one');
	const next = issuer.rotate();

	clock.at = 1_000;
	await expect(keys.getKey(next.kid)).resolves.toBeDefined();
	expect(issuer.counters.jwks).toBe(2);
	// The old key stays: tokens signed before the rotation keep working.
	await expect(keys.getKey('one')).resolves.toBeDefined();
	expect(issuer.counters.jwks).toBe(2);
});

test('concurrent lookups share one fetch, whether of one kid or of many', async () => {
	const keys = resolver();
	const found = await Promise.all(Array.from({ length: 50 }, () => keys.getKey('one')));
	expect(new Set(found).size).toBe(1);
	expect(issuer.counters.jwks).toBe(1);

	const codes = await Promise.all(Array.from({ length: 100 }, () => codeOf(keys.getKey(randomUUID()))));
	expect(new Set(codes)).toEqual(new Set(['unknown_kid']));
	expect(issuer.counters.jwks).toBe(2);
	expect(keys.fetchCount).toBe(2);
});

test('one fetch serves every key of a rotation', async () => {
	issuer.rotate();
	issuer.rotate();
	const keys = resolver();
	for (const key of issuer.keys) await keys.getKey(key.kid);
	expect(issuer.counters.jwks).toBe(1);
});

test('a flood of 1,000 random kids costs at most 10 fetches in any minute, and known keys keep working', async () => {
	const clock = frozenClock();
	const keys = resolver({ now: clock.now });
	await keys.getKey('one');
	const fetchTimes = [0];

	// 1,000 kids over three minutes, one every 180 ms, each refused before the next arrives: the worst case.
	for (let i = 0; i < 1_000; i++) {
		clock.at = 1 + i * 180;
		const before = issuer.counters.jwks;
		expect(await codeOf(keys.getKey(`random-${i}`))).toBe('unknown_kid');
		if (issuer.counters.jwks > before) fetchTimes.push(clock.at);
		if (i % 100 === 0) await expect(keys.getKey('one')).resolves.toBeDefined();
	}

	console.log(
		`[jwks] 1,000 random kids over 180 s: ${fetchTimes.length} JWKS fetches, at most ${busiestMinute(fetchTimes)} in any 60 s`,
	);
	expect(busiestMinute(fetchTimes)).toBe(10);
	expect(fetchTimes.length).toBeLessThanOrEqual(30);
});

test('once the minute is used up, an unknown kid is refused without a fetch until the oldest fetch is a minute old', async () => {
	const clock = frozenClock();
	const keys = resolver({ now: clock.now, requestsPerMinute: 3 });
	for (let i = 0; i < 3; i++) expect(await codeOf(keys.getKey(`random-${i}`))).toBe('unknown_kid');
	expect(issuer.counters.jwks).toBe(3);

	const next = issuer.rotate();
	clock.at = 59_999;
	expect(await codeOf(keys.getKey(next.kid))).toBe('unknown_kid');
	expect(issuer.counters.jwks).toBe(3);

	clock.at = 60_000;
	await expect(keys.getKey(next.kid)).resolves.toBeDefined();
	expect(issuer.counters.jwks).toBe(4);
});

test.each(['down', 'not-found', 'garbage', 'empty'] as const)(
	'JWKS %s: unknown kids refused as jwks_unavailable, also past the limit; known keys keep working',
	async (mode) => {
		const clock = frozenClock();
		const keys = resolver({ now: clock.now, requestsPerMinute: 2 });
		await keys.getKey('one');
		issuer.setJwksMode(mode);
		clock.at = 10;

		expect(await codeOf(keys.getKey('other'))).toBe('jwks_unavailable');
		expect(issuer.counters.jwks).toBe(2);
		// The limit is reached and the last fetch failed: the refusal is still the issuer's, and costs no fetch.
		expect(await codeOf(keys.getKey('another'))).toBe('jwks_unavailable');
		expect(issuer.counters.jwks).toBe(2);
		await expect(keys.getKey('one')).resolves.toBeDefined();

		// The issuer recovers; once a slot frees, an unknown kid is fetched again and refused as the token's fault.
		issuer.setJwksMode('ok');
		clock.at = 60_001;
		expect(await codeOf(keys.getKey('another'))).toBe('unknown_kid');
		expect(await codeOf(keys.getKey('yet-another'))).toBe('unknown_kid');
		expect(issuer.counters.jwks).toBe(3);
	},
);

test('a stale set is refreshed behind the request; during an outage the retries are spread over the minute', async () => {
	const clock = frozenClock();
	const keys = resolver({ now: clock.now, maxAgeMs: 1_000 });
	await keys.getKey('one');
	const next = issuer.rotate();

	// Stale and healthy: the known key answers at once and one fetch brings the rotated key along.
	clock.at = 2_000;
	await expect(keys.getKey('one')).resolves.toBeDefined();
	await expect.poll(() => issuer.counters.jwks).toBe(2);
	await expect.poll(() => keys.getKey(next.kid).then(() => true)).toBe(true);
	expect(issuer.counters.jwks).toBe(2);

	// Stale and down: each known-key request may start a refresh, but after a failure at most one per 6 s (60 s / 10).
	issuer.setJwksMode('down');
	clock.at = 4_000;
	await expect(keys.getKey('one')).resolves.toBeDefined();
	await expect.poll(() => issuer.counters.jwks).toBe(3);
	await new Promise((resolve) => setTimeout(resolve, 50));

	for (clock.at = 4_001; clock.at < 10_000; clock.at += 500) await keys.getKey('one');
	await new Promise((resolve) => setTimeout(resolve, 50));
	expect(issuer.counters.jwks).toBe(3);

	clock.at = 10_000;
	await keys.getKey('one');
	await expect.poll(() => issuer.counters.jwks).toBe(4);
});

test('a slow JWKS is abandoned after the timeout', async () => {
	issuer.setJwksMode('slow', { delayMs: 5000 });
	const keys = resolver({ timeoutMs: 200 });
	const started = Date.now();
	expect(await codeOf(keys.getKey('one'))).toBe('jwks_unavailable');
	expect(Date.now() - started).toBeLessThan(2000);
});

test('a token without kid works only when the set has a single key', async () => {
	const keys = resolver();
	await expect(keys.getKey(undefined)).resolves.toBeDefined();
	issuer.rotate();
	const fresh = resolver();
	expect(await codeOf(fresh.getKey(undefined))).toBe('unknown_kid');
});

test.each([0, -1, 1.5, Number.NaN])('requestsPerMinute %s is refused at construction', (requestsPerMinute) => {
	expect(() => resolver({ requestsPerMinute })).toThrow(/requestsPerMinute must be a positive integer/);
});
