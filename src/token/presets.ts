/**
 * How each authorization server shapes a client-credentials access token: which claim names the client, where the
 * scopes are, and how such a token is told apart from a user's. Claim names and types follow each vendor's public
 * documentation of its access tokens.
 */

export const PRESET_NAMES = ['auth0', 'okta', 'entra', 'keycloak', 'cognito', 'rfc9068'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/**
 * Decides, before verification, whether a token with the configured issuer is a client-credentials token, from its
 * unverified claims and header (RFC 9068 marks access tokens in the header's `typ`).
 */
export type Recognizer = (
	claims: Readonly<Record<string, unknown>>,
	clientClaim: string,
	header: Readonly<Record<string, unknown>>,
) => boolean;

export interface Preset {
	/** The claim holding the client's identifier. */
	readonly clientClaim: string;
	/** The claim holding the granted scopes (a space-separated string or an array); dotted paths reach nested ones. */
	readonly scopeClaim: string;
	/** A short description of `recognize`, for the README and log lines. */
	readonly recognizedBy: string;
	readonly recognize: Recognizer;
	/** The server issues no `aud` for these tokens: the client allow-list must stand in for the audience check. */
	readonly withoutAudience: boolean;
}

/** A recognizer for "claim equals value", which is what an explicit `BCC_AUTH_GRANT_CLAIM` configures. */
export function claimEquals(claim: string, value: string): Recognizer {
	return (claims) => claims[claim] === value;
}

/**
 * Whether a header `typ` names a JWT access token: `at+jwt` (RFC 9068 §2.1), compared case-insensitively and with
 * the `application/` prefix allowed, as RFC 7515 §4.1.9 says media types are.
 */
export function isAccessTokenType(typ: unknown): boolean {
	return typeof typ === 'string' && /^(application\/)?at\+jwt$/i.test(typ);
}

export const PRESETS: Readonly<Record<PresetName, Preset>> = {
	// Auth0 writes the grant type into every access token it issues to an M2M application.
	auth0: {
		clientClaim: 'sub',
		scopeClaim: 'scope',
		recognizedBy: 'gty = "client-credentials"',
		recognize: claimEquals('gty', 'client-credentials'),
		withoutAudience: false,
	},
	// Okta: a service app's token has the client id as both `cid` and `sub`; a user's `sub` is the user's login, and
	// only user tokens carry `uid`, so a person whose login happens to equal a client id is still not taken for it.
	okta: {
		clientClaim: 'cid',
		scopeClaim: 'scp',
		recognizedBy: 'sub = cid and no uid',
		recognize: (claims) => typeof claims['cid'] === 'string' && claims['sub'] === claims['cid'] && !('uid' in claims),
		withoutAudience: false,
	},
	// Entra ID: app-only tokens carry `idtyp: "app"` (optional claim), or else have no `scp` and `sub` = `oid`.
	entra: {
		clientClaim: 'azp',
		scopeClaim: 'roles',
		recognizedBy: 'idtyp = "app" (or no scp and sub = oid)',
		recognize: (claims) =>
			claims['idtyp'] === 'app' ||
			(claims['scp'] === undefined && typeof claims['oid'] === 'string' && claims['sub'] === claims['oid']),
		withoutAudience: false,
	},
	// Keycloak: the `service_account` client scope's "Client ID" mapper writes the client id into service-account
	// tokens from a session note that only the client-credentials grant sets (`client_id`; `clientId` before Keycloak
	// renamed it), so no person can make a token carry it. The username "service-account-<client id>" is only a
	// fallback, for realms whose mapper was removed: Keycloak stores usernames lower-cased, hence case-insensitive.
	keycloak: {
		clientClaim: 'azp',
		scopeClaim: 'scope',
		recognizedBy: 'client_id (or clientId) = azp; else preferred_username = "service-account-" + azp, any case',
		recognize: (claims) => {
			const azp = claims['azp'];
			if (typeof azp !== 'string' || azp === '') return false;
			if (claims['client_id'] === azp || claims['clientId'] === azp) return true;
			const username = claims['preferred_username'];
			return typeof username === 'string' && username.toLowerCase() === `service-account-${azp.toLowerCase()}`;
		},
		withoutAudience: false,
	},
	// Cognito: access tokens of the client-credentials grant have `token_use: "access"` and no `username`.
	cognito: {
		clientClaim: 'client_id',
		scopeClaim: 'scope',
		recognizedBy: 'token_use = "access" and no username',
		recognize: (claims) =>
			claims['token_use'] === 'access' && typeof claims['client_id'] === 'string' && !('username' in claims),
		withoutAudience: true,
	},
	// RFC 9068 (oidc-provider, Auth0's RFC 9068 profile, Keycloak): the header says "access token", and a
	// client-credentials token's subject is the client itself (§2.2: `sub` = `client_id` when no resource owner).
	rfc9068: {
		clientClaim: 'client_id',
		scopeClaim: 'scope',
		recognizedBy: 'typ = at+jwt and sub = client_id',
		recognize: (claims, _clientClaim, header) =>
			isAccessTokenType(header['typ']) &&
			typeof claims['client_id'] === 'string' &&
			claims['sub'] === claims['client_id'],
		withoutAudience: false,
	},
};

/** A claim by name or dotted path (`realm_access.roles`); `undefined` when absent. */
export function readClaim(claims: Readonly<Record<string, unknown>>, path: string): unknown {
	if (path in claims) return claims[path];

	let value: unknown = claims;

	for (const part of path.split('.')) {
		if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
		value = (value as Record<string, unknown>)[part];
	}

	return value;
}
