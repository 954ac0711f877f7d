/**
 * directus-extension-auth-client-credentials: OAuth2 client-credentials access tokens for the Directus API.
 * Wires the parts together and registers the `authenticate` filter plus the actions that keep caches fresh.
 */
import type { Server } from 'node:http';
import { defineHook } from '@directus/extensions-sdk';
import type { SchemaOverview } from '@directus/types';
import { createAuthenticate, LOG_PREFIX, type VerifiedClient } from './authenticate.js';
import { parseConfig } from './config.js';
import { reportStartup } from './startup-report.js';
import { createAccountabilityBuilder } from './directus/accountability.js';
import { createBoundUsers } from './directus/bound-users.js';
import { createServiceUserDeleteGuard } from './directus/guard-service-user-delete.js';
import { createRoleResolver } from './directus/roles.js';
import { createServiceUsers, serviceUserId, type UsersServiceLike } from './directus/service-user.js';
import { upgradeServiceUserProviders } from './directus/upgrade-providers.js';
import { BoundedCache } from './sync/bounded-cache.js';
import { createInvalidationBus, type Invalidation } from './sync/bus.js';
import { createConnectionRegistry } from './sync/connections.js';
import { createRedisReplayStore } from './sync/dpop-replay.js';
import { createJwksUriDiscovery } from './token/discovery.js';
import { replayRetentionMs } from './token/dpop.js';
import { createKeyResolver } from './token/jwks.js';
import { TokenRejectedError } from './token/token-rejected-error.js';
import { createTokenVerifier } from './token/verify-token.js';

/** Collections whose changes can alter a role tree, a policy's flags or who holds which policy. */
const ACCESS_COLLECTIONS = ['roles', 'policies', 'access'] as const;

export default defineHook(({ filter, action, init }, { env, logger, database, getSchema, services }) => {
	const config = parseConfig(env);
	const log = {
		info: (line: string) => logger.info(`${LOG_PREFIX} ${line}`),
		warn: (line: string) => logger.warn(`${LOG_PREFIX} ${line}`),
		error: (line: string) => logger.error(`${LOG_PREFIX} ${line}`),
	};
	for (const line of config.deprecations) logger.warn(`${LOG_PREFIX} ${line}`);

	const discoverJwksUri = config.discovery
		? createJwksUriDiscovery({
				issuer: config.issuer,
				timeoutMs: config.jwksTimeoutMs,
				onError: (message) => logger.error(`${LOG_PREFIX} ${message}`),
			})
		: undefined;

	// Discover at start-up, so a wrong issuer or an unreachable server shows in the log before the first client
	// calls; the failure is logged by `onError`, and tokens retry it within the JWKS fetch rate limit.
	discoverJwksUri?.().catch(() => undefined);

	const keys = createKeyResolver({
		jwksUri: config.jwksUri ?? discoverJwksUri!,
		timeoutMs: config.jwksTimeoutMs,
		requestsPerMinute: config.jwksRequestsPerMinute,
	});

	const verifyToken = createTokenVerifier({ ...config, keys });

	const roles = createRoleResolver({
		knex: database,
		ttlMs: config.stateTtlMs,
		onUnknownRole: (reference, reason) =>
			logger.error(`${LOG_PREFIX} BCC_AUTH_SCOPE_ROLES names role "${reference}": ${reason}`),
	});

	// Directus 12 without an SSO licence locks the project while an active user has a custom provider: there new
	// service users get `default`, and those made before the upgrade move to it before the first request.
	const { userProvider, migrate } = upgradeServiceUserProviders({
		provider: config.userProvider,
		knex: database,
		services,
		getSchema,
		logger,
		logPrefix: LOG_PREFIX,
	});
	init('app.before', migrate);

	const serviceUsers = createServiceUsers({
		knex: database,
		getSchema: () => getSchema(),
		createUsersService: (schema: SchemaOverview) =>
			new services.UsersService({ knex: database, schema }) as UsersServiceLike,
		provider: userProvider,
		ttlMs: config.stateTtlMs,
		onProviderFallback: (reason) =>
			logger.info(`${LOG_PREFIX} this Directus refuses custom user providers (${reason}); service users get "default"`),
		beforeWrite: () => {
			// Why: after a user write Directus clears its Redis-backed caches without awaiting it, and while Redis is
			// down that rejection is unhandled and ends the process. Refuse a new client (503) rather than risk it.
			if (bus.redisDown) throw new Error('Redis is unreachable: new service users are not created until it is back');
		},
	});

	const accountabilities = createAccountabilityBuilder({ knex: database, ttlMs: config.stateTtlMs });
	const boundUsers = createBoundUsers({ knex: database, ttlMs: config.stateTtlMs });

	// DPoP proofs used on any instance are refused on every instance when Directus runs with Redis.
	const dpopReplay = createRedisReplayStore({
		env,
		retentionMs: replayRetentionMs(config.dpopIatWindow, config.clockTolerance),
	});

	const authenticate = createAuthenticate({
		config,
		dpopReplay,
		verifyToken,
		verifiedTokens: new BoundedCache<string, VerifiedClient>(config.tokenCacheMax),
		roles,
		serviceUsers,
		boundUsers,
		accountabilities,
		logger: { warn: (line) => logger.warn(line), error: (line) => logger.error(line) },
		onWebSocketAccepted: (accountability, client) =>
			connections.accepted(accountability, client, client.expiresAt, accountability.user ?? null),
	});

	const connections = createConnectionRegistry<VerifiedClient>({
		recheck: (client, base) => authenticate.authorize!(client, base),
		isRefusal: (error) => error instanceof TokenRejectedError,
		// A connection acting as a client's user for another role is revoked with the client's first user too.
		dependsOn: (client, userId) =>
			client.kind === 'service' ? [userId ?? '', serviceUserId(client.clientId)] : [userId ?? ''],
		logger: log,
	});

	/** Drops what a change made stale, on this instance: caches, then the open connections it concerns. */
	const invalidate = (invalidation: Invalidation) => {
		if (invalidation.kind === 'users') {
			serviceUsers.forget(invalidation.ids);
			boundUsers.clear();
			accountabilities.clear();
			connections.invalidate(invalidation.ids);
		} else {
			roles.clear();
			serviceUsers.clear();
			accountabilities.clear();
			connections.invalidate();
		}
	};

	// Every instance of the project hears of every change at once when Directus runs with Redis; without it
	// there is one instance, or the others follow within BCC_AUTH_STATE_TTL.
	const bus = createInvalidationBus({ env, onInvalidation: invalidate, logger: log });
	const changed = (invalidation: Invalidation) => {
		invalidate(invalidation);
		bus.publish(invalidation);
	};

	// The same checks for REST and GraphQL requests and for WebSocket connections (realtime subscriptions).
	filter('authenticate', authenticate as Parameters<typeof filter>[1]);
	filter('websocket.authenticate', authenticate as Parameters<typeof filter>[1]);
	filter('users.delete', createServiceUserDeleteGuard(database));

	action('server.start', (meta) => {
		const server = (meta as { server?: Server }).server;
		if (server) connections.attach(server);
		void reportStartup({ config, keys, roles, logger: log });
	});
	action('server.stop', () => {
		connections.close();
		void bus.close();
		void dpopReplay?.close();
	});

	for (const event of ['users.update', 'users.delete']) {
		action(event, (meta) => changed({ kind: 'users', ids: toKeys(meta) }));
	}

	for (const collection of ACCESS_COLLECTIONS) {
		for (const operation of ['create', 'update', 'delete']) {
			action(`${collection}.${operation}`, () => changed({ kind: 'access' }));
		}
	}

	logger.info(
		`${LOG_PREFIX} accepting client-credentials tokens from ${config.issuer} (preset ${config.preset}` +
			`${config.discovery ? ', keys by OpenID discovery' : ''}${config.clientsOnly ? ', listed clients only' : ''})`,
	);
});

/** The keys an action touched: `keys` for updates and deletes, `payload` for deletes on older hosts. */
function toKeys(meta: Record<string, unknown>): string[] {
	const keys = meta['keys'] ?? meta['payload'] ?? meta['key'];
	return (Array.isArray(keys) ? keys : [keys]).filter((key) => key !== undefined).map(String);
}
