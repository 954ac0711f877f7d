/**
 * How each authorization server shapes a client-credentials access token: which claim names the client, where the
 * scopes are, and how such a token is told apart from a user's. Claim names and types follow each vendor's public
 * documentation of its access tokens.
 */

export const PRESET_NAMES = ['auth0', 'okta', 'entra', 'keycloak', 'cognito'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/** Decides, before verification, whether a token with the configured issuer is a client-credentials token. */
export type Recognizer = (claims: Readonly<Record<string, unknown>>, clientClaim: string) => boolean;

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

export const PRESETS: Readonly<Record<PresetName, Preset>> = {
	// Auth0 writes the grant type into every access token it issues to an M2M application.
	auth0: {
		clientClaim: 'sub',
		scopeClaim: 'scope',
		recognizedBy: 'gty = "client-credentials"',
		recognize: claimEquals('gty', 'client-credentials'),
		withoutAudience: false,
	},
	// Okta: a service app's token has the client id as both `cid` and `sub`; a user's `sub` is the user.
	okta: {
		clientClaim: 'cid',
		scopeClaim: 'scp',
		recognizedBy: 'sub = cid',
		recognize: (claims) => typeof claims['cid'] === 'string' && claims['sub'] === claims['cid'],
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
	// Keycloak: a client's service account is named "service-account-<client id>".
	keycloak: {
		clientClaim: 'azp',
		scopeClaim: 'scope',
		recognizedBy: 'preferred_username = "service-account-" + azp',
		recognize: (claims) =>
			typeof claims['azp'] === 'string' && claims['preferred_username'] === `service-account-${claims['azp']}`,
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
