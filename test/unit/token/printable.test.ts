/**
 * How unverified values appear in log lines: quoted, one line, bounded.
 */
import { expect, test } from 'vitest';
import { PRINTABLE_MAX_LENGTH, printable } from '../../../src/token/printable.js';

const deep = (depth: number): unknown => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`);

test.each<[string, unknown, string]>([
	['absent', undefined, '-'],
	['null', null, '-'],
	['a short string', 'client@clients', '"client@clients"'],
	['a line break', 'a\nb', '"a\\nb"'],
	['a number', 7, '"7"'],
	['an object', { id: 1 }, '"{\\"id\\":1}"'],
	['an array nested 10,000 deep', deep(10_000), '"[…]"'],
])('%s', (_, value, expected) => {
	expect(printable(value)).toBe(expected);
});

test.each([
	['a 10 KB string', 'A'.repeat(10_240)],
	['a 10 KB object', { alg: 'A'.repeat(10_240) }],
])('%s is cut to the bound', (_, value) => {
	const text = printable(value);
	expect(JSON.parse(text)).toHaveLength(PRINTABLE_MAX_LENGTH + 1);
	expect(text.endsWith('…"')).toBe(true);
});
