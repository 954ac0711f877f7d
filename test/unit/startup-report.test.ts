/**
 * The start-up report with stub key and role resolvers and a real parsed configuration: exactly one line for the
 * JWKS and at most one for the roles, each at its level and naming the variable to look at; it never throws.
 */
import { describe, expect, test } from 'vitest';
import { parseConfig, type Config } from '../../src/config.js';
import type { RoleResolver } from '../../src/directus/roles.js';
import { reportStartup } from '../../src/startup-report.js';
import type { KeyResolver } from '../../src/token/jwks.js';
import { TokenRejectedError } from '../../src/token/token-rejected-error.js';

const WRITERS = '22222222-2222-4222-8222-222222222222';

const jwksConfig = parseConfig({
	BCC_AUTH_ISSUER: 'https://tenant.eu.auth0.com/',
	BCC_AUTH_AUDIENCE: 'https://api.example.com',
	// Two scopes share a role: it is checked once.
	BCC_AUTH_SCOPE_ROLES: `svc#write=${WRITERS},svc#admin=${WRITERS},svc#read=API Readers`,
});

const discoveryConfig = parseConfig({
	BCC_AUTH_ISSUER: 'https://tenant.eu.auth0.com/',
	BCC_AUTH_AUDIENCE: 'https://api.example.com',
	BCC_AUTH_SCOPE_ROLES: 'svc#read=API Readers',
	BCC_AUTH_DISCOVERY: 'true',
});

/** Only bound clients: no scope maps to a role, so there is nothing to check. */
const clientsOnlyConfig = parseConfig({
	BCC_AUTH_ISSUER: 'https://tenant.eu.auth0.com/',
	BCC_AUTH_AUDIENCE: 'https://api.example.com',
	BCC_AUTH_CLIENTS: 'robot-client=robot@example.com',
});

type Line = { level: 'info' | 'error'; message: string };

function keysAnswering(preload: () => Promise<number>): KeyResolver {
	return { preload, getKey: () => Promise.reject(new Error('not used')), fetchCount: 0 };
}

/** Resolves every reference except those listed, which fail with the given error. */
function rolesFailing(failures: Record<string, Error> = {}): RoleResolver & { asked: string[] } {
	const asked: string[] = [];
	return {
		asked,
		async resolve(reference) {
			asked.push(reference);
			const failure = failures[reference];
			if (failure) throw failure;
			return WRITERS;
		},
		clear: () => undefined,
	};
}

async function report(config: Config, keys: KeyResolver, roles: RoleResolver): Promise<Line[]> {
	const lines: Line[] = [];
	await reportStartup({
		config,
		keys,
		roles,
		logger: {
			info: (message) => lines.push({ level: 'info', message }),
			error: (message) => lines.push({ level: 'error', message }),
		},
	});
	return lines;
}

const jwksLines = (lines: Line[]) => lines.filter((line) => /JWKS/.test(line.message));
const roleLines = (lines: Line[]) => lines.filter((line) => /BCC_AUTH_SCOPE_ROLES/.test(line.message));

describe('the JWKS line', () => {
	test.each<[string, () => Promise<number>, Line['level'], RegExp]>([
		['two keys', () => Promise.resolve(2), 'info', /answers with 2 signing keys$/],
		['one key', () => Promise.resolve(1), 'info', /answers with 1 signing key$/],
		['no key', () => Promise.resolve(0), 'error', /answers with no signing key; every token will be refused/],
		[
			'a failed fetch',
			() => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.1:443')),
			'error',
			/could not be fetched \(connect ECONNREFUSED 10\.0\.0\.1:443\); tokens are refused until it can/,
		],
	])('%s: one %s line naming BCC_AUTH_JWKS_URI and the address', async (_, preload, level, text) => {
		const lines = jwksLines(await report(jwksConfig, keysAnswering(preload), rolesFailing()));
		expect(lines).toHaveLength(1);
		expect(lines[0]!.level).toBe(level);
		expect(lines[0]!.message).toMatch(text);
		expect(lines[0]!.message).toContain(
			'the JWKS at https://tenant.eu.auth0.com/.well-known/jwks.json (BCC_AUTH_JWKS_URI)',
		);
	});

	test.each<[string, () => Promise<number>, Line['level']]>([
		['keys', () => Promise.resolve(3), 'info'],
		['a failed discovery', () => Promise.reject(new Error('BCC_AUTH_DISCOVERY: fetch failed')), 'error'],
	])('with discovery, %s: one %s line naming BCC_AUTH_DISCOVERY and the issuer', async (_, preload, level) => {
		const lines = jwksLines(await report(discoveryConfig, keysAnswering(preload), rolesFailing()));
		expect(lines).toHaveLength(1);
		expect(lines[0]!.level).toBe(level);
		expect(lines[0]!.message).toContain(
			'the JWKS found by OpenID discovery (BCC_AUTH_DISCOVERY) from https://tenant.eu.auth0.com/',
		);
	});
});

describe('the roles line', () => {
	const keys = keysAnswering(() => Promise.resolve(1));

	test('every role resolves: one info line counting the distinct roles, each asked once', async () => {
		const roles = rolesFailing();
		const lines = roleLines(await report(jwksConfig, keys, roles));
		expect(lines).toEqual([
			{ level: 'info', message: 'start-up check: BCC_AUTH_SCOPE_ROLES names 2 role(s), all of which exist' },
		]);
		expect(roles.asked.sort()).toEqual(['API Readers', WRITERS].sort());
	});

	test('an unknown role: no line here, the role resolver has logged it', async () => {
		const roles = rolesFailing({ 'API Readers': new TokenRejectedError('unknown_role', 'no such role') });
		const lines = await report(jwksConfig, keys, roles);
		expect(roleLines(lines)).toEqual([]);
		expect(lines).toHaveLength(1);
	});

	test('a database fault: one error line naming the variable and the fault', async () => {
		const roles = rolesFailing({
			'API Readers': new TokenRejectedError('unknown_role', 'no such role'),
			[WRITERS]: new Error('relation "directus_roles" does not exist'),
		});
		const lines = roleLines(await report(jwksConfig, keys, roles));
		expect(lines).toEqual([
			{
				level: 'error',
				message: 'start-up check: BCC_AUTH_SCOPE_ROLES could not be checked: relation "directus_roles" does not exist',
			},
		]);
	});

	test('no role mapped: no roles line and no lookup', async () => {
		const roles = rolesFailing();
		const lines = await report(clientsOnlyConfig, keys, roles);
		expect(roleLines(lines)).toEqual([]);
		expect(lines).toHaveLength(1);
		expect(roles.asked).toEqual([]);
	});
});

test('everything failing at once: two error lines, and the report still resolves', async () => {
	const keys = keysAnswering(() => Promise.reject(new Error('timeout')));
	const roles = rolesFailing({ [WRITERS]: new Error('db down'), 'API Readers': new Error('db down') });
	const lines = await report(jwksConfig, keys, roles);
	expect(lines.map((line) => line.level)).toEqual(['error', 'error']);
	expect(jwksLines(lines)).toHaveLength(1);
	expect(roleLines(lines)).toHaveLength(1);
});
