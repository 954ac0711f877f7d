/**
 * The key resolver's policy against a real JWKS server on 127.0.0.1: shared fetches, cooldown, timeout,
 * outages with known keys, rotation.
 */
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
	createKeyResolver({
		jwksUri: `${issuer.url}/.well-known/jwks.json`,
		timeoutMs: 1000,
		cooldownMs: 30_000,
		...options,
	});

async function codeOf(promise: Promise<unknown>): Promise<string> {
	const error = await promise.then(
		() => undefined,
		(e: unknown) => e,
	);
	expect(error).toBeInstanceOf(TokenRejectedError);
	return (error as TokenRejectedError).code;
}

test('concurrent lookups of an unknown kid share one fetch', async () => {
	const keys = resolver();
	const found = await Promise.all(Array.from({ length: 50 }, () => keys.getKey('one')));
	expect(new Set(found).size).toBe(1);
	expect(issuer.counters.jwks).toBe(1);
	expect(keys.fetchCount).toBe(1);
});

test('one fetch serves every key of a rotation', async () => {
	issuer.rotate();
	issuer.rotate();
	const keys = resolver();
	for (const key of issuer.keys) await keys.getKey(key.kid);
	expect(issuer.counters.jwks).toBe(1);
});

test('a flood of random kids costs no fetch inside the cooldown and does not lock out known keys', async () => {
	const keys = resolver();
	await keys.getKey('one');

	const codes = await Promise.all(Array.from({ length: 200 }, (_, i) => codeOf(keys.getKey(`random-${i}`))));
	expect(new Set(codes)).toEqual(new Set(['unknown_kid']));
	expect(issuer.counters.jwks).toBe(1);
	await expect(keys.getKey('one')).resolves.toBeDefined();
});

test('after the cooldown an unknown kid is fetched again: a new key is picked up', async () => {
	let now = 0;
	const keys = resolver({ now: () => now });
	await keys.getKey('one');
	const next = issuer.rotate();

	now = 29_999;
	expect(await codeOf(keys.getKey(next.kid))).toBe('unknown_kid');
	now = 30_001;
	await expect(keys.getKey(next.kid)).resolves.toBeDefined();
	expect(issuer.counters.jwks).toBe(2);
});

test.each(['down', 'not-found', 'garbage', 'empty'] as const)(
	'JWKS %s: unknown kids refused, known keys keep working',
	async (mode) => {
		let now = 0;
		const keys = resolver({ now: () => now, cooldownMs: 0, maxAgeMs: 1 });
		await keys.getKey('one');
		issuer.setJwksMode(mode);
		now = 10;

		expect(await codeOf(keys.getKey('other'))).toBe('jwks_unavailable');
		// Known and stale: served at once while a background refresh fails.
		await expect(keys.getKey('one')).resolves.toBeDefined();
		await new Promise((resolve) => setTimeout(resolve, 50));
		await expect(keys.getKey('one')).resolves.toBeDefined();
	},
);

test('a slow JWKS is abandoned after the timeout', async () => {
	issuer.setJwksMode('slow', { delayMs: 5000 });
	const keys = resolver({ timeoutMs: 200 });
	const started = Date.now();
	expect(await codeOf(keys.getKey('one'))).toBe('jwks_unavailable');
	expect(Date.now() - started).toBeLessThan(2000);
});

test('a token without kid works only when the set has a single key', async () => {
	const keys = resolver({ cooldownMs: 0 });
	await expect(keys.getKey(undefined)).resolves.toBeDefined();
	issuer.rotate();
	const fresh = resolver({ cooldownMs: 0 });
	expect(await codeOf(fresh.getKey(undefined))).toBe('unknown_kid');
});
