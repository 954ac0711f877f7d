/**
 * Two Directus instances A and B on ONE PostgreSQL database and a Redis server of the test's own, configured the
 * way Directus runs several instances (its bus, locks and permission cache in Redis), with WebSockets on and the
 * realtime logs stream off. Shared by the revocation and Redis-outage suites.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { NIL, v5 } from 'uuid';
import { prepareDirectus, REPO_ROOT, startPrepared } from '../../dev/directus-instance.mjs';
import { startLocalIssuer } from '../../dev/local-issuer.mjs';
import { seedAccessModel, seededExtensionEnv } from '../../dev/seed.mjs';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

export type Directus = Awaited<ReturnType<typeof startPrepared>>;
export type Issuer = Awaited<ReturnType<typeof startLocalIssuer>>;
type Prepared = Awaited<ReturnType<typeof prepareDirectus>>;

/** A running A/B pair, its Redis, its issuer and the seeded role ids; `stop()` removes everything. */
export interface RedisCluster {
	redis: RedisServer;
	issuer: Issuer;
	a: Directus;
	b: Directus;
	roles: { readers: string; writers: string; admins: string };
	stop(): Promise<void>;
}

const QUERY_COUNTER = join(REPO_ROOT, 'test/fixtures/query-counter');

/** The service user id the extension keeps for a client (the guide's identity). */
export const userIdOf = (sub: string): string => v5(sub, NIL);

/**
 * Directus's own settings for several instances sharing Redis, as 11.17 and 12.4 read them: `REDIS` turns the bus
 * (`useBus`), the locks (`useLock`) and the permission cache to Redis; `SYNCHRONIZATION_STORE` does the same for
 * its synchronization manager. Why no `BCC_AUTH_STATE_TTL`: left at its default (10 s), the TTL cannot explain a
 * propagation faster than that.
 */
function clusterEnv(redis: RedisServer): Record<string, string> {
	return {
		REDIS: redis.url,
		SYNCHRONIZATION_STORE: 'redis',
		WEBSOCKETS_ENABLED: 'true',
		WEBSOCKETS_REST_ENABLED: 'true',
		WEBSOCKETS_GRAPHQL_ENABLED: 'true',
		// Directus's logs stream dies on a Redis outage by itself (an unhandled MaxRetriesPerRequestError); off, as
		// the README tells operators to run it, so an exit during the outage can only be ours.
		WEBSOCKETS_LOGS_ENABLED: 'false',
	};
}

/**
 * Starts Redis, an issuer, and Directus `version` twice on one fresh PostgreSQL database: bootstrapped and seeded
 * through A, then B. `envA`/`envB` add per-instance settings (e.g. another WebSocket auth mode).
 */
export async function startRedisCluster(
	version: string,
	options: { envA?: Record<string, string>; envB?: Record<string, string> } = {},
): Promise<RedisCluster> {
	const redis = await startRedisServer();
	const issuer = await startLocalIssuer();
	let prepared: Prepared | undefined;
	const started: Directus[] = [];

	const stop = async () => {
		await Promise.all(started.map((instance) => instance.stop()));
		await prepared?.database.drop();
		if (prepared) await rm(prepared.project, { recursive: true, force: true });
		await issuer.stop();
		await redis.stop();
	};

	try {
		const env = { ...seededExtensionEnv(issuer), ...clusterEnv(redis) };
		prepared = await prepareDirectus({
			version,
			database: { client: 'pg' },
			env,
			extraExtensions: [QUERY_COUNTER],
		});
		const a = await startPrepared(prepared, { env: { ...env, ...options.envA } });
		started.push(a);
		// Seeded before B starts, as the multi-instance suite does, so B reads the schema and roles after the seed.
		const { roles } = await seedAccessModel(a);
		const b = await startPrepared(prepared, { env: { ...env, ...options.envB } });
		started.push(b);
		return { redis, issuer, a, b, roles, stop };
	} catch (error) {
		await stop();
		throw error;
	}
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Percentile `p` (0–1) of `values`, nearest rank. */
export function percentile(values: number[], p: number): number {
	const sorted = [...values].sort((x, y) => x - y);
	return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? NaN;
}
