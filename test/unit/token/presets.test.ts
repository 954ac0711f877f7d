import { expect, test } from 'vitest';
import { PRESETS, readClaim } from '../../../src/token/presets.js';

// Token shapes from each vendor's public documentation of client-credentials access tokens.
const shapes = {
	auth0: { gty: 'client-credentials', sub: 'abc@clients', scope: 'read:x' },
	okta: { cid: '0oa1', sub: '0oa1', scp: ['read'] },
	entra: { idtyp: 'app', azp: 'app-id', oid: 'sp', sub: 'sp', roles: ['Read.All'] },
	keycloak: { azp: 'svc', preferred_username: 'service-account-svc', scope: 'profile read' },
	cognito: { token_use: 'access', client_id: 'c1', scope: 'api/read' },
};

// Tokens the same servers issue to people, which must not be taken for client tokens.
const userShapes = {
	auth0: { sub: 'auth0|user', scope: 'openid' },
	okta: { cid: '0oa1', sub: 'person@example.com', uid: '00u1', scp: ['openid'] },
	entra: { azp: 'app-id', oid: 'user-oid', sub: 'pairwise', scp: 'User.Read' },
	keycloak: { azp: 'web', preferred_username: 'alice', scope: 'openid' },
	cognito: { token_use: 'access', client_id: 'c1', username: 'alice', scope: 'openid' },
};

test.each(Object.keys(PRESETS) as (keyof typeof PRESETS)[])('preset %s recognises its client tokens only', (name) => {
	const preset = PRESETS[name];
	expect(preset.recognize(shapes[name], preset.clientClaim)).toBe(true);
	expect(preset.recognize(userShapes[name], preset.clientClaim)).toBe(false);
	expect(typeof readClaim(shapes[name], preset.clientClaim)).toBe('string');
	expect(readClaim(shapes[name], preset.scopeClaim)).toBeDefined();
});

test('Entra without the optional idtyp claim: no scp and sub = oid', () => {
	expect(PRESETS.entra.recognize({ azp: 'a', oid: 'x', sub: 'x', roles: ['R'] }, 'azp')).toBe(true);
});

test('readClaim follows dotted paths and prefers a literal claim name', () => {
	expect(readClaim({ realm_access: { roles: ['a'] } }, 'realm_access.roles')).toEqual(['a']);
	expect(readClaim({ 'a.b': 1, a: { b: 2 } }, 'a.b')).toBe(1);
	expect(readClaim({ a: 'text' }, 'a.b')).toBeUndefined();
	expect(readClaim({ a: [1] }, 'a.0')).toBeUndefined();
});
