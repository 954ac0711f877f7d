/**
 * The service users against a real PostgreSQL table shaped like `directus_users`, with a UsersService stand-in that
 * writes to it (or fails the way Directus does), counting every query the store makes.
 */
import { createError } from '@directus/errors';
import type { Knex } from 'knex';
import { NIL, v5 } from 'uuid';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
	createServiceUsers,
	isServiceUserRow,
	roleUserId,
	serviceUserId,
	type ServiceUsers,
	type UsersServiceLike,
} from '../../../src/directus/service-user.js';
import { TokenRejectedError } from '../../../src/token/token-rejected-error.js';
import { createUsersSchema, type TestSchema } from '../../helpers/postgres-schema.js';

const READERS = '11111111-1111-4111-8111-111111111111';
const WRITERS = '22222222-2222-4222-8222-222222222222';
let knex: Knex;
let queries: string[] = [];
let created: Record<string, unknown>[];
let updated: [string, Record<string, unknown>][];
let createFailure: (() => Error) | undefined;

const InvalidPayload = createError<{ reason: string }>('INVALID_PAYLOAD', (e) => `Invalid payload. ${e.reason}.`, 400);
const NotUnique = createError('RECORD_NOT_UNIQUE', 'Value has to be unique.', 400);

const usersService: UsersServiceLike = {
	async createOne(data) {
		if (createFailure) throw createFailure();
		created.push(data);
		await knex('directus_users').insert(data);
		return data['id'];
	},
	async updateOne(key, data) {
		updated.push([key, data]);
		await knex('directus_users').update(data).where({ id: key });
		return key;
	},
};

function store(options: { provider?: string; beforeWrite?: () => void } = {}): ServiceUsers {
	return createServiceUsers({
		knex,
		getSchema: async () => ({}) as never,
		createUsersService: () => usersService,
		provider: options.provider ?? 'auto',
		ttlMs: 60_000,
		onProviderFallback: () => undefined,
		beforeWrite: options.beforeWrite,
	});
}

let schema: TestSchema;

beforeAll(async () => {
	schema = await createUsersSchema((table) => {
		table.string('first_name');
		table.string('last_name');
		table.string('title', 50);
		table.uuid('role');
		table.timestamp('last_access');
	});
	knex = schema.knex;
	knex.on('query', (query: { sql: string }) => queries.push(query.sql));
});

afterAll(() => schema?.drop());

beforeEach(async () => {
	await knex('directus_users').delete();
	queries = [];
	created = [];
	updated = [];
	createFailure = undefined;
});

const now = () => Math.floor(Date.now() / 1000);

describe('one client, several roles', () => {
	test('alternating tokens of two roles make two users once, then no query and no role write', async () => {
		const users = store();
		const iat = now();
		const reader = { clientId: 'svc@clients', role: READERS, issuedAt: iat };
		const writer = { clientId: 'svc@clients', role: WRITERS, issuedAt: iat };

		expect(await users.ensure(reader)).toBe(serviceUserId('svc@clients'));
		expect(await users.ensure(writer)).toBe(roleUserId('svc@clients', WRITERS));
		queries = [];

		for (let i = 0; i < 6; i++) await users.ensure(i % 2 === 0 ? reader : writer);

		expect(queries).toEqual([]);
		expect(updated).toEqual([]);
		expect(created.map((row) => [row['id'], row['role'], row['title']])).toEqual([
			[serviceUserId('svc@clients'), READERS, 'svc@clients'],
			[roleUserId('svc@clients', WRITERS), WRITERS, 'svc@clients'],
		]);
	});

	test("suspending the client's first user revokes every role; suspending a role user revokes that role only", async () => {
		const users = store();
		const reader = { clientId: 'two@clients', role: READERS, issuedAt: now() };
		const writer = { clientId: 'two@clients', role: WRITERS, issuedAt: now() };
		await users.ensure(reader);
		await users.ensure(writer);

		await knex('directus_users')
			.update({ status: 'suspended' })
			.where({ id: roleUserId('two@clients', WRITERS) });
		users.forget([roleUserId('two@clients', WRITERS)]);
		await expect(users.ensure(writer)).rejects.toMatchObject({ code: 'user_suspended' });
		expect(await users.ensure(reader)).toBe(serviceUserId('two@clients'));

		await knex('directus_users')
			.update({ status: 'suspended' })
			.where({ id: serviceUserId('two@clients') });
		users.forget([serviceUserId('two@clients')]);
		await expect(users.ensure(reader)).rejects.toMatchObject({ code: 'user_suspended' });
		await expect(users.ensure(writer)).rejects.toMatchObject({ code: 'user_suspended' });
	});
});

describe('creation failures', () => {
	test('a lasting refusal (a seat limit) is a 401 reason, remembered for the TTL instead of retried', async () => {
		const users = store();
		createFailure = () => new InvalidPayload({ reason: 'Limit of 3 users with app access reached' });
		const request = { clientId: 'seat@clients', role: READERS, issuedAt: now() };

		await expect(users.ensure(request)).rejects.toMatchObject({ code: 'user_not_creatable' });
		queries = [];
		await expect(users.ensure(request)).rejects.toBeInstanceOf(TokenRejectedError);
		expect(queries).toEqual([]);

		createFailure = undefined;
		users.clear(); // an admin freed a seat
		expect(await users.ensure(request)).toBe(serviceUserId('seat@clients'));
	});

	test('an external identifier held by another user is refused with a reason, not a 503', async () => {
		await knex('directus_users').insert({ id: '33333333-3333-4333-8333-333333333333', external_identifier: 'taken' });
		createFailure = () => new NotUnique();
		await expect(store().ensure({ clientId: 'taken', role: READERS, issuedAt: now() })).rejects.toMatchObject({
			code: 'user_not_creatable',
			message: expect.stringMatching(/external identifier "taken"/),
		});
	});

	test('only a refusal naming the provider switches to the built-in provider', async () => {
		let attempts = 0;
		createFailure = () => {
			attempts++;
			return new InvalidPayload({ reason: '"first_name" is required' });
		};
		await expect(store().ensure({ clientId: 'bad@clients', role: READERS, issuedAt: now() })).rejects.toMatchObject({
			code: 'user_not_creatable',
		});
		expect(attempts).toBe(1);

		// Directus 12 Core's refusal of a custom provider: the one refusal that switches to `default`.
		let refused = false;
		createFailure = () => {
			if (refused) return undefined as never;
			refused = true;
			return new InvalidPayload({ reason: 'Custom auth providers require a license' });
		};
		const original = usersService.createOne;
		usersService.createOne = async (data) => {
			const failure = !refused ? createFailure?.() : undefined;
			if (failure) throw failure;
			createFailure = undefined;
			return original(data);
		};
		try {
			await store().ensure({ clientId: 'core@clients', role: READERS, issuedAt: now() });
		} finally {
			usersService.createOne = original;
		}
		expect(created.at(-1)).toMatchObject({ id: serviceUserId('core@clients'), provider: 'default' });
	});

	test('a fault (a database error, Redis down) is not remembered and creates nothing', async () => {
		let redisDown = true;
		const users = store({
			beforeWrite: () => {
				if (redisDown) throw new Error('Redis is unreachable');
			},
		});
		const request = { clientId: 'outage@clients', role: READERS, issuedAt: now() };

		await expect(users.ensure(request)).rejects.toThrow('Redis is unreachable');
		expect(await knex('directus_users').count({ n: '*' })).toEqual([{ n: '0' }]);

		redisDown = false;
		expect(await users.ensure(request)).toBe(serviceUserId('outage@clients'));
	});
});

test('users made before the client id was shown get it on their next request, once', async () => {
	const id = serviceUserId('old@clients');
	await knex('directus_users').insert({ id, external_identifier: 'old@clients', role: READERS, status: 'active' });
	const users = store();

	await users.ensure({ clientId: 'old@clients', role: READERS, issuedAt: undefined });
	expect((await knex('directus_users').where({ id }).first()).title).toBe('old@clients');
	queries = [];
	await users.ensure({ clientId: 'old@clients', role: READERS, issuedAt: undefined });
	expect(queries).toEqual([]);
});

test.each([
	['a first service user', { id: v5('svc@clients', NIL), external_identifier: 'svc@clients' }, true],
	[
		'a role user',
		{ id: roleUserId('svc@clients', WRITERS), external_identifier: `${serviceUserId('svc@clients')}:${WRITERS}` },
		true,
	],
	[
		'an SSO user with an external identifier',
		{ id: '44444444-4444-4444-8444-444444444444', external_identifier: 'svc@clients' },
		false,
	],
	['a user without one', { id: v5('x', NIL), external_identifier: null }, false],
])('isServiceUserRow: %s → %s', (_, row, expected) => {
	expect(isServiceUserRow(row)).toBe(expected);
});

test('a client id longer than the title column is cut there, and kept whole in external_identifier', async () => {
	const long = `${'x'.repeat(60)}@clients`;
	await store().ensure({ clientId: long, role: READERS, issuedAt: undefined });
	const row = await knex('directus_users')
		.where({ id: serviceUserId(long) })
		.first();
	expect(row.title).toBe(`${'x'.repeat(49)}…`);
	expect(row.external_identifier).toBe(long);
	queries = [];
	await store().ensure({ clientId: long, role: READERS, issuedAt: undefined });
	expect(queries).toHaveLength(1); // a new store reads the row once, and finds its title current
});

test('a read overtaken by an admin change is used once but not cached: no stale refill', async () => {
	const users = store();
	const request = { clientId: 'racing@clients', role: READERS, issuedAt: undefined };
	await users.ensure(request);

	users.forget([serviceUserId('racing@clients')]);
	const slow = users.ensure(request); // its read is in flight…
	users.forget([serviceUserId('racing@clients')]); // …when the admin's change lands
	await slow;

	queries = [];
	await users.ensure(request);
	expect(queries).toHaveLength(1); // read again, not served from what the overtaken read found
});
