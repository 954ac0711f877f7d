/**
 * The invalidation bus between two "instances" (two buses) over a real Redis of the test's own, killed and
 * restarted: messages cross at once, nothing throws or rejects unhandled while Redis is down, one log line says it
 * is down and one that it is back.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createInvalidationBus, type Invalidation, type InvalidationBus } from '../../../src/sync/bus.js';
import { redisConfigured, redisConnection } from '../../../src/sync/redis-config.js';
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js';

let redis: RedisServer;
const buses: InvalidationBus[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
	redis = await startRedisServer();
	process.on('unhandledRejection', onUnhandled);
});

afterAll(async () => {
	process.off('unhandledRejection', onUnhandled);
	await Promise.all(buses.map((bus) => bus.close()));
	await redis?.stop();
});

function instance(namespace: string) {
	const received: Invalidation[] = [];
	const logs: string[] = [];
	const bus = createInvalidationBus({
		env: { REDIS: redis.url },
		namespace,
		onInvalidation: (invalidation) => received.push(invalidation),
		logger: { info: (line) => logs.push(`info ${line}`), error: (line) => logs.push(`error ${line}`) },
	});
	buses.push(bus);
	return { bus, received, logs };
}

async function until(condition: () => boolean, ms = 10_000): Promise<void> {
	const deadline = Date.now() + ms;
	while (!condition()) {
		if (Date.now() > deadline) throw new Error('condition not met in time');
		await new Promise((resolve) => setTimeout(resolve, 20));
	}
}

test('Redis is used exactly when Directus would use it, with the same connection settings', () => {
	expect(redisConfigured({})).toBe(false);
	expect(redisConfigured({ REDIS: 'redis://x' })).toBe(true);
	expect(redisConfigured({ REDIS_HOST: 'x' })).toBe(true);
	expect(redisConfigured({ REDIS_HOST: 'x', REDIS_ENABLED: false })).toBe(false);
	expect(redisConnection({ REDIS_HOST: 'cache', REDIS_PORT: 6380, REDIS_TLS__SERVER_NAME: 'cache' })).toEqual({
		host: 'cache',
		port: 6380,
		tls: { serverName: 'cache' },
	});
	expect(redisConnection({ REDIS: 'redis://cache:6379' })).toBe('redis://cache:6379');
});

test('without Redis the bus is local: publishing is a no-op', async () => {
	const bus = createInvalidationBus({
		env: {},
		onInvalidation: () => undefined,
		logger: { info: () => undefined, error: () => undefined },
	});
	expect(bus.shared).toBe(false);
	bus.publish({ kind: 'access' });
	await bus.close();
});

test('a message reaches the other instance, not its sender; an outage is survived and logged once each way', async () => {
	const a = instance('bcc-unit');
	const b = instance('bcc-unit');
	const other = instance('another-project');
	await until(() => !a.bus.redisDown && !b.bus.redisDown);
	await new Promise((resolve) => setTimeout(resolve, 200)); // subscriptions made

	a.bus.publish({ kind: 'users', ids: ['u1'] });
	await until(() => b.received.length === 1);
	expect(b.received).toEqual([{ kind: 'users', ids: ['u1'] }]);
	expect(a.received).toEqual([]);
	expect(other.received).toEqual([]);

	await redis.kill();
	await until(() => a.bus.redisDown && b.bus.redisDown);
	a.bus.publish({ kind: 'access' }); // lost, and must not throw or reject unhandled
	await new Promise((resolve) => setTimeout(resolve, 1500));

	await redis.restart();
	await until(() => !a.bus.redisDown && !b.bus.redisDown);
	await new Promise((resolve) => setTimeout(resolve, 300)); // re-subscribed

	a.bus.publish({ kind: 'access' });
	await until(() => b.received.length === 2);
	expect(b.received.at(-1)).toEqual({ kind: 'access' });

	for (const { logs } of [a, b]) {
		expect(logs.filter((line) => line.startsWith('error') && /unreachable/.test(line))).toHaveLength(1);
		expect(logs.filter((line) => line.startsWith('info') && /reachable again/.test(line))).toHaveLength(1);
	}
	expect(unhandled).toEqual([]);
});
