import { describe, expect, test } from 'vitest';
import { ConfigError, DEFAULTS, joinUrl, parseConfig } from '../../src/config.js';

const required = {
	BCC_AUTH_ISSUER: 'https://tenant.eu.auth0.com/',
	BCC_AUTH_AUDIENCE: 'https://api.example.com',
	BCC_AUTH_SCOPE_ROLES: 'svc#write=API Writers,svc#read=API Readers',
};

function problemsOf(env: Record<string, unknown>): readonly string[] {
	try {
		parseConfig(env);
	} catch (error) {
		expect(error).toBeInstanceOf(ConfigError);
		return (error as ConfigError).problems;
	}
	throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
	test('the three required variables and the defaults', () => {
		const config = parseConfig(required);
		expect(config).toEqual({
			issuer: 'https://tenant.eu.auth0.com/',
			audiences: ['https://api.example.com'],
			scopeRoles: [
				{ scope: 'svc#write', role: 'API Writers' },
				{ scope: 'svc#read', role: 'API Readers' },
			],
			jwksUri: 'https://tenant.eu.auth0.com/.well-known/jwks.json',
			algorithms: ['RS256'],
			clockTolerance: DEFAULTS.BCC_AUTH_CLOCK_TOLERANCE,
			userProvider: 'auto',
			jwksTimeoutMs: DEFAULTS.BCC_AUTH_JWKS_TIMEOUT,
			jwksCooldownMs: DEFAULTS.BCC_AUTH_JWKS_COOLDOWN,
			tokenCacheMax: DEFAULTS.BCC_AUTH_TOKEN_CACHE_MAX,
			stateTtlMs: DEFAULTS.BCC_AUTH_STATE_TTL * 1000,
		});
		expect(Object.isFrozen(config)).toBe(true);
	});

	test('accepts the shapes Directus casts env values into', () => {
		const config = parseConfig({
			...required,
			// "a,b" arrives as an array, possibly with numbers in it; json: arrives as an object.
			BCC_AUTH_AUDIENCE: ['https://a.example', ' https://b.example '],
			BCC_AUTH_SCOPE_ROLES: { 'svc#read': 'API Readers', 'svc#admin': '2d1c5d0c-8f2e-4c36-9d57-6a0b1b1c9e11' },
			BCC_AUTH_ALGORITHMS: ['RS256', 'ES256'],
			BCC_AUTH_CLOCK_TOLERANCE: 0,
			BCC_AUTH_TOKEN_CACHE_MAX: '500',
		});
		expect(config.audiences).toEqual(['https://a.example', 'https://b.example']);
		expect(config.scopeRoles).toEqual([
			{ scope: 'svc#read', role: 'API Readers' },
			{ scope: 'svc#admin', role: '2d1c5d0c-8f2e-4c36-9d57-6a0b1b1c9e11' },
		]);
		expect(config.algorithms).toEqual(['RS256', 'ES256']);
		expect(config.clockTolerance).toBe(0);
		expect(config.tokenCacheMax).toBe(500);
	});

	test('a single pair stays a string; a role name may hold spaces and "="', () => {
		expect(parseConfig({ ...required, BCC_AUTH_SCOPE_ROLES: 'svc#read=Readers = all' }).scopeRoles).toEqual([
			{ scope: 'svc#read', role: 'Readers = all' },
		]);
	});

	test.each([
		['https://tenant.auth0.com/', 'https://tenant.auth0.com/.well-known/jwks.json'],
		['https://tenant.auth0.com', 'https://tenant.auth0.com/.well-known/jwks.json'],
		['http://127.0.0.1:9000/realms/x//', 'http://127.0.0.1:9000/realms/x/.well-known/jwks.json'],
	])('the JWKS URI of issuer %s is %s', (issuer, jwksUri) => {
		expect(parseConfig({ ...required, BCC_AUTH_ISSUER: issuer }).jwksUri).toBe(jwksUri);
	});

	test('an explicit JWKS URI wins', () => {
		const jwksUri = 'https://keys.example.com/jwks';
		expect(parseConfig({ ...required, BCC_AUTH_JWKS_URI: jwksUri }).jwksUri).toBe(jwksUri);
	});

	test('every missing required variable is named at once', () => {
		expect(problemsOf({})).toEqual([
			'BCC_AUTH_ISSUER is required',
			'BCC_AUTH_AUDIENCE is required',
			'BCC_AUTH_SCOPE_ROLES is required',
		]);
	});

	test.each([
		[{ BCC_AUTH_ISSUER: 'tenant.auth0.com' }, /^BCC_AUTH_ISSUER must be an absolute http\(s\) URL/],
		[{ BCC_AUTH_ISSUER: ['https://a', 'https://b'] }, /^BCC_AUTH_ISSUER must be a single value/],
		[{ BCC_AUTH_AUDIENCE: ' , ' }, /^BCC_AUTH_AUDIENCE must list at least one value/],
		[{ BCC_AUTH_SCOPE_ROLES: 'svc#read' }, /^BCC_AUTH_SCOPE_ROLES must be comma-separated scope=role pairs/],
		[{ BCC_AUTH_SCOPE_ROLES: 'svc#read=' }, /^BCC_AUTH_SCOPE_ROLES must be comma-separated scope=role pairs/],
		[{ BCC_AUTH_SCOPE_ROLES: '=Readers' }, /^BCC_AUTH_SCOPE_ROLES must be comma-separated scope=role pairs/],
		[{ BCC_AUTH_SCOPE_ROLES: { 'svc read': 'x' } }, /^BCC_AUTH_SCOPE_ROLES has an invalid pair/],
		[{ BCC_AUTH_ALGORITHMS: 'none' }, /^BCC_AUTH_ALGORITHMS accepts only asymmetric algorithms/],
		[{ BCC_AUTH_ALGORITHMS: ['RS256', 'HS256'] }, /^BCC_AUTH_ALGORITHMS accepts only asymmetric algorithms.*"HS256"/],
		[{ BCC_AUTH_CLOCK_TOLERANCE: 'soon' }, /^BCC_AUTH_CLOCK_TOLERANCE must be a number from 0 to 300/],
		[{ BCC_AUTH_CLOCK_TOLERANCE: -1 }, /^BCC_AUTH_CLOCK_TOLERANCE must be a number/],
		[{ BCC_AUTH_JWKS_URI: 'ftp://keys' }, /^BCC_AUTH_JWKS_URI must be an absolute http\(s\) URL/],
		[{ BCC_AUTH_TOKEN_CACHE_MAX: 1.5 }, /^BCC_AUTH_TOKEN_CACHE_MAX must be a positive integer/],
		[{ BCC_AUTH_USER_PROVIDER: 'two words' }, /^BCC_AUTH_USER_PROVIDER must be "auto" or a provider name/],
	])('refuses %j', (override, message) => {
		const problems = problemsOf({ ...required, ...override });
		expect(problems).toHaveLength(1);
		expect(problems[0]).toMatch(message);
	});

	test('the error message lists every problem under the extension name', () => {
		expect(() => parseConfig({ BCC_AUTH_ISSUER: 'x' })).toThrow(
			/directus-extension-auth-client-credentials is not configured:\n- BCC_AUTH_ISSUER must be an absolute/,
		);
	});
});

test('joinUrl joins with exactly one slash', () => {
	expect(joinUrl('https://a/', '/b')).toBe('https://a/b');
	expect(joinUrl('https://a', 'b')).toBe('https://a/b');
});
