import { describe, expect, test } from 'vitest';
import { ConfigError, DEFAULTS, joinUrl, parseConfig } from '../../src/config.js';
import { PRESETS } from '../../src/token/presets.js';

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
			preset: 'auth0',
			clientClaim: 'sub',
			scopeClaim: 'scope',
			recognize: PRESETS.auth0.recognize,
			tokenType: undefined,
			discovery: false,
			jwksUri: 'https://tenant.eu.auth0.com/.well-known/jwks.json',
			clients: [],
			clientsOnly: false,
			algorithms: ['RS256'],
			clockTolerance: DEFAULTS.BCC_AUTH_CLOCK_TOLERANCE,
			userProvider: 'auto',
			jwksTimeoutMs: DEFAULTS.BCC_AUTH_JWKS_TIMEOUT,
			jwksRequestsPerMinute: DEFAULTS.BCC_AUTH_JWKS_REQUESTS_PER_MINUTE,
			deprecations: [],
			tokenCacheMax: DEFAULTS.BCC_AUTH_TOKEN_CACHE_MAX,
			stateTtlMs: DEFAULTS.BCC_AUTH_STATE_TTL * 1000,
			dpop: 'allowed',
			dpopAlgorithms: ['ES256', 'EdDSA', 'PS256', 'RS256'],
			dpopIatWindow: DEFAULTS.BCC_AUTH_DPOP_IAT_WINDOW,
			publicUrl: undefined,
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
		[{ BCC_AUTH_PRESET: 'google' }, /^BCC_AUTH_PRESET must be one of auth0, okta, entra, keycloak, cognito/],
		[{ BCC_AUTH_DISCOVERY: 'yes' }, /^BCC_AUTH_DISCOVERY must be true or false/],
		[{ BCC_AUTH_DISCOVERY: true, BCC_AUTH_JWKS_URI: 'https://k/jwks' }, /both say where the keys are/],
		[{ BCC_AUTH_CLIENTS: 'abc' }, /^BCC_AUTH_CLIENTS must be comma-separated client=user pairs/],
		[{ BCC_AUTH_CLIENTS: 'a=x@y.z,a=w@y.z' }, /^BCC_AUTH_CLIENTS lists client "a" twice/],
		[{ BCC_AUTH_GRANT_CLAIM: 'gty' }, /^BCC_AUTH_GRANT_CLAIM and BCC_AUTH_GRANT_VALUE must be set together/],
		[{ BCC_AUTH_CLIENT_CLAIM: 'a b' }, /^BCC_AUTH_CLIENT_CLAIM must be a claim name/],
		[{ BCC_AUTH_TOKEN_TYPE: 'JWT' }, /^BCC_AUTH_TOKEN_TYPE must be at\+jwt \(or application\/at\+jwt\), got "JWT"/],
		[{ BCC_AUTH_TOKEN_TYPE: 'dpop+jwt' }, /^BCC_AUTH_TOKEN_TYPE must be at\+jwt/],
		[{ BCC_AUTH_TOKEN_TYPE: ['at+jwt', 'JWT'] }, /^BCC_AUTH_TOKEN_TYPE must be a single value/],
		[{ BCC_AUTH_TOKEN_TYPE: true }, /^BCC_AUTH_TOKEN_TYPE must be at\+jwt/],
		[{ BCC_AUTH_DPOP: 'always' }, /^BCC_AUTH_DPOP must be one of allowed, required, got "always"/],
		[
			{ BCC_AUTH_DPOP_ALGORITHMS: 'ES256,HS256' },
			/^BCC_AUTH_DPOP_ALGORITHMS accepts only asymmetric algorithms.*"HS256"/,
		],
		[{ BCC_AUTH_DPOP_ALGORITHMS: 'none' }, /^BCC_AUTH_DPOP_ALGORITHMS accepts only asymmetric algorithms/],
		[{ BCC_AUTH_DPOP_IAT_WINDOW: 0 }, /^BCC_AUTH_DPOP_IAT_WINDOW must be a number above 0, up to 300/],
		[{ BCC_AUTH_DPOP_IAT_WINDOW: 3600 }, /^BCC_AUTH_DPOP_IAT_WINDOW must be a number above 0, up to 300/],
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

describe('DPoP', () => {
	test('required mode, algorithms as Directus casts them, and an absolute PUBLIC_URL', () => {
		const config = parseConfig({
			...required,
			BCC_AUTH_DPOP: 'Required',
			BCC_AUTH_DPOP_ALGORITHMS: ['ES256', 'Ed25519'],
			BCC_AUTH_DPOP_IAT_WINDOW: '30',
			PUBLIC_URL: 'https://cms.example.com/directus/',
		});
		expect(config).toMatchObject({
			dpop: 'required',
			dpopAlgorithms: ['ES256', 'Ed25519'],
			dpopIatWindow: 30,
			publicUrl: 'https://cms.example.com/directus/',
		});
	});

	test.each(['/', '', 'cms.example.com', 'ftp://cms.example.com'])('PUBLIC_URL %j is not a base for htu', (url) => {
		expect(parseConfig({ ...required, PUBLIC_URL: url }).publicUrl).toBeUndefined();
	});
});

test('joinUrl joins with exactly one slash', () => {
	expect(joinUrl('https://a/', '/b')).toBe('https://a/b');
	expect(joinUrl('https://a', 'b')).toBe('https://a/b');
});

describe('presets, claims and client bindings', () => {
	test.each([
		['okta', 'cid', 'scp'],
		['entra', 'azp', 'roles'],
		['keycloak', 'azp', 'scope'],
		['cognito', 'client_id', 'scope'],
		['rfc9068', 'client_id', 'scope'],
	] as const)('preset %s reads the client from %s and scopes from %s', (preset, clientClaim, scopeClaim) => {
		const config = parseConfig({ ...required, BCC_AUTH_PRESET: preset });
		expect(config).toMatchObject({ preset, clientClaim, scopeClaim, recognize: PRESETS[preset].recognize });
	});

	test('explicit variables override the preset', () => {
		const config = parseConfig({
			...required,
			BCC_AUTH_PRESET: 'keycloak',
			BCC_AUTH_CLIENT_CLAIM: 'client_id',
			BCC_AUTH_SCOPE_CLAIM: 'realm_access.roles',
			BCC_AUTH_GRANT_CLAIM: 'grant',
			BCC_AUTH_GRANT_VALUE: 'client_credentials',
		});
		expect(config).toMatchObject({ clientClaim: 'client_id', scopeClaim: 'realm_access.roles' });
		expect(config.recognize({ grant: 'client_credentials' }, 'client_id', {})).toBe(true);
		expect(config.recognize({ preferred_username: 'service-account-x', azp: 'x' }, 'client_id', {})).toBe(false);
	});

	test('Cognito without an audience needs the client allow-list, which then becomes mandatory', () => {
		const { BCC_AUTH_AUDIENCE: _, ...withoutAudience } = required;
		expect(problemsOf({ ...withoutAudience, BCC_AUTH_PRESET: 'cognito' })).toEqual([
			expect.stringMatching(/^BCC_AUTH_AUDIENCE is required, or, with BCC_AUTH_PRESET=cognito/),
		]);
		const config = parseConfig({
			...withoutAudience,
			BCC_AUTH_PRESET: 'cognito',
			BCC_AUTH_CLIENTS: 'abc=service-user',
		});
		expect(config).toMatchObject({ audiences: [], clientsOnly: true });
		// No other preset may drop the audience.
		expect(problemsOf(withoutAudience)).toEqual(['BCC_AUTH_AUDIENCE is required']);
	});

	test('without an audience check, bound clients need a mapped scope, so BCC_AUTH_SCOPE_ROLES is required', () => {
		const cognito = { BCC_AUTH_ISSUER: required.BCC_AUTH_ISSUER, BCC_AUTH_PRESET: 'cognito' };
		expect(problemsOf({ ...cognito, BCC_AUTH_CLIENTS: 'abc=ops@example.com' })).toEqual([
			expect.stringMatching(/^BCC_AUTH_SCOPE_ROLES is required without BCC_AUTH_AUDIENCE/),
		]);
		expect(
			parseConfig({ ...cognito, BCC_AUTH_CLIENTS: 'abc=ops@example.com', BCC_AUTH_SCOPE_ROLES: 'api/read=R' }),
		).toMatchObject({ audiences: [], clientsOnly: true, scopeRoles: [{ scope: 'api/read', role: 'R' }] });
		// With an audience, a client list made only of bindings still needs no scope mapping.
		expect(
			parseConfig({ ...cognito, BCC_AUTH_AUDIENCE: 'https://api', BCC_AUTH_CLIENTS: 'abc=ops@example.com' }).scopeRoles,
		).toEqual([]);
	});

	test.each(['at+jwt', 'AT+JWT', 'application/at+jwt', ' Application/At+Jwt '])(
		'BCC_AUTH_TOKEN_TYPE=%j requires typ at+jwt of every recognised token',
		(value) => {
			expect(parseConfig({ ...required, BCC_AUTH_TOKEN_TYPE: value }).tokenType).toBe('at+jwt');
		},
	);

	test('client bindings: pairs or json, emails and ids, several clients for one user', () => {
		const config = parseConfig({
			...required,
			BCC_AUTH_CLIENTS: ['old-client@clients=ops@example.com', 'new-client@clients=ops@example.com'],
			BCC_AUTH_CLIENTS_ONLY: true,
		});
		expect(config.clients).toEqual([
			{ clientId: 'old-client@clients', user: 'ops@example.com' },
			{ clientId: 'new-client@clients', user: 'ops@example.com' },
		]);
		expect(config.clientsOnly).toBe(true);
		expect(parseConfig({ ...required, BCC_AUTH_CLIENTS: { a: 'service-user' } }).clients).toEqual([
			{ clientId: 'a', user: 'service-user' },
		]);
	});

	test('discovery leaves the JWKS URI to the issuer', () => {
		expect(parseConfig({ ...required, BCC_AUTH_DISCOVERY: true })).toMatchObject({
			discovery: true,
			jwksUri: undefined,
		});
	});
});

describe('JWKS fetch rate', () => {
	test.each<[string, Record<string, unknown>, number, RegExp | undefined]>([
		['default', {}, 10, undefined],
		['set', { BCC_AUTH_JWKS_REQUESTS_PER_MINUTE: '30' }, 30, undefined],
		['deprecated cooldown of 30 s, as before an upgrade', { BCC_AUTH_JWKS_COOLDOWN: '30000' }, 2, /read as .*=2;/],
		['deprecated cooldown of 1 s, as a number', { BCC_AUTH_JWKS_COOLDOWN: 1000 }, 60, /read as .*=60;/],
		['deprecated cooldown of 0', { BCC_AUTH_JWKS_COOLDOWN: '0' }, 600, /read as .*=600;/],
		['deprecated cooldown of an hour', { BCC_AUTH_JWKS_COOLDOWN: '3600000' }, 1, /read as .*=1;/],
		[
			'both: the new variable wins',
			{ BCC_AUTH_JWKS_COOLDOWN: '30000', BCC_AUTH_JWKS_REQUESTS_PER_MINUTE: 20 },
			20,
			/deprecated and ignored/,
		],
	])('%s', (_, override, requestsPerMinute, deprecation) => {
		const config = parseConfig({ ...required, ...override });
		expect(config.jwksRequestsPerMinute).toBe(requestsPerMinute);
		if (deprecation) expect(config.deprecations).toEqual([expect.stringMatching(deprecation)]);
		else expect(config.deprecations).toEqual([]);
	});

	const outOfRange = /^BCC_AUTH_JWKS_REQUESTS_PER_MINUTE must be an integer from 1 to 600/;

	test.each<[Record<string, unknown>, RegExp]>([
		[{ BCC_AUTH_JWKS_REQUESTS_PER_MINUTE: '0' }, outOfRange],
		[{ BCC_AUTH_JWKS_REQUESTS_PER_MINUTE: 2.5 }, outOfRange],
		[{ BCC_AUTH_JWKS_REQUESTS_PER_MINUTE: '601' }, outOfRange],
		[{ BCC_AUTH_JWKS_COOLDOWN: 'soon' }, /^BCC_AUTH_JWKS_COOLDOWN must be a number from 0 to 3600000/],
	])('refuses %j', (override, message) => {
		const problems = problemsOf({ ...required, ...override });
		expect(problems).toHaveLength(1);
		expect(problems[0]).toMatch(message);
	});
});
