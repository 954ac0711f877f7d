import { describe, expect, test } from 'vitest';
import { isAccessTokenType, PRESET_NAMES, PRESETS, readClaim, type PresetName } from '../../../src/token/presets.js';

const JWT = { alg: 'RS256', typ: 'JWT' };
const AT_JWT = { alg: 'RS256', typ: 'at+jwt' };

// Token shapes from each vendor's public documentation of client-credentials access tokens.
const shapes: Record<PresetName, { claims: Record<string, unknown>; header: Record<string, unknown> }> = {
	auth0: { claims: { gty: 'client-credentials', sub: 'abc@clients', scope: 'read:x' }, header: JWT },
	okta: { claims: { cid: '0oa1', sub: '0oa1', scp: ['read'] }, header: JWT },
	entra: { claims: { idtyp: 'app', azp: 'app-id', oid: 'sp', sub: 'sp', roles: ['Read.All'] }, header: JWT },
	keycloak: {
		claims: { azp: 'svc', client_id: 'svc', preferred_username: 'service-account-svc', scope: 'profile read' },
		header: JWT,
	},
	cognito: { claims: { token_use: 'access', client_id: 'c1', scope: 'api/read' }, header: JWT },
	// oidc-provider 9 (measured): claims jti, sub, iat, exp, scope, client_id, iss, aud; sub = client_id; typ at+jwt.
	rfc9068: { claims: { sub: 'billing', client_id: 'billing', scope: 'read' }, header: AT_JWT },
};

test.each(PRESET_NAMES)('preset %s recognises its own client tokens and finds client and scopes', (name) => {
	const preset = PRESETS[name];
	const { claims, header } = shapes[name];
	expect(preset.recognize(claims, preset.clientClaim, header)).toBe(true);
	expect(typeof readClaim(claims, preset.clientClaim)).toBe('string');
	expect(readClaim(claims, preset.scopeClaim)).toBeDefined();
});

// [preset, case, recognised, claims, header]: tokens the same servers issue to people, and the edge cases.
test.each<[PresetName, string, boolean, Record<string, unknown>, Record<string, unknown>]>([
	['auth0', 'a user token', false, { sub: 'auth0|user', scope: 'openid' }, JWT],
	['okta', 'a user token (sub is the user)', false, { cid: '0oa1', sub: 'person@example.com', uid: '00u1' }, JWT],
	// Okta adds `uid` to user tokens only: a user whose login equals the client id must not pass as the client.
	['okta', 'sub = cid but a uid claim', false, { cid: '0oa1', sub: '0oa1', uid: '00u1', scp: ['read'] }, JWT],
	['okta', 'no cid', false, { sub: '0oa1', scp: ['read'] }, JWT],
	['entra', 'no idtyp, no scp and sub = oid', true, { azp: 'a', oid: 'x', sub: 'x', roles: ['R'] }, JWT],
	['entra', 'a user token', false, { azp: 'app-id', oid: 'user-oid', sub: 'pairwise', scp: 'User.Read' }, JWT],
	['keycloak', 'a user token', false, { azp: 'web', preferred_username: 'alice', scope: 'openid' }, JWT],
	// Keycloak writes the client id into service-account tokens itself (a user-session note a person cannot set).
	[
		'keycloak',
		'client_id = azp, no username (lightweight)',
		true,
		{ azp: 'Billing-Service', client_id: 'Billing-Service' },
		JWT,
	],
	[
		'keycloak',
		'clientId = azp (Keycloak before client_id)',
		true,
		{ azp: 'Billing-Service', clientId: 'Billing-Service' },
		JWT,
	],
	[
		'keycloak',
		'client_id of another client',
		false,
		{ azp: 'web', client_id: 'other', preferred_username: 'alice' },
		JWT,
	],
	['keycloak', 'client_id not a string', false, { azp: 'web', client_id: ['web'] }, JWT],
	// Keycloak stores usernames lower-cased: the fallback must not miss a client with capitals.
	[
		'keycloak',
		'username fallback, client with capitals',
		true,
		{ azp: 'Billing-Service', preferred_username: 'service-account-billing-service' },
		JWT,
	],
	[
		'keycloak',
		'username of another client',
		false,
		{ azp: 'Billing-Service', preferred_username: 'service-account-web' },
		JWT,
	],
	['keycloak', 'no azp', false, { client_id: 'svc', preferred_username: 'service-account-svc' }, JWT],
	['cognito', 'a user token', false, { token_use: 'access', client_id: 'c1', username: 'alice', scope: 'openid' }, JWT],
	['cognito', 'an ID token', false, { token_use: 'id', client_id: 'c1' }, JWT],
	['rfc9068', 'typ application/at+jwt, any case', true, { sub: 'c', client_id: 'c' }, { typ: 'Application/AT+JWT' }],
	['rfc9068', 'typ JWT', false, { sub: 'c', client_id: 'c' }, JWT],
	['rfc9068', 'no typ', false, { sub: 'c', client_id: 'c' }, { alg: 'RS256' }],
	['rfc9068', 'a user access token (sub is the user)', false, { sub: 'user-1', client_id: 'web' }, AT_JWT],
	['rfc9068', 'no client_id', false, { sub: 'c' }, AT_JWT],
])('%s: %s → %s', (name, _, recognised, claims, header) => {
	const preset = PRESETS[name];
	expect(preset.recognize(claims, preset.clientClaim, header)).toBe(recognised);
});

describe('isAccessTokenType (RFC 9068 §2.1, RFC 7515 §4.1.9)', () => {
	test.each([
		['at+jwt', true],
		['AT+JWT', true],
		['application/at+jwt', true],
		['APPLICATION/at+JWT', true],
		['JWT', false],
		['jwt', false],
		['at+jwt ', false],
		['application/', false],
		['text/at+jwt', false],
		['dpop+jwt', false],
		[undefined, false],
		[['at+jwt'], false],
		[{}, false],
	])('%j → %s', (typ, expected) => {
		expect(isAccessTokenType(typ)).toBe(expected);
	});
});

test('only the Cognito preset works without an audience', () => {
	expect(PRESET_NAMES.filter((name) => PRESETS[name].withoutAudience)).toEqual(['cognito']);
});

test('readClaim follows dotted paths and prefers a literal claim name', () => {
	expect(readClaim({ realm_access: { roles: ['a'] } }, 'realm_access.roles')).toEqual(['a']);
	expect(readClaim({ 'a.b': 1, a: { b: 2 } }, 'a.b')).toBe(1);
	expect(readClaim({ a: 'text' }, 'a.b')).toBeUndefined();
	expect(readClaim({ a: [1] }, 'a.0')).toBeUndefined();
});
