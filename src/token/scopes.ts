/**
 * Scope parsing and scope → role resolution. Pure functions.
 */

/** One `scope=role` pair, in the order written: the first pair whose scope a token carries decides its role. */
export interface ScopeRole {
	readonly scope: string;
	/** A role UUID or an exact role name. */
	readonly role: string;
}

/** The scopes a claim grants: a space-separated string (OAuth2, Auth0) or an array of strings (Okta's `scp`). */
export function readScopes(claim: unknown): ReadonlySet<string> {
	if (typeof claim === 'string') return new Set(claim.split(/\s+/).filter((scope) => scope !== ''));
	if (Array.isArray(claim)) return new Set(claim.filter((scope): scope is string => typeof scope === 'string'));
	return new Set();
}

/** The first pair, in configuration order, whose scope is granted; `undefined` when none is. */
export function resolveScopeRole(scopes: ReadonlySet<string>, scopeRoles: readonly ScopeRole[]): ScopeRole | undefined {
	return scopeRoles.find(({ scope }) => scopes.has(scope));
}
