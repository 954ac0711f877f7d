import { expect, test } from 'vitest';
import { decodeUnverified } from '../../../src/token/decode-jwt.js';

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

test('decodes header and payload without verifying', () => {
	const token = `${encode({ alg: 'RS256', kid: 'k' })}.${encode({ sub: 'x' })}.sig`;
	expect(decodeUnverified(token)).toEqual({ header: { alg: 'RS256', kid: 'k' }, payload: { sub: 'x' } });
});

test.each([
	['', 'empty'],
	['abc', 'one segment'],
	['a.b', 'two segments'],
	[`${encode({})}.${encode({})}.s.x`, 'four segments'],
	[`.${encode({})}.s`, 'empty header'],
	[`${encode({})}..s`, 'empty payload'],
	[`${encode({})}.${encode([1])}.s`, 'payload is an array'],
	[`${encode({})}.${encode('text')}.s`, 'payload is a string'],
	[`${encode({})}.${encode(null)}.s`, 'payload is null'],
	[`${encode({})}.e30+.s`, 'not base64url'],
	[`${encode({})}.${Buffer.from('{"a":').toString('base64url')}.s`, 'truncated JSON'],
	['static-token-1234', 'a Directus static token'],
])('undefined for %j (%s)', (token) => {
	expect(decodeUnverified(token)).toBeUndefined();
});

test('nested JSON thousands deep does not throw', () => {
	const deep = '['.repeat(5000) + ']'.repeat(5000);
	const token = `${encode({})}.${Buffer.from(`{"a":${deep}}`).toString('base64url')}.s`;
	expect(decodeUnverified(token)?.payload).toHaveProperty('a');
});
