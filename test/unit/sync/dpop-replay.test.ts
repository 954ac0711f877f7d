/**
 * The DPoP replay stores: the local one (expiry, size bound) with frozen time, and the shared one on a real
 * `@directus/memory` Kv over a real Redis of the test's own, used by two connections as two instances would.
 */
import { createKv } from '@directus/memory';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createLocalReplayStore, createSharedReplayStore } from '../../../src/sync/dpop-replay.js';
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
	const connections: Redis[] = [];
	const ttl = replayRetentionMs(60, 5);

	/** One instance's view: its own connection, the namespace and TTL every instance uses. */
	const instance = () => {
		const connection = new Redis(redis.url);
		connections.push(connection);
		return {
			connection,
			store: createSharedReplayStore(createKv({ type: 'redis', redis: connection, namespace: 'bcc-test', ttl })),
		};
	};

	beforeAll(async () => {
		redis = await startRedisServer();
	});

	afterAll(async () => {
		for (const connection of connections) connection.disconnect();
		await redis?.stop();
	});

	test('a proof claimed on one instance is refused on another, and the key expires with the TTL', async () => {
		const a = instance();
		const b = instance();
		const key = `jkt.${crypto.randomUUID()}`;

		expect(await a.store.claim(key, 0)).toBe(true);
		expect(await b.store.claim(key, 0)).toBe(false);
		expect(await a.store.claim(key, 0)).toBe(false);

		const [stored] = await a.connection.keys('bcc-test:dpop-jti:*');
		expect(stored).toBeDefined();
		const pttl = await a.connection.pttl(stored!);
		expect(pttl).toBeGreaterThan(0);
		expect(pttl).toBeLessThanOrEqual(ttl);
		// The jti itself is never stored: only its hash.
		expect(stored).not.toContain(key);
	});

	test('concurrent claims of one key from two instances: exactly one wins', async () => {
		const a = instance();
		const b = instance();
		const key = `jkt.${crypto.randomUUID()}`;
		const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).store.claim(key, 0)));
		expect(results.filter(Boolean)).toHaveLength(1);
	});
});
