import { expect, test } from 'vitest';
import { readScopes, resolveScopeRole } from '../../../src/token/scopes.js';

const mapping = [
	{ scope: 'svc#admin', role: 'Admins' },
	{ scope: 'svc#write', role: 'Writers' },
	{ scope: 'svc#read', role: 'Readers' },
];

test.each([
	['svc#read', 'Readers'],
	['openid  svc#read\tsvc#write', 'Writers'],
	['svc#read svc#admin', 'Admins'],
	[['svc#read', 'svc#write'], 'Writers'],
	['svc#delete', undefined],
	['SVC#READ', undefined],
	['svc#readx', undefined],
	['', undefined],
	[undefined, undefined],
	[42, undefined],
	[{ 'svc#read': true }, undefined],
	[[1, null, 'svc#read'], 'Readers'],
])('scope %j maps to %s', (claim, role) => {
	expect(resolveScopeRole(readScopes(claim), mapping)?.role).toBe(role);
});

test('the first pair in configuration order wins, not the order of the token', () => {
	expect(resolveScopeRole(readScopes('svc#read svc#write'), mapping)?.role).toBe('Writers');
	expect(resolveScopeRole(readScopes('svc#write svc#read'), [...mapping].reverse())?.role).toBe('Readers');
});
