/**
 * The role resolver against a real PostgreSQL `directus_roles` table: references by UUID or by exact name, names held
 * by several roles, negative answers cached for the TTL (time moved through `now`), and queries counted.
 */
import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { createRoleResolver, type RoleResolver } from '../../../src/directus/roles.js';
import { TokenRejectedError } from '../../../src/token/token-rejected-error.js';
import { refusalOf } from '../../helpers/refusal.js';
import { createUsersSchema, type TestSchema } from '../../helpers/postgres-schema.js';

const WRITERS = '22222222-2222-4222-8222-222222222222';
const TWIN_A = '33333333-3333-4333-8333-333333333333';
const TWIN_B = '44444444-4444-4444-8444-444444444444';
const TTL = 60_000;

let schema: TestSchema;
let knex: Knex;
let queries: string[] = [];
let unknown: [string, string][] = [];
const clock = { at: 0, now: () => clock.at };

beforeAll(async () => {
	schema = await createUsersSchema();
	knex = schema.knex;
	await knex.schema.createTable('directus_roles', (table) => {
		table.uuid('id').primary();
		table.string('name', 100).notNullable();
	});
	await knex('directus_roles').insert([
		{ id: WRITERS, name: 'API Writers' },
		// Directus does not make role names unique: two roles may share one.
		{ id: TWIN_A, name: 'Twins' },
		{ id: TWIN_B, name: 'Twins' },
	]);
	knex.on('query', (query: { sql: string }) => queries.push(query.sql));
});

afterAll(() => schema?.drop());

beforeEach(() => {
	queries = [];
	unknown = [];
	clock.at = 0;
});

function resolver(): RoleResolver {
	return createRoleResolver({
		knex,
		ttlMs: TTL,
		now: clock.now,
		onUnknownRole: (reference, reason) => unknown.push([reference, reason]),
	});
}

test.each([
	['its UUID', WRITERS],
	['its UUID in upper case', WRITERS.toUpperCase()],
	['its exact name', 'API Writers'],
])('a role is found by %s', async (_, reference) => {
	await expect(resolver().resolve(reference)).resolves.toBe(WRITERS);
	expect(unknown).toEqual([]);
});

test.each([
	['a name in another case', 'api writers', 'no such role'],
	['a name no role has', 'API Readers', 'no such role'],
	['a UUID no role has', '55555555-5555-4555-8555-555555555555', 'no such role'],
	['a name several roles hold', 'Twins', 'several roles have this name; use its UUID'],
])('%s is refused as unknown_role', async (_, reference, reason) => {
	const error = await refusalOf(resolver().resolve(reference));
	expect(error.code).toBe('unknown_role');
	expect(error.message).toContain(reason);
	expect(unknown).toEqual([[reference, reason]]);
});

test('each of the roles sharing a name is still found by its UUID', async () => {
	const roles = resolver();
	await expect(roles.resolve(TWIN_A)).resolves.toBe(TWIN_A);
	await expect(roles.resolve(TWIN_B)).resolves.toBe(TWIN_B);
});

test('a found role is kept for the TTL: one query, then another once it has passed', async () => {
	const roles = resolver();
	await roles.resolve('API Writers');
	await roles.resolve('API Writers');
	expect(queries).toHaveLength(1);

	clock.at = TTL;
	await roles.resolve('API Writers');
	expect(queries).toHaveLength(2);
});

test('a failed resolution is cached too: one query and one report per TTL', async () => {
	const roles = resolver();

	for (let i = 0; i < 5; i++) await refusalOf(roles.resolve('API Readers'));
	expect(queries).toHaveLength(1);
	expect(unknown).toHaveLength(1);

	clock.at = TTL - 1;
	await refusalOf(roles.resolve('API Readers'));
	expect(queries).toHaveLength(1);

	clock.at = TTL;
	await refusalOf(roles.resolve('API Readers'));
	expect(queries).toHaveLength(2);
	expect(unknown).toHaveLength(2);
});

test('clear() forgets every answer, so a role created since is found', async () => {
	const roles = resolver();
	await refusalOf(roles.resolve('Late Role'));
	await knex('directus_roles').insert({ id: '66666666-6666-4666-8666-666666666666', name: 'Late Role' });

	// Still cached: the insert alone changes nothing until the resolver is told.
	await refusalOf(roles.resolve('Late Role'));
	expect(queries.filter((sql) => sql.startsWith('select'))).toHaveLength(1);

	roles.clear();
	await expect(roles.resolve('Late Role')).resolves.toBe('66666666-6666-4666-8666-666666666666');
	expect(unknown).toHaveLength(1);

	await knex('directus_roles').where({ name: 'Late Role' }).delete();
});

test('a resolution overtaken by clear() is answered but not kept', async () => {
	const roles = resolver();
	const pending = roles.resolve('API Writers');
	roles.clear();
	await expect(pending).resolves.toBe(WRITERS);

	await roles.resolve('API Writers');
	expect(queries).toHaveLength(2);
});

test('a database failure is passed on, not cached as an unknown role', async () => {
	const other = await createUsersSchema();
	const roles = createRoleResolver({ knex: other.knex, ttlMs: TTL, onUnknownRole: () => undefined });

	try {
		// This schema has no directus_roles table: the query fails the way a lost database would.
		const error = await roles.resolve('API Writers').then(
			() => undefined,
			(e: unknown) => e,
		);
		expect(error).toBeInstanceOf(Error);
		expect(error).not.toBeInstanceOf(TokenRejectedError);

		await other.knex.schema.createTable('directus_roles', (table) => {
			table.uuid('id').primary();
			table.string('name', 100);
		});
		await other.knex('directus_roles').insert({ id: WRITERS, name: 'API Writers' });
		await expect(roles.resolve('API Writers')).resolves.toBe(WRITERS);
	} finally {
		await other.drop();
	}
});
