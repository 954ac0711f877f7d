/**
 * directus-extension-auth-client-credentials: OAuth2 client-credentials access tokens for the Directus API.
 * Wires the parts together and registers the `authenticate` filter plus the actions that keep caches fresh.
 */
import { defineHook } from '@directus/extensions-sdk';
import type { SchemaOverview } from '@directus/types';
import { createAccountabilityBuilder } from './directus/accountability.js';
import { createAuthenticate, LOG_PREFIX, type VerifiedClient } from './authenticate.js';
import { BoundedCache } from './sync/bounded-cache.js';
import { createBoundUsers } from './directus/bound-users.js';
import { parseConfig } from './config.js';
import { createJwksUriDiscovery } from './token/discovery.js';
import { createKeyResolver } from './token/jwks.js';
import { createRoleResolver } from './directus/roles.js';
import { createServiceUsers, type UsersServiceLike } from './directus/service-user.js';
import { createTokenVerifier } from './token/verify-token.js';

/** Collections whose changes can alter a role tree, a policy's flags or who holds which policy. */
const ACCESS_COLLECTIONS = ['roles', 'policies', 'access'] as const;

export default defineHook(({ filter, action }, { env, logger, database, getSchema, services }) => {
	const config = parseConfig(env);

	const discoverJwksUri = config.discovery
		? createJwksUriDiscovery({
				issuer: config.issuer,
				timeoutMs: config.jwksTimeoutMs,
				onError: (message) => logger.error(`${LOG_PREFIX} ${message}`),
			})
		: undefined;

	// Discover at start-up, so a wrong issuer or an unreachable server shows in the log before the first client
	// calls; the failure is logged by `onError`, and tokens retry it at most once per JWKS cooldown.
	discoverJwksUri?.().catch(() => undefined);

	const keys = createKeyResolver({
		jwksUri: config.jwksUri ?? discoverJwksUri!,
		timeoutMs: config.jwksTimeoutMs,
		cooldownMs: config.jwksCooldownMs,
	});

	const verifyToken = createTokenVerifier({ ...config, keys });

	const roles = createRoleResolver({
		knex: database,
		ttlMs: config.stateTtlMs,
		onUnknownRole: (reference, reason) =>
			logger.error(`${LOG_PREFIX} BCC_AUTH_SCOPE_ROLES names role "${reference}": ${reason}`),
	});

	const serviceUsers = createServiceUsers({
		knex: database,
		getSchema: () => getSchema(),
		createUsersService: (schema: SchemaOverview) =>
			new services.UsersService({ knex: database, schema }) as UsersServiceLike,
		provider: config.userProvider,
		ttlMs: config.stateTtlMs,
		onProviderFallback: (reason) =>
			logger.info(`${LOG_PREFIX} this Directus refuses custom user providers (${reason}); service users get "default"`),
	});

	const accountabilities = createAccountabilityBuilder({ knex: database, ttlMs: config.stateTtlMs });
	const boundUsers = createBoundUsers({ knex: database, ttlMs: config.stateTtlMs });

	const authenticate = createAuthenticate({
		config,
		verifyToken,
		verifiedTokens: new BoundedCache<string, VerifiedClient>(config.tokenCacheMax),
		roles,
		serviceUsers,
		boundUsers,
		accountabilities,
		logger: { warn: (line) => logger.warn(line), error: (line) => logger.error(line) },
	}) as Parameters<typeof filter>[1];

	// The same checks for REST and GraphQL requests and for WebSocket connections (realtime subscriptions).
	filter('authenticate', authenticate);
	filter('websocket.authenticate', authenticate);

	// An admin suspending, editing or deleting a user takes effect on this instance at once; others follow
	// within BCC_AUTH_STATE_TTL.
	for (const event of ['users.update', 'users.delete']) {
		action(event, (meta) => {
			serviceUsers.forget(toKeys(meta));
			boundUsers.clear();
			accountabilities.clear();
		});
	}

	for (const collection of ACCESS_COLLECTIONS) {
		for (const operation of ['create', 'update', 'delete']) {
			action(`${collection}.${operation}`, () => {
				roles.clear();
				accountabilities.clear();
			});
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
