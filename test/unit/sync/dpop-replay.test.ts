/**
 * The DPoP replay stores: the local one (expiry, size bound) with frozen time, and the shared one on a real
 * `@directus/memory` Kv over a real Redis of the test's own, used by two connections as two instances would.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createLocalReplayStore, createRedisReplayStore } from '../../../src/sync/dpop-replay.js';
import { replayRetentionMs } from '../../../src/token/dpop.js';
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js';

describe('local', () => {
	test('a key is claimed once until it expires, then again', async () => {
		let now = 1_000_000;
		const store = createLocalReplayStore(10, () => now);
		expect(await store.claim('k', now + 1000)).toBe(true);
		expect(await store.claim('k', now + 1000)).toBe(false);
		now += 999;
		expect(await store.claim('k', now + 1000)).toBe(false);
		now += 1;
		expect(await store.claim('k', now + 1000)).toBe(true);
	});

	test('bounded: past its size the oldest claim is forgotten, never the newest', async () => {
		const now = 1_000_000;
		const store = createLocalReplayStore(3, () => now);
		for (const key of ['a', 'b', 'c', 'd']) expect(await store.claim(key, now + 60_000)).toBe(true);
		expect(await store.claim('d', now + 60_000)).toBe(false);
		expect(await store.claim('c', now + 60_000)).toBe(false);
		expect(await store.claim('a', now + 60_000)).toBe(true);
	});

	test('concurrent claims of one key: exactly one wins', async () => {
		const store = createLocalReplayStore();
		const results = await Promise.all(Array.from({ length: 50 }, () => store.claim('same', Date.now() + 60_000)));
		expect(results.filter(Boolean)).toHaveLength(1);
	});
});

describe('shared, through @directus/memory on a real Redis', () => {
	let redis: RedisServer;
	const stores: { close(): Promise<void> }[] = [];
	const ttl = replayRetentionMs(60, 5);

	/** One instance's store, made as `index.ts` makes it from Directus's env. */
	const instance = () => {
		const store = createRedisReplayStore({ env: { REDIS: redis.url }, retentionMs: ttl, namespace: 'bcc-test' });
		if (!store) throw new Error('expected a Redis store for REDIS=…');
		stores.push(store);
		return store;
	};

	beforeAll(async () => {
		redis = await startRedisServer();
	});

	afterAll(async () => {
		for (const store of stores) await store.close();
		await redis?.stop();
	});

	test('without Redis in the env there is no shared store', () => {
		expect(createRedisReplayStore({ env: {}, retentionMs: ttl })).toBeUndefined();
		expect(
			createRedisReplayStore({ env: { REDIS_ENABLED: false, REDIS: 'redis://x' }, retentionMs: ttl }),
		).toBeUndefined();
	});

	test('a proof claimed on one instance is refused on another, and the key expires with the TTL', async () => {
		const a = instance();
		const b = instance();
		const key = `jkt.${crypto.randomUUID()}`;

		expect(await a.claim(key, 0)).toBe(true);
		expect(await b.claim(key, 0)).toBe(false);
		expect(await a.claim(key, 0)).toBe(false);

		const inspector = new Redis(redis.url);
		try {
			const stored = await inspector.keys('bcc-test:dpop-jti:*');
			expect(stored).toHaveLength(1);
			const pttl = await inspector.pttl(stored[0]!);
			expect(pttl).toBeGreaterThan(0);
			expect(pttl).toBeLessThanOrEqual(ttl);
			// The jti itself is never stored: only its hash.
			expect(stored[0]).not.toContain(key);
		} finally {
			inspector.disconnect();
		}
	});

	test('concurrent claims of one key from two instances: exactly one wins', async () => {
		const a = instance();
		const b = instance();
		const key = `jkt.${crypto.randomUUID()}`;
		const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).claim(key, 0)));
		expect(results.filter(Boolean)).toHaveLength(1);
	});

	test('fails closed: while Redis is down a claim rejects, and works again once it is back', async () => {
		const store = instance();
		expect(await store.claim(`jkt.${crypto.randomUUID()}`, 0)).toBe(true);
		await redis.kill();
		try {
			await expect(store.claim(`jkt.${crypto.randomUUID()}`, 0)).rejects.toThrow();
		} finally {
			await redis.restart();
		}
		await expect
			.poll(() => store.claim(`jkt.${crypto.randomUUID()}`, 0).catch(() => 'down'), { timeout: 10_000 })
			.toBe(true);
	});
});
