/**
 * The bound users against a real PostgreSQL `directus_users` table: found by id or by email (in any case), refused
 * when unknown or not active, kept for the TTL (time moved through `now`), and forgotten by `clear()`.
 */
import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { createBoundUsers, type BoundUsers } from '../../../src/directus/bound-users.js';
import { refusalOf } from '../../helpers/refusal.js';
import { createUsersSchema, type TestSchema } from '../../helpers/postgres-schema.js';

const ROBOT = '77777777-7777-4777-8777-777777777777';
const ROLELESS = '88888888-8888-4888-8888-888888888888';
const WRITERS = '22222222-2222-4222-8222-222222222222';
const TTL = 60_000;

let schema: TestSchema;
let knex: Knex;
let queries: string[] = [];
const clock = { at: 0, now: () => clock.at };

beforeAll(async () => {
	schema = await createUsersSchema((table) => {
		table.string('email', 128);
		table.uuid('role');
	});
	knex = schema.knex;
	knex.on('query', (query: { sql: string }) => queries.push(query.sql));
});

afterAll(() => schema?.drop());

beforeEach(async () => {
	await knex('directus_users').delete();
	await knex('directus_users').insert([
		{ id: ROBOT, email: 'robot@example.com', role: WRITERS },
		// Written before Directus lower-cased emails, or straight into the database.
		{ id: ROLELESS, email: 'Mixed.Case@Example.com', role: null },
	]);
	queries = [];
	clock.at = 0;
});

function users(): BoundUsers {
	return createBoundUsers({ knex, ttlMs: TTL, now: clock.now });
}

test.each([
	['its id', ROBOT, ROBOT, WRITERS],
	['its id in upper case', ROBOT.toUpperCase(), ROBOT, WRITERS],
	['its email', 'robot@example.com', ROBOT, WRITERS],
	['its email in another case', 'ROBOT@Example.COM', ROBOT, WRITERS],
	['an email stored in mixed case', 'mixed.case@example.com', ROLELESS, null],
])('a user is found by %s', async (_, reference, id, role) => {
	await expect(users().resolve(reference)).resolves.toEqual({ id, role, status: 'active' });
});

test.each([
	['an unknown id', '99999999-9999-4999-8999-999999999999', 'unknown_user', 'active'],
	['an unknown email', 'nobody@example.com', 'unknown_user', 'active'],
	// An email is compared whole: neither a prefix nor a LIKE pattern matches.
	['a part of an email', 'robot@', 'unknown_user', 'active'],
	['a LIKE pattern', '%@example.com', 'unknown_user', 'active'],
	['a suspended user', ROBOT, 'user_suspended', 'suspended'],
	['an archived user', 'robot@example.com', 'user_suspended', 'archived'],
	['an invited user', ROBOT, 'user_suspended', 'invited'],
	['a draft user', ROBOT, 'user_suspended', 'draft'],
])('%s is refused as %s', async (_, reference, code, status) => {
	await knex('directus_users').update({ status }).where({ id: ROBOT });
	const error = await refusalOf(users().resolve(reference));
	expect(error.code).toBe(code);
});

test('the refusal of a suspended user names the status, not the user', async () => {
	await knex('directus_users').update({ status: 'suspended' }).where({ id: ROBOT });
	const error = await refusalOf(users().resolve(ROBOT));
	expect(error.message).toContain('"suspended"');
});

test('an answer is kept for the TTL, an unknown user as well', async () => {
	const bound = users();
	await bound.resolve(ROBOT);
	await bound.resolve(ROBOT);
	await refusalOf(bound.resolve('nobody@example.com'));
	await refusalOf(bound.resolve('nobody@example.com'));
	expect(queries).toHaveLength(2);

	clock.at = TTL;
	await bound.resolve(ROBOT);
	await refusalOf(bound.resolve('nobody@example.com'));
	expect(queries).toHaveLength(4);
});

test('clear() forgets, so a suspension made since is seen', async () => {
	const bound = users();
	await bound.resolve(ROBOT);
	await knex('directus_users').update({ status: 'suspended' }).where({ id: ROBOT });

	// Kept until the resolver is told: the hook clears it on users.update.
	await expect(bound.resolve(ROBOT)).resolves.toMatchObject({ status: 'active' });

	bound.clear();
	expect((await refusalOf(bound.resolve(ROBOT))).code).toBe('user_suspended');
});

test('a load overtaken by clear() is answered but not kept', async () => {
	const bound = users();
	const pending = bound.resolve(ROBOT);
	bound.clear();
	await expect(pending).resolves.toMatchObject({ id: ROBOT });

	await bound.resolve(ROBOT);
	expect(queries).toHaveLength(2);
});
