/**
 * Whether Directus runs with Redis, and how to reach it: decided from the same variables, the same way, as
 * Directus decides it for its own bus and caches (`redisConfigAvailable` and `createRedis` in `@directus/api`).
 */
import { Redis, type RedisOptions } from 'ioredis';

type Env = Record<string, unknown>;

/** `REDIS_ENABLED` decides when set; otherwise `REDIS` or any `REDIS_*` variable turns Redis on. */
export function redisConfigured(env: Env): boolean {
	if ('REDIS_ENABLED' in env) return env['REDIS_ENABLED'] === true || env['REDIS_ENABLED'] === 'true';
	return 'REDIS' in env || Object.keys(env).some((key) => key.startsWith('REDIS_'));
}

/**
 * What Directus hands ioredis: the `REDIS` connection string, or the `REDIS_*` variables as camel-cased options
 * (`REDIS_HOST` → `host`; a double underscore nests: `REDIS_TLS__CA` → `tls.ca`).
 */
export function redisConnection(env: Env): string | RedisOptions {
	if (typeof env['REDIS'] === 'string' && env['REDIS'] !== '') return env['REDIS'];

	const options: Record<string, unknown> = {};

	for (const [key, value] of Object.entries(env)) {
		if (!key.startsWith('REDIS_')) continue;

		const path = key
			.slice('REDIS_'.length)
			.split('__')
			.map((part) => camelCase(part));
		let target = options;

		for (const part of path.slice(0, -1)) {
			target[part] = typeof target[part] === 'object' && target[part] !== null ? target[part] : {};
			target = target[part] as Record<string, unknown>;
		}

		target[path.at(-1)!] = value;
	}

	return options as RedisOptions;
}

function camelCase(text: string): string {
	return text.toLowerCase().replace(/_+([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

/**
 * A Redis connection of the extension's own, to Directus's Redis. Why these options: a command issued while Redis is
 * down fails after one retry instead of queueing for ~10 s (ioredis's default of 20 retries per request) and then
 * rejecting, and reconnection keeps trying, every 2 s at most.
 */
export function connectRedis(env: Env, options: RedisOptions = {}): Redis {
	const ours: RedisOptions = {
		maxRetriesPerRequest: 1,
		retryStrategy: (attempt) => Math.min(attempt * 250, 2000),
		...options,
	};
	const connection = redisConnection(env);
	return typeof connection === 'string' ? new Redis(connection, ours) : new Redis({ ...connection, ...ours });
}
