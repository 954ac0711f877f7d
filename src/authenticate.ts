/**
 * The `authenticate` filter: recognises client-credentials tokens of the configured issuer, verifies them, and
 * answers with the service user's accountability. The one place that maps failures to Directus errors and logs.
 */
import { hash } from 'node:crypto';
import { InvalidCredentialsError, ServiceUnavailableError, TokenExpiredError } from '@directus/errors';
import type { Accountability } from '@directus/types';
import type { AccountabilityBuilder } from './directus/accountability.js';
import type { BoundedCache } from './sync/bounded-cache.js';
import type { BoundUsers } from './directus/bound-users.js';
import { SERVICE_USER_BINDING, type Config, type ScopeRole } from './config.js';
import { decodeUnverified } from './token/decode-jwt.js';
import { readClaim } from './token/presets.js';
import type { RoleResolver } from './directus/roles.js';
import { readScopes, resolveScopeRole } from './token/scopes.js';
import { serviceUserId, type ServiceUsers } from './directus/service-user.js';
import { TokenRejectedError, type RejectionCode } from './token/token-rejected-error.js';
import type { TokenVerifier } from './token/verify-token.js';

/** What is remembered of a verified token, under the hash of its text, until it expires. */
export type VerifiedClient = {
	readonly clientId: string;
	readonly issuedAt: number | undefined;
	readonly expiresAt: number;
} & (
	| { readonly kind: 'service'; readonly userId: string; readonly mapping: ScopeRole }
	| { readonly kind: 'bound'; readonly userReference: string }
);

export interface Logger {
	warn(message: string): void;
	error(message: string): void;
}

export interface AuthenticateDependencies {
	config: Config;
	verifyToken: TokenVerifier;
	verifiedTokens: BoundedCache<string, VerifiedClient>;
	roles: RoleResolver;
	serviceUsers: ServiceUsers;
	/** Needed only when `config.clients` binds clients to existing users. */
	boundUsers?: BoundUsers;
	accountabilities: AccountabilityBuilder;
	logger: Logger;
}

export type AuthenticateFilter = (
	accountability: Accountability,
	meta: Record<string, unknown>,
) => Promise<Accountability>;

export const LOG_PREFIX = '[auth-client-credentials]';

const OPERATOR_PROBLEMS: ReadonlySet<RejectionCode> = new Set(['unknown_role', 'unknown_user', 'jwks_unavailable']);

/**
 * Creates the filter handler, for both `authenticate` (the token Directus extracted into `req.token`) and
 * `websocket.authenticate` (the `access_token` of the WebSocket auth message).
 */
export function createAuthenticate(deps: AuthenticateDependencies): AuthenticateFilter {
	const { config, verifyToken, verifiedTokens, roles, serviceUsers, boundUsers, accountabilities, logger } = deps;
	const bindings = new Map(config.clients.map(({ clientId, user }) => [clientId, user]));

	const verifyClient = async (token: string, cacheKey: string): Promise<VerifiedClient | undefined> => {
		const decoded = decodeUnverified(token);

		// Not ours: Directus's own tokens, static tokens and other issuers' JWTs pass through untouched.
		if (
			!decoded ||
			decoded.payload['iss'] !== config.issuer ||
			!config.recognize(decoded.payload, config.clientClaim)
		) {
			return undefined;
		}

		let verified;

		try {
			verified = await verifyToken(token, decoded);
		} catch (error) {
			throw refusal(error, decoded.payload[config.clientClaim], decoded.header['kid']);
		}

		const reject = (code: 'no_mapped_scope' | 'client_not_allowed', message: string) =>
			refusal(new TokenRejectedError(code, message), verified.clientId, decoded.header['kid']);
		const binding = bindings.get(verified.clientId);
		const lifetime = { clientId: verified.clientId, issuedAt: verified.issuedAt, expiresAt: verified.expiresAt };
		let client: VerifiedClient;

		if (binding !== undefined && binding !== SERVICE_USER_BINDING) {
			// An explicit binding is the authorization: the bound user's own role applies, scopes play no part.
			client = { ...lifetime, kind: 'bound', userReference: binding };
		} else if (binding === undefined && config.clientsOnly) {
			throw reject('client_not_allowed', 'the client is not listed in BCC_AUTH_CLIENTS');
		} else {
			const scopes = readScopes(readClaim(verified.claims, config.scopeClaim));
			const mapping = resolveScopeRole(scopes, config.scopeRoles);
			if (!mapping) throw reject('no_mapped_scope', 'the token carries none of the mapped scopes');
			client = { ...lifetime, kind: 'service', userId: serviceUserId(verified.clientId), mapping };
		}

		// Never past `exp`: once expired the token is verified again, and refused.
		verifiedTokens.set(cacheKey, client, verified.expiresAt * 1000);
		return client;
	};

	return async (accountability, meta) => {
		const token =
			(meta['req'] as { token?: unknown } | undefined)?.token ??
			(meta['message'] as { access_token?: unknown } | undefined)?.access_token;
		if (typeof token !== 'string' || token === '') return accountability;

		const cacheKey = hashToken(token);
		const client = verifiedTokens.get(cacheKey) ?? (await verifyClient(token, cacheKey));
		if (!client) return accountability;

		try {
			if (client.kind === 'bound') {
				if (!boundUsers) throw new Error('client bindings are configured but no bound-user resolver was given');
				const user = await boundUsers.resolve(client.userReference);
				return await accountabilities.build(accountability, user.id, user.role);
			}

			const role = await roles.resolve(client.mapping.role);

			await serviceUsers.ensure({
				userId: client.userId,
				clientId: client.clientId,
				role,
				issuedAt: client.issuedAt,
			});

			return await accountabilities.build(accountability, client.userId, role);
		} catch (error) {
			throw refusal(error, client.clientId, undefined);
		}
	};

	/** Logs one line saying why, and returns the error Directus should answer with. */
	function refusal(error: unknown, clientId: unknown, kid: unknown): Error {
		const who = `client ${printable(clientId)}, kid ${printable(kid)}`;

		if (error instanceof TokenRejectedError) {
			// Configuration problems and issuer outages are the operator's to fix; the rest is the client's.
			const log = OPERATOR_PROBLEMS.has(error.code) ? logger.error : logger.warn;
			log(`${LOG_PREFIX} refused ${error.code}: ${error.message} (${who})`);
			return error.code === 'token_expired' ? new TokenExpiredError() : new InvalidCredentialsError();
		}

		// A database or host fault: say so plainly, and never as a 500 with a stack.
		logger.error(
			`${LOG_PREFIX} could not authenticate (${who}): ${error instanceof Error ? error.message : String(error)}`,
		);
		return new ServiceUnavailableError({
			service: 'auth-client-credentials',
			reason: 'authentication could not be completed',
		});
	}
}

/** The cache key of a token: its SHA-256, so the token's text is not kept once its request is done. */
export function hashToken(token: string): string {
	// The one-shot `hash` skips creating a Hash object: a third of a cache hit's own time otherwise.
	return hash('sha256', token, 'base64url');
}

/** A claim as it may appear in a log line: short, one line, never a whole claim set. */
function printable(value: unknown): string {
	if (value === undefined || value === null) return '-';
	let text: string;

	try {
		text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
	} catch {
		// Why: these claims may be unverified, and JSON.stringify of an array nested thousands deep overflows the
		// stack; a RangeError thrown while refusing a token would escape the filter, and Directus would answer 500.
		text = Array.isArray(value) ? '[…]' : '{…}';
	}

	return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
