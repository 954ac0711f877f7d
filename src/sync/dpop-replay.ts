/**
 * The DPoP `jti` replay stores: one in this process, bounded in size, and one shared by every instance through a
 * `@directus/memory` Kv (the lead wires the Redis one in `index.ts`).
 */
import { hash } from 'node:crypto';
import { createKv } from '@directus/memory';
import type { ReplayStore } from '../token/dpop.js';
import { BoundedCache } from './bounded-cache.js';
import { connectRedis, redisConfigured } from './redis-config.js';

export type { ReplayStore };

/** Proofs remembered in one process unless configured otherwise: ~15 MB, 770 proofs a second for 130 s. */
export const LOCAL_REPLAY_MAX = 100_000;

/**
 * A replay store in this process. When full, the oldest claim is forgotten first: the one nearest to expiry, so a
 * replay is possible only for a client sending more than `maxEntries` proofs within one proof window.
 */
export function createLocalReplayStore(maxEntries = LOCAL_REPLAY_MAX, now: () => number = Date.now): ReplayStore {
	const claims = new BoundedCache<string, true>(maxEntries, now);

	return {
		// Synchronous under the hood: no other request runs between the lookup and the store.
		async claim(key, expiresAt) {
			const digest = keyDigest(key);
			if (claims.get(digest) !== undefined) return false;
			claims.set(digest, true, expiresAt);
			return true;
		},
	};
}

/** The part of `@directus/memory`'s `Kv` the shared store uses. */
export interface ReplayKv {
	increment(key: string, amount?: number): Promise<number> | number;
	set(key: string, value: number): Promise<void> | void;
}

/**
 * A replay store shared by every instance, on a `@directus/memory` Kv created with `ttl` of at least
 * `replayRetentionMs(...)`. That Kv has no per-key expiry and no set-if-absent: `increment` is the atomic claim
 * (only the first caller sees 1), and the `set` that follows is what gives the key the Kv's TTL.
 */
export function createSharedReplayStore(kv: ReplayKv): ReplayStore {
	return {
		// `expiresAt` is not used: the Kv's fixed TTL, from the claim on, outlives the proof's window.
		async claim(key) {
			const digest = keyDigest(key);
			const count = await kv.increment(digest);
			if (count !== 1) return false;
			// Why set after increment: `increment` (INCRBY) leaves the key without expiry; `set` (SET … PX ttl) arms
			// it. Calls by other instances in between see 2 or more and are refused, as they must be.
			await kv.set(digest, 1);
			return true;
		},
	};
}

/** A fixed-length key, so the stores' memory does not grow with the length of the clients' `jti`s. */
function keyDigest(key: string): string {
	return `dpop-jti:${hash('sha256', key, 'base64url')}`;
}

export interface RedisReplayStoreOptions {
	/** Directus's env: Redis is used exactly when Directus uses it (see `redis-config.ts`). */
	env: Record<string, unknown>;
	/** How long a claim is kept: `replayRetentionMs(iatWindow, clockTolerance)`. */
	retentionMs: number;
	/** The Redis key prefix; default `bcc-auth:dpop` (Directus's own keys use `directus:`). */
	namespace?: string;
}

/**
 * The shared store in Directus's Redis, or `undefined` when Directus runs without Redis. Fails closed: while Redis
 * is unreachable a claim rejects (the request gets 503), since an unchecked proof could be a replay.
 */
export function createRedisReplayStore(
	options: RedisReplayStoreOptions,
): (ReplayStore & { close(): Promise<void> }) | undefined {
	const { env, retentionMs, namespace = 'bcc-auth:dpop' } = options;
	if (!redisConfigured(env)) return undefined;

	// Connected on the first DPoP proof, not for every deployment.
	const redis = connectRedis(env, { lazyConnect: true });
	// Failures reach the request as a rejected claim; without a listener ioredis would report each one as unhandled.
	redis.on('error', () => undefined);

	const store = createSharedReplayStore(createKv({ type: 'redis', redis, namespace, ttl: retentionMs }));
	return { claim: store.claim, close: async () => void redis.disconnect() };
}
