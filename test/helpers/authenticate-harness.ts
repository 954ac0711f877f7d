/**
 * The `authenticate` filter as the unit tests build it: real verification against a local issuer's JWKS on
 * 127.0.0.1, recording stubs for the database-backed parts (the end-to-end suite proves those against Directus).
 */
import type { Accountability } from '@directus/types';
import type { startLocalIssuer } from '../../dev/local-issuer.mjs';
import { createAuthenticate, type AuthenticateFilter, type VerifiedClient } from '../../src/authenticate.js';
import { parseConfig } from '../../src/config.js';
import type { BoundUsers } from '../../src/directus/bound-users.js';
import type { RoleResolver } from '../../src/directus/roles.js';
import { serviceUserId, type ServiceUserRequest } from '../../src/directus/service-user.js';
import { BoundedCache } from '../../src/sync/bounded-cache.js';
import type { ReplayStore } from '../../src/token/dpop.js';
import { createKeyResolver } from '../../src/token/jwks.js';
import { createTokenVerifier } from '../../src/token/verify-token.js';

/** A running `dev/local-issuer.mjs` issuer. */
export type LocalIssuer = Awaited<ReturnType<typeof startLocalIssuer>>;

/** The role every mapped scope resolves to, unless `roles` is stubbed otherwise. */
export const ROLE = '00000000-0000-4000-8000-00000000000a';

/** The accountability Directus hands the filter for a request it has not authenticated. */
export const base: Accountability = { role: null, user: null, roles: [], admin: false, app: false, ip: '127.0.0.1' };

/** What a test may change; everything else is the stub the three filter suites share. */
export interface AuthenticateHarnessOptions {
	/** Variables on top of the issuer, its audience and `BCC_AUTH_SCOPE_ROLES=svc#read=Readers`. */
	env?: Record<string, unknown>;
	/** Runs after each `serviceUsers.ensure` is recorded: throw to play a suspended user or a database fault. */
	onEnsure?: (request: ServiceUserRequest) => Promise<void>;
	/** Default: every scope resolves to {@link ROLE}. */
	roles?: RoleResolver;
	/** Default: none (no `BCC_AUTH_CLIENTS` binding resolves). */
	boundUsers?: BoundUsers;
	/** Default: the filter's own in-process store. */
	dpopReplay?: ReplayStore;
}

/** The filter with what it did: the service users it asked for, its log lines and its token cache. */
export interface AuthenticateHarness {
	filter: AuthenticateFilter;
	/** Every `serviceUsers.ensure` request, in order. */
	ensured: ServiceUserRequest[];
	/** Every log line, prefixed with its level (`warn …`, `error …`). */
	logs: string[];
	verifiedTokens: BoundedCache<string, VerifiedClient>;
	/** How many tokens reached signature verification (the token cache missed). */
	readonly verifyCalls: number;
}

/** Builds a fresh filter, with fresh records, for `issuer`. */
export function authenticateHarness(
	issuer: LocalIssuer,
	options: AuthenticateHarnessOptions = {},
): AuthenticateHarness {
	const config = parseConfig({
		BCC_AUTH_ISSUER: issuer.issuer,
		BCC_AUTH_AUDIENCE: issuer.audience,
		BCC_AUTH_SCOPE_ROLES: 'svc#read=Readers',
		...options.env,
	});
	const verify = createTokenVerifier({
		...config,
		keys: createKeyResolver({ jwksUri: `${issuer.url}/.well-known/jwks.json`, timeoutMs: 1000 }),
	});
	const ensured: ServiceUserRequest[] = [];
	const logs: string[] = [];
	const verifiedTokens = new BoundedCache<string, VerifiedClient>(100);
	let verifyCalls = 0;

	const filter = createAuthenticate({
		config,
		verifyToken: (token, decoded) => {
			verifyCalls++;
			return verify(token, decoded);
		},
		verifiedTokens,
		roles: options.roles ?? { resolve: async () => ROLE, clear: () => undefined },
		serviceUsers: {
			ensure: async (request) => {
				ensured.push(request);
				await options.onEnsure?.(request);
				return serviceUserId(request.clientId);
			},
			forget: () => undefined,
			clear: () => undefined,
		},
		boundUsers: options.boundUsers,
		accountabilities: {
			build: async (accountability, user, role) => ({ ...accountability, user, role, roles: role ? [role] : [] }),
			clear: () => undefined,
		},
		logger: { warn: (line) => logs.push(`warn ${line}`), error: (line) => logs.push(`error ${line}`) },
		dpopReplay: options.dpopReplay,
	});

	return {
		filter,
		ensured,
		logs,
		verifiedTokens,
		get verifyCalls() {
			return verifyCalls;
		},
	};
}
