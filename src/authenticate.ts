/**
 * The `authenticate` filter: recognises client-credentials tokens of the configured issuer, verifies them, and
 * answers with the service user's accountability. The one place that maps failures to Directus errors and logs.
 */
import { hash } from 'node:crypto';
import { InvalidCredentialsError, ServiceUnavailableError, TokenExpiredError } from '@directus/errors';
import type { Accountability } from '@directus/types';
import { SERVICE_USER_BINDING, type Config, type ScopeRole } from './config.js';
import type { AccountabilityBuilder } from './directus/accountability.js';
import type { BoundUsers } from './directus/bound-users.js';
import { readPresentedToken, setResponseHeader, type PresentedToken } from './directus/dpop-request.js';
import type { RoleResolver } from './directus/roles.js';
import type { ServiceUsers } from './directus/service-user.js';
import type { BoundedCache } from './sync/bounded-cache.js';
import { createLocalReplayStore, type ReplayStore } from './sync/dpop-replay.js';
import { decodeUnverified } from './token/decode-jwt.js';
import { createDpopVerifier } from './token/dpop.js';
import { isAccessTokenType, readClaim } from './token/presets.js';
import { describeError, printable } from './token/printable.js';
import { readScopes, resolveScopeRole } from './token/scopes.js';
import { TokenRejectedError, type RejectionCode } from './token/token-rejected-error.js';
import type { TokenVerifier } from './token/verify-token.js';
import { formatChallenge } from './token/www-authenticate.js';

/** What is remembered of a verified token, under the hash of its text, until it expires. */
export type VerifiedClient = {
	readonly clientId: string;
	readonly issuedAt: number | undefined;
	readonly expiresAt: number;
	/** The token's `cnf.jkt` when it is DPoP-bound: every request must then carry a proof signed with that key. */
	readonly jkt: string | undefined;
} & (
	{ readonly kind: 'service'; readonly mapping: ScopeRole } | { readonly kind: 'bound'; readonly userReference: string }
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
	/** Where used DPoP proofs are remembered; by default in this process only (see `src/sync/dpop-replay.ts`). */
	dpopReplay?: ReplayStore;
	/** Told of every WebSocket connection's accountability this filter made, so open connections can be revoked. */
	onWebSocketAccepted?: (accountability: Accountability, client: VerifiedClient) => void;
}

export interface AuthenticateFilter {
	(accountability: Accountability, meta: Record<string, unknown>): Promise<Accountability>;
	/**
	 * Authorizes an already verified client again, against the current state: how an open connection is checked
	 * after an admin's change. Throws as the filter would (a `TokenRejectedError` when refused).
	 */
	authorize?: (client: VerifiedClient, base: Accountability) => Promise<Accountability>;
}

export const LOG_PREFIX = '[auth-client-credentials]';

const OPERATOR_PROBLEMS: ReadonlySet<RejectionCode> = new Set([
	'unknown_role',
	'unknown_user',
	'jwks_unavailable',
	'user_not_creatable',
]);

/** The code behind each refusal answered, so that its `WWW-Authenticate` challenge can say why. */
const REFUSAL_CODES = new WeakMap<Error, RejectionCode>();

/**
 * Creates the filter handler, for both `authenticate` (the token Directus extracted into `req.token`) and
 * `websocket.authenticate` (the `access_token` of the WebSocket auth message).
 */
export function createAuthenticate(deps: AuthenticateDependencies): AuthenticateFilter {
	const { config, verifyToken, verifiedTokens, roles, serviceUsers, boundUsers, accountabilities, logger } = deps;
	const bindings = new Map(config.clients.map(({ clientId, user }) => [clientId, user]));
	const verifyDpopProof = createDpopVerifier({
		algorithms: config.dpopAlgorithms,
		iatWindow: config.dpopIatWindow,
		clockTolerance: config.clockTolerance,
		replay: deps.dpopReplay ?? createLocalReplayStore(),
	});

	const verifyClient = async (token: string, cacheKey: string): Promise<VerifiedClient | undefined> => {
		const decoded = decodeUnverified(token);

		// Not ours: Directus's own tokens, static tokens and other issuers' JWTs pass through untouched.
		if (
			!decoded ||
			decoded.payload['iss'] !== config.issuer ||
			!config.recognize(decoded.payload, config.clientClaim, decoded.header)
		) {
			return undefined;
		}

		let verified;

		try {
			verified = await verifyToken(token, decoded);
		} catch (error) {
			throw refusal(error, decoded.payload[config.clientClaim], decoded.header['kid']);
		}

		const reject = (code: 'no_mapped_scope' | 'client_not_allowed' | 'invalid_token_type', message: string) =>
			refusal(new TokenRejectedError(code, message), verified.clientId, decoded.header['kid']);

		// RFC 9068 §4: when access tokens are typed, a token of another type (an ID token, say) is refused, and logged,
		// rather than left to Directus.
		if (config.tokenType && !isAccessTokenType(decoded.header['typ'])) {
			throw reject('invalid_token_type', `typ ${printable(decoded.header['typ'])} is not ${config.tokenType}`);
		}

		const binding = bindings.get(verified.clientId);
		const jkt = readJkt(verified.claims['cnf']);
		if (jkt === null) {
			// Why: a token bound to something this extension cannot check (an mTLS certificate, RFC 8705) must not
			// become a bearer token here.
			const error = new TokenRejectedError('dpop_unsupported_confirmation', 'the token is bound by a cnf without jkt');
			throw refusal(error, verified.clientId, decoded.header['kid']);
		}
		const lifetime = { clientId: verified.clientId, issuedAt: verified.issuedAt, expiresAt: verified.expiresAt, jkt };
		let client: VerifiedClient;

		if (binding !== undefined && binding !== SERVICE_USER_BINDING) {
			// An explicit binding is the authorization: the bound user's own role applies, scopes play no part, except
			// without an `aud` check (Cognito), where only a mapped scope shows the token was issued for this API.
			if (
				config.audiences.length === 0 &&
				!resolveScopeRole(readScopes(readClaim(verified.claims, config.scopeClaim)), config.scopeRoles)
			) {
				throw reject('no_mapped_scope', 'without an audience check, a bound client needs a mapped scope too');
			}
			client = { ...lifetime, kind: 'bound', userReference: binding };
		} else if (binding === undefined && config.clientsOnly) {
			throw reject('client_not_allowed', 'the client is not listed in BCC_AUTH_CLIENTS');
		} else {
			const scopes = readScopes(readClaim(verified.claims, config.scopeClaim));
			const mapping = resolveScopeRole(scopes, config.scopeRoles);
			if (!mapping) throw reject('no_mapped_scope', 'the token carries none of the mapped scopes');
			client = { ...lifetime, kind: 'service', mapping };
		}

		// Never past `exp`: once expired the token is verified again, and refused.
		verifiedTokens.set(cacheKey, client, verified.expiresAt * 1000);
		return client;
	};

	/** Whether the request was sent the way the token demands: the DPoP proof, on every request, cache hit or not. */
	const checkSender = async (client: VerifiedClient, presented: PresentedToken, tokenHash: string): Promise<void> => {
		try {
			if (client.jkt === undefined) {
				if (config.dpop === 'required') {
					throw new TokenRejectedError('dpop_required', 'BCC_AUTH_DPOP=required and the token is not DPoP-bound');
				}
				if (presented.scheme === 'dpop') {
					throw new TokenRejectedError(
						'dpop_token_not_bound',
						'the DPoP scheme was used for a token that is not bound',
					);
				}
				return;
			}

			if (presented.scheme !== 'dpop') {
				// Why: the WebSocket auth message carries no proof and no request to bind one to; refused, not served
				// as a bearer token. And (RFC 9449 §7.2) a bound token sent as Bearer is exactly what a thief would send.
				throw presented.scheme === 'websocket'
					? new TokenRejectedError('dpop_websocket_unsupported', 'a DPoP-bound token cannot authenticate a WebSocket')
					: new TokenRejectedError('dpop_bound_token_as_bearer', 'a DPoP-bound token was sent with the Bearer scheme');
			}

			await verifyDpopProof({ ...presented, accessTokenHash: tokenHash, jkt: client.jkt });
		} catch (error) {
			throw refusal(error, client.clientId, undefined);
		}
	};

	const filter: AuthenticateFilter = async (accountability, meta) => {
		const presented = readPresentedToken(meta, config.publicUrl);
		if (!presented) return accountability;

		try {
			return await authenticatePresented(accountability, meta, presented);
		} catch (error) {
			const code = error instanceof Error ? REFUSAL_CODES.get(error) : undefined;
			// RFC 6750 §3: a refused token gets a challenge; a host fault (503) does not. Directus's error handler
			// keeps headers set before the throw, and its JSON body and codes stay as they are.
			if (code !== undefined) {
				const dpop = presented.scheme === 'dpop' || code === 'dpop_bound_token_as_bearer' || code === 'dpop_required';
				setResponseHeader(
					meta,
					'WWW-Authenticate',
					formatChallenge(dpop ? 'DPoP' : 'Bearer', code, config.dpopAlgorithms),
				);
			}
			throw error;
		}
	};

	const authenticatePresented = async (
		accountability: Accountability,
		meta: Record<string, unknown>,
		presented: PresentedToken,
	): Promise<Accountability> => {
		const cacheKey = hashToken(presented.token);
		const client = verifiedTokens.get(cacheKey) ?? (await verifyClient(presented.token, cacheKey));
		if (!client) return accountability;

		// Before anything is read or written for the client: a refused proof leaves no trace but a log line. (A plain
		// bearer token, the common case, skips the call and its await.)
		if (client.jkt !== undefined || presented.scheme === 'dpop' || config.dpop === 'required') {
			await checkSender(client, presented, cacheKey);
		}

		try {
			const result = await authorize(client, accountability);
			if (meta['message'] !== undefined) deps.onWebSocketAccepted?.(result, client);
			return result;
		} catch (error) {
			throw refusal(error, client.clientId, undefined);
		}
	};

	/** The accountability a verified client gets now: its user (created on first sight), role tree and access. */
	async function authorize(client: VerifiedClient, base: Accountability): Promise<Accountability> {
		if (client.kind === 'bound') {
			if (!boundUsers) throw new Error('client bindings are configured but no bound-user resolver was given');
			const user = await boundUsers.resolve(client.userReference);
			return await accountabilities.build(base, user.id, user.role);
		}

		const role = await roles.resolve(client.mapping.role);
		const userId = await serviceUsers.ensure({ clientId: client.clientId, role, issuedAt: client.issuedAt });
		return await accountabilities.build(base, userId, role);
	}

	filter.authorize = authorize;
	return filter;

	/** Logs one line saying why, and returns the error Directus should answer with. */
	function refusal(error: unknown, clientId: unknown, kid: unknown): Error {
		const who = `client ${printable(clientId)}, kid ${printable(kid)}`;

		if (error instanceof TokenRejectedError) {
			// Configuration problems and issuer outages are the operator's to fix; the rest is the client's.
			const log = OPERATOR_PROBLEMS.has(error.code) ? logger.error : logger.warn;
			log(`${LOG_PREFIX} refused ${error.code}: ${error.message} (${who})`);
			const answer = error.code === 'token_expired' ? new TokenExpiredError() : new InvalidCredentialsError();
			REFUSAL_CODES.set(answer, error.code);
			return answer;
		}

		// A database or host fault: say so plainly, and never as a 500 with a stack.
		logger.error(`${LOG_PREFIX} could not authenticate (${who}): ${describeError(error)}`);
		return new ServiceUnavailableError({
			service: 'auth-client-credentials',
			reason: 'authentication could not be completed',
		});
	}
}

/** A `cnf` claim's `jkt`: `undefined` when the token is not bound, `null` when bound by something else. */
function readJkt(cnf: unknown): string | undefined | null {
	if (cnf === undefined) return undefined;
	const jkt = typeof cnf === 'object' && cnf !== null ? (cnf as Record<string, unknown>)['jkt'] : undefined;
	return typeof jkt === 'string' && jkt !== '' ? jkt : null;
}

/** The cache key of a token: its SHA-256, so the token's text is not kept once its request is done. */
export function hashToken(token: string): string {
	// The one-shot `hash` skips creating a Hash object: a third of a cache hit's own time otherwise.
	return hash('sha256', token, 'base64url');
}
