import { GUIDE_PROVIDER } from './directus/service-user.js';
import { joinUrl } from './token/discovery.js';
import {
	claimEquals,
	isAccessTokenType,
	PRESET_NAMES,
	PRESETS,
	type PresetName,
	type Recognizer,
} from './token/presets.js';
import type { ScopeRole } from './token/scopes.js';
import { ASYMMETRIC_ALGORITHMS, type Algorithm } from './token/verify-token.js';
import { DPOP_ALGORITHMS, type DpopAlgorithm } from './token/dpop.js';

export { ASYMMETRIC_ALGORITHMS, GUIDE_PROVIDER, joinUrl, type Algorithm, type ScopeRole };

/**
 * Configuration: every `BCC_AUTH_*` variable, parsed once when Directus loads the extension.
 *
 * Directus hands env values over already cast: `a,b` arrives as an array, `5` as a number, `true` as a boolean and
 * `json:{...}` as an object. Each parser below accepts those shapes as well as plain strings.
 */

/** A client id bound to an existing Directus user, or allowed as an auto-provisioned service user. */
export interface ClientBinding {
	readonly clientId: string;
	/** A user id or email; `service-user` keeps the scope mapping and the client's own service user. */
	readonly user: string;
}

/** The binding value that allows a client without tying it to an existing user. */
export const SERVICE_USER_BINDING = 'service-user';

export interface Config {
	/** The exact `iss` the tokens carry. */
	readonly issuer: string;
	/** Accepted `aud` values: a token is accepted when its audience contains any of them. Empty: no `aud` check,
	 * which is only allowed where the client allow-list replaces it (`clientsOnly`). */
	readonly audiences: readonly string[];
	readonly scopeRoles: readonly ScopeRole[];
	readonly preset: PresetName;
	/** The claim naming the client. */
	readonly clientClaim: string;
	/** The claim holding the scopes. */
	readonly scopeClaim: string;
	/** Whether a token of the issuer is a client-credentials token (checked before verification). */
	readonly recognize: Recognizer;
	/** `at+jwt`: a recognised token whose header `typ` is not `at+jwt` is refused (RFC 9068 §4); `undefined`: any. */
	readonly tokenType: 'at+jwt' | undefined;
	/** Take the JWKS URI from the issuer's OpenID discovery document. */
	readonly discovery: boolean;
	/** `undefined` when `discovery` is on. */
	readonly jwksUri: string | undefined;
	readonly clients: readonly ClientBinding[];
	/** Refuse clients that `clients` does not list. */
	readonly clientsOnly: boolean;
	readonly algorithms: readonly Algorithm[];
	/** Seconds of leeway on `exp` and `nbf`. */
	readonly clockTolerance: number;
	/** `auto`: the guide's provider, or `default` where the host refuses custom providers (Directus 12 Core). */
	readonly userProvider: string;
	/** How long a JWKS request may take before it is abandoned, in milliseconds. */
	readonly jwksTimeoutMs: number;
	/** At most this many JWKS fetches in any minute (unknown `kid`s and background refreshes together). */
	readonly jwksRequestsPerMinute: number;
	/** One line per deprecated variable in use, for the start-up log. */
	readonly deprecations: readonly string[];
	/** How many verified tokens are remembered until they expire. */
	readonly tokenCacheMax: number;
	/** How long service-user and role state is trusted before it is read again, in milliseconds. */
	readonly stateTtlMs: number;
	/** `allowed`: DPoP-bound tokens need a proof, others pass as bearer tokens; `required`: every token is bound. */
	readonly dpop: DpopMode;
	/** Algorithms a DPoP proof may be signed with. */
	readonly dpopAlgorithms: readonly DpopAlgorithm[];
	/** How far, in seconds, a DPoP proof's `iat` may be from now (plus `clockTolerance`). */
	readonly dpopIatWindow: number;
	/** Directus's `PUBLIC_URL` when it is an absolute URL: the base of the `htu` a proof must name. */
	readonly publicUrl: string | undefined;
}

/** Defaults of the optional variables; the README's configuration table mirrors this. */
export const DEFAULTS = {
	BCC_AUTH_PRESET: 'auth0',
	BCC_AUTH_ALGORITHMS: ['RS256'],
	BCC_AUTH_CLOCK_TOLERANCE: 5,
	BCC_AUTH_USER_PROVIDER: 'auto',
	BCC_AUTH_JWKS_TIMEOUT: 5000,
	BCC_AUTH_JWKS_REQUESTS_PER_MINUTE: 10,
	BCC_AUTH_TOKEN_CACHE_MAX: 10000,
	BCC_AUTH_STATE_TTL: 10,
	BCC_AUTH_DPOP: 'allowed',
	BCC_AUTH_DPOP_ALGORITHMS: ['ES256', 'EdDSA', 'PS256', 'RS256'],
	BCC_AUTH_DPOP_IAT_WINDOW: 60,
} as const;

/** The DPoP modes of `BCC_AUTH_DPOP`. */
export const DPOP_MODES = ['allowed', 'required'] as const;

export type DpopMode = (typeof DPOP_MODES)[number];

/** Thrown when the configuration is unusable; its message names every faulty variable. */
export class ConfigError extends Error {
	constructor(readonly problems: readonly string[]) {
		super(`directus-extension-auth-client-credentials is not configured:\n- ${problems.join('\n- ')}`);
		this.name = 'ConfigError';
	}
}

type Env = Record<string, unknown>;

/** Parses and validates the extension's variables; collects every problem and throws one `ConfigError`. */
export function parseConfig(env: Env): Config {
	const problems: string[] = [];

	const read = <T>(name: string, parse: (value: unknown) => T, fallback?: T): T => {
		const value = env[name];

		if (value === undefined || value === null || value === '') {
			if (fallback !== undefined) return fallback;
			problems.push(`${name} is required`);
			return undefined as T;
		}

		try {
			return parse(value);
		} catch (error) {
			problems.push(`${name} ${(error as Error).message}`);
			return undefined as T;
		}
	};

	const issuer = read('BCC_AUTH_ISSUER', parseIssuer);
	const preset = read('BCC_AUTH_PRESET', oneOf(PRESET_NAMES), DEFAULTS.BCC_AUTH_PRESET);
	const presetShape = PRESETS[preset ?? DEFAULTS.BCC_AUTH_PRESET];
	const discovery = read('BCC_AUTH_DISCOVERY', parseBoolean, false);
	const clients = read('BCC_AUTH_CLIENTS', parseClients, []);
	const explicitClientsOnly = read('BCC_AUTH_CLIENTS_ONLY', parseBoolean, false);
	// Where the server sets no `aud` (Cognito), the audience may be left out, but only for an allow-list.
	const audiences = read('BCC_AUTH_AUDIENCE', parseList, presetShape.withoutAudience ? [] : undefined);

	if (audiences?.length === 0 && clients?.length === 0) {
		problems.push(
			`BCC_AUTH_AUDIENCE is required, or, with BCC_AUTH_PRESET=${preset} whose tokens carry no aud, BCC_AUTH_CLIENTS must list the allowed clients`,
		);
	}

	const grantClaim = read('BCC_AUTH_GRANT_CLAIM', parseName, '');
	const grantValue = read('BCC_AUTH_GRANT_VALUE', singleString, '');

	if ((grantClaim === '') !== (grantValue === '')) {
		problems.push('BCC_AUTH_GRANT_CLAIM and BCC_AUTH_GRANT_VALUE must be set together');
	}

	if (discovery && env['BCC_AUTH_JWKS_URI']) {
		problems.push('BCC_AUTH_JWKS_URI and BCC_AUTH_DISCOVERY=true both say where the keys are: set one of them');
	}

	const scopeRoles = read('BCC_AUTH_SCOPE_ROLES', parseScopeRoles, clients?.length ? [] : undefined);

	// Without an `aud` check (Cognito), a mapped scope is the only sign that a token was issued for this API and not
	// for another resource server of the same pool: bound clients need one too, so the mapping cannot be left out.
	if (audiences?.length === 0 && scopeRoles?.length === 0) {
		problems.push(
			'BCC_AUTH_SCOPE_ROLES is required without BCC_AUTH_AUDIENCE: with no audience to check, every client, bound ones included, must carry one of its scopes',
		);
	}

	const jwksRate = readJwksRate(read);

	const config: Config = {
		issuer,
		audiences,
		scopeRoles,
		preset,
		clientClaim: read('BCC_AUTH_CLIENT_CLAIM', parseName, presetShape.clientClaim),
		scopeClaim: read('BCC_AUTH_SCOPE_CLAIM', parseName, presetShape.scopeClaim),
		recognize: grantClaim && grantValue ? claimEquals(grantClaim, grantValue) : presetShape.recognize,
		tokenType: read<'at+jwt' | ''>('BCC_AUTH_TOKEN_TYPE', parseTokenType, '') || undefined,
		discovery,
		jwksUri: discovery
			? undefined
			: read('BCC_AUTH_JWKS_URI', parseUrl, issuer ? joinUrl(issuer, '.well-known/jwks.json') : ''),
		clients,
		clientsOnly: explicitClientsOnly || audiences?.length === 0,
		algorithms: read('BCC_AUTH_ALGORITHMS', asymmetricAlgorithms(ASYMMETRIC_ALGORITHMS), [
			...DEFAULTS.BCC_AUTH_ALGORITHMS,
		]),
		clockTolerance: read('BCC_AUTH_CLOCK_TOLERANCE', nonNegativeNumber(300), DEFAULTS.BCC_AUTH_CLOCK_TOLERANCE),
		userProvider: read('BCC_AUTH_USER_PROVIDER', parseProvider, DEFAULTS.BCC_AUTH_USER_PROVIDER),
		jwksTimeoutMs: read('BCC_AUTH_JWKS_TIMEOUT', positiveInteger, DEFAULTS.BCC_AUTH_JWKS_TIMEOUT),
		jwksRequestsPerMinute: jwksRate.requestsPerMinute,
		deprecations: jwksRate.deprecations,
		tokenCacheMax: read('BCC_AUTH_TOKEN_CACHE_MAX', positiveInteger, DEFAULTS.BCC_AUTH_TOKEN_CACHE_MAX),
		stateTtlMs: read('BCC_AUTH_STATE_TTL', nonNegativeNumber(86_400), DEFAULTS.BCC_AUTH_STATE_TTL) * 1000,
		dpop: read('BCC_AUTH_DPOP', oneOf(DPOP_MODES), DEFAULTS.BCC_AUTH_DPOP),
		dpopAlgorithms: read('BCC_AUTH_DPOP_ALGORITHMS', asymmetricAlgorithms(DPOP_ALGORITHMS), [
			...DEFAULTS.BCC_AUTH_DPOP_ALGORITHMS,
		]),
		dpopIatWindow: read('BCC_AUTH_DPOP_IAT_WINDOW', positiveNumber(300), DEFAULTS.BCC_AUTH_DPOP_IAT_WINDOW),
		// Directus's own variable, never a problem of ours: its default `/` is relative, and then `htu` is built from
		// the request's own protocol and Host (see `src/directus/dpop-request.ts`).
		publicUrl: absolutePublicUrl(env['PUBLIC_URL']),
	};

	if (problems.length > 0) throw new ConfigError(problems);

	return Object.freeze(config);
}

type Read = <T>(name: string, parse: (value: unknown) => T, fallback?: T) => T;

/** The JWKS fetch rate, from `BCC_AUTH_JWKS_REQUESTS_PER_MINUTE` or the deprecated `BCC_AUTH_JWKS_COOLDOWN`. */
function readJwksRate(read: Read): { requestsPerMinute: number; deprecations: string[] } {
	const perMinute = read<number | null>('BCC_AUTH_JWKS_REQUESTS_PER_MINUTE', positiveIntegerUpTo(600), null);
	// Why still read: `BCC_AUTH_JWKS_COOLDOWN` (ms between two fetches) held a rotated key back for up to 30 s and
	// was replaced by a rate limit; a value set before an upgrade must still parse, and keeps the load it allowed.
	const cooldownMs = read<number | null>('BCC_AUTH_JWKS_COOLDOWN', nonNegativeNumber(3_600_000), null);
	const fallback = DEFAULTS.BCC_AUTH_JWKS_REQUESTS_PER_MINUTE;

	// `undefined` is a value that did not parse: its problem is already collected.
	if (cooldownMs === null || cooldownMs === undefined) {
		return { requestsPerMinute: perMinute ?? fallback, deprecations: [] };
	}

	if (perMinute !== null) {
		return {
			requestsPerMinute: perMinute ?? fallback,
			deprecations: ['BCC_AUTH_JWKS_COOLDOWN is deprecated and ignored, as BCC_AUTH_JWKS_REQUESTS_PER_MINUTE is set'],
		};
	}

	// One fetch per cooldown is this many a minute; 0 (no cooldown) gets the highest rate.
	const requestsPerMinute = cooldownMs === 0 ? 600 : Math.min(600, Math.max(1, Math.floor(60_000 / cooldownMs)));
	return {
		requestsPerMinute,
		deprecations: [
			`BCC_AUTH_JWKS_COOLDOWN is deprecated: ${cooldownMs} ms is read as BCC_AUTH_JWKS_REQUESTS_PER_MINUTE=${requestsPerMinute}; set that instead`,
		],
	};
}

function parseIssuer(value: unknown): string {
	const issuer = singleString(value);
	// The issuer must be a URL: its JWKS address is derived from it, and a typo here would silently match nothing.
	parseUrl(issuer);
	return issuer;
}

function parseUrl(value: unknown): string {
	const text = singleString(value);
	let url: URL;

	try {
		url = new URL(text);
	} catch {
		throw new Error(`must be an absolute http(s) URL, got "${text}"`);
	}

	if (url.protocol !== 'https:' && url.protocol !== 'http:') {
		throw new Error(`must be an absolute http(s) URL, got "${text}"`);
	}

	return text;
}

/** A comma-separated list, or the array Directus makes of one. */
function parseList(value: unknown): string[] {
	const items = (Array.isArray(value) ? value : String(value).split(','))
		.map((item) => String(item).trim())
		.filter((item) => item !== '');

	if (items.length === 0) throw new Error('must list at least one value');

	return items;
}

function parseScopeRoles(value: unknown): ScopeRole[] {
	let pairs: ScopeRole[];

	if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
		// `json:{"scope":"role"}`: object keys keep the order they were written in.
		pairs = Object.entries(value).map(([scope, role]) => ({ scope: scope.trim(), role: String(role).trim() }));
	} else {
		pairs = parseList(value).map((pair) => {
			const separator = pair.indexOf('=');

			if (separator <= 0 || separator === pair.length - 1) {
				throw new Error(`must be comma-separated scope=role pairs, got "${pair}"`);
			}

			return { scope: pair.slice(0, separator).trim(), role: pair.slice(separator + 1).trim() };
		});
	}

	if (pairs.length === 0) throw new Error('must map at least one scope to a role');

	for (const { scope, role } of pairs) {
		if (scope === '' || role === '' || /\s/.test(scope)) {
			throw new Error(`has an invalid pair "${scope}=${role}" (a scope has no spaces; both sides are required)`);
		}
	}

	return pairs;
}

/** Comma-separated `client=user` pairs, or a `json:` object; user = id, email or `service-user`. */
function parseClients(value: unknown): ClientBinding[] {
	const pairs =
		typeof value === 'object' && value !== null && !Array.isArray(value)
			? Object.entries(value).map(([clientId, user]) => [clientId, String(user)] as const)
			: parseList(value).map((pair) => {
					const separator = pair.lastIndexOf('=');
					if (separator <= 0 || separator === pair.length - 1) {
						throw new Error(`must be comma-separated client=user pairs, got "${pair}"`);
					}
					return [pair.slice(0, separator), pair.slice(separator + 1)] as const;
				});

	const bindings = pairs.map(([clientId, user]) => ({ clientId: clientId.trim(), user: user.trim() }));
	const seen = new Set<string>();

	for (const { clientId, user } of bindings) {
		if (clientId === '' || user === '') throw new Error(`has an empty client or user in "${clientId}=${user}"`);
		if (seen.has(clientId)) throw new Error(`lists client "${clientId}" twice`);
		seen.add(clientId);
	}

	return bindings;
}

/** One of `choices`, in any case. */
function oneOf<T extends string>(choices: readonly T[]) {
	return (value: unknown): T => {
		const choice = singleString(value).toLowerCase();
		if (!(choices as readonly string[]).includes(choice)) {
			throw new Error(`must be one of ${choices.join(', ')}, got "${choice}"`);
		}
		return choice as T;
	};
}

/** `at+jwt` in any case, with or without `application/` (RFC 7515 §4.1.9): the one type RFC 9068 defines. */
function parseTokenType(value: unknown): 'at+jwt' {
	const type = singleString(value);
	if (!isAccessTokenType(type)) throw new Error(`must be at+jwt (or application/at+jwt), got "${type}"`);
	return 'at+jwt';
}

function parseBoolean(value: unknown): boolean {
	if (value === true || value === 'true') return true;
	if (value === false || value === 'false') return false;
	throw new Error(`must be true or false, got "${String(value)}"`);
}

/** A claim name or dotted path. */
function parseName(value: unknown): string {
	const name = singleString(value);
	if (!/^[A-Za-z0-9_:.-]+$/.test(name)) throw new Error(`must be a claim name, got "${name}"`);
	return name;
}

/**
 * A list of algorithms from `allowed`. Why only asymmetric ones, for tokens and DPoP proofs alike: with `none` or HMAC
 * anyone holding the public key (or, for a proof, whose key travels in the proof itself) could sign.
 */
function asymmetricAlgorithms<T extends string>(allowed: readonly T[]) {
	return (value: unknown): T[] => {
		const algorithms = parseList(value);

		for (const algorithm of algorithms) {
			if (!(allowed as readonly string[]).includes(algorithm)) {
				throw new Error(`accepts only asymmetric algorithms (${allowed.join(', ')}), got "${algorithm}"`);
			}
		}

		return algorithms as T[];
	};
}

function absolutePublicUrl(value: unknown): string | undefined {
	if (typeof value !== 'string') return undefined;
	try {
		return parseUrl(value);
	} catch {
		return undefined;
	}
}

function positiveNumber(max: number) {
	return (value: unknown): number => {
		const number = Number(value);
		if (!Number.isFinite(number) || number <= 0 || number > max) {
			throw new Error(`must be a number above 0, up to ${max}, got "${String(value)}"`);
		}
		return number;
	};
}

function parseProvider(value: unknown): string {
	const provider = singleString(value);
	if (!/^[a-z0-9_-]+$/i.test(provider)) throw new Error(`must be "auto" or a provider name, got "${provider}"`);
	return provider;
}

function nonNegativeNumber(max: number) {
	return (value: unknown): number => {
		const number = Number(value);
		if (!Number.isFinite(number) || number < 0 || number > max) {
			throw new Error(`must be a number from 0 to ${max}, got "${String(value)}"`);
		}
		return number;
	};
}

function positiveIntegerUpTo(max: number) {
	return (value: unknown): number => {
		const number = Number(value);
		if (!Number.isSafeInteger(number) || number < 1 || number > max) {
			throw new Error(`must be an integer from 1 to ${max}, got "${String(value)}"`);
		}
		return number;
	};
}

function positiveInteger(value: unknown): number {
	const number = Number(value);
	if (!Number.isSafeInteger(number) || number <= 0)
		throw new Error(`must be a positive integer, got "${String(value)}"`);
	return number;
}

function singleString(value: unknown): string {
	if (Array.isArray(value)) throw new Error(`must be a single value, got a list "${value.join(',')}"`);
	if (typeof value === 'object') throw new Error('must be a single value, got an object');
	return String(value).trim();
}
