/**
 * The invalidation bus: tells every Directus instance of this project that a service user, a role or a policy
 * changed, so each drops what it cached at once instead of trusting it for the state TTL.
 *
 * Built like Directus's own bus (`useBus` in `@directus/api`): `@directus/memory`'s `createBus` on Redis when
 * Directus is configured for Redis, with a connection and a namespace of its own (extensions do not get Directus's
 * bus). Without Redis there is one instance and nothing to tell. The bus is best-effort by design: while Redis is
 * unreachable, nothing waits for it or fails because of it, and every instance falls back to the TTL.
 */
import { randomUUID } from 'node:crypto';
import { createBus } from '@directus/memory';
import type { Redis } from 'ioredis';
import { connectRedis, redisConfigured } from './redis-config.js';

/** What changed. `users`: these users were edited or deleted; `access`: roles, policies or their attachments. */
export type Invalidation = { readonly kind: 'users'; readonly ids: readonly string[] } | { readonly kind: 'access' };

export interface InvalidationBus {
	/** Tells the other instances; never throws, never waits for Redis. */
	publish(invalidation: Invalidation): void;
	/** Whether other instances are told at all (Directus runs with Redis). */
	readonly shared: boolean;
	/** True from a lost or failed Redis connection until it is back; false without Redis. */
	readonly redisDown: boolean;
	close(): Promise<void>;
}

export interface InvalidationBusOptions {
	env: Record<string, unknown>;
	/** Called for every invalidation another instance published. */
	onInvalidation: (invalidation: Invalidation) => void;
	logger: { info(message: string): void; error(message: string): void };
	/** The Redis namespace; default `bcc-auth` (Directus's own bus uses `directus:bus`). */
	namespace?: string;
}

const CHANNEL = 'invalidate';

type Envelope = Invalidation & { readonly origin: string };

/** Creates the bus: shared through Redis when Directus is configured for it, a no-op otherwise. */
export function createInvalidationBus(options: InvalidationBusOptions): InvalidationBus {
	const { env, onInvalidation, logger, namespace = 'bcc-auth' } = options;

	if (!redisConfigured(env)) {
		return { publish: () => undefined, shared: false, redisDown: false, close: async () => undefined };
	}

	const origin = randomUUID();
	const publisher = connectRedis(env);
	let subscriber: Redis | undefined;

	// `createBus` opens its subscriber with `duplicate()`; wrap it so that connection is watched too.
	const duplicate = publisher.duplicate.bind(publisher);
	publisher.duplicate = (override) => {
		subscriber = duplicate(override);
		watch(subscriber, 'subscriber');
		// Subscribed again on every (re)connection: a subscription that failed at start-up, while Redis was
		// unreachable, would otherwise never be made (ioredis re-subscribes only what once succeeded).
		subscriber.on('ready', () => subscriber?.subscribe(`${namespace}:${CHANNEL}`).catch(() => undefined));
		return subscriber;
	};

	const down = new Set<string>();
	let everDown = false;

	function watch(redis: Redis, name: string): void {
		// An ioredis connection without an `error` listener reports every failure as an unhandled error event.
		redis.on('error', () => markDown(name));
		redis.on('close', () => markDown(name));
		redis.on('ready', () => {
			if (!down.delete(name) || down.size > 0 || !everDown) return;
			logger.info('invalidation bus: Redis is reachable again; changes reach every instance at once');
		});
	}

	function markDown(name: string): void {
		if (closed || down.has(name)) return;
		const wasUp = down.size === 0;
		down.add(name);
		everDown = true;
		if (wasUp) {
			logger.error(
				'invalidation bus: Redis is unreachable; other instances follow changes within BCC_AUTH_STATE_TTL until it is back',
			);
		}
	}

	watch(publisher, 'publisher');
	const bus = createBus({ type: 'redis', redis: publisher, namespace });
	let closed = false;

	bus
		.subscribe(CHANNEL, (message) => {
			const envelope = message as Envelope;
			if (envelope.origin === origin) return; // this instance cleared its own caches already
			onInvalidation(envelope.kind === 'users' ? { kind: 'users', ids: envelope.ids } : { kind: 'access' });
		})
		.catch(() => undefined);

	return {
		shared: true,

		get redisDown() {
			return down.size > 0;
		},

		publish(invalidation) {
			const envelope: Envelope = { ...invalidation, origin };
			bus.publish(CHANNEL, envelope).catch(() => markDown('publisher'));
		},

		async close() {
			closed = true;
			publisher.disconnect();
			subscriber?.disconnect();
		},
	};
}
