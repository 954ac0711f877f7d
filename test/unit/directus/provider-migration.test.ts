/**
 * The provider migration against a real PostgreSQL (127.0.0.1:5432, user postgres, as the end-to-end suite uses):
 * a `directus_users` table of the columns it reads, in a schema of its own that is dropped afterwards.
 */
import { randomUUID } from 'node:crypto';
import { InvalidPayloadError } from '@directus/errors';
import type { Knex } from 'knex';
import { createUsersSchema, type TestSchema } from '../../helpers/postgres-schema.js';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
	hostRefusesCustomProviders,
	INACTIVE_LICENSE_STATUS,
	migrateServiceUserProviders,
	resolveUserProvider,
} from '../../../src/directus/provider-migration.js';
import { GUIDE_PROVIDER, roleUserId, serviceUserId } from '../../../src/directus/service-user.js';

let schema: TestSchema;
let knex: Knex;

interface Row {
	id: string;
	provider: string;
	status: string;
	external_identifier: string | null;
}

/** A service user as the extension makes it. */
const serviceUser = (clientId: string, status = 'active', provider = GUIDE_PROVIDER): Row => ({
	id: serviceUserId(clientId),
	provider,
	status,
	external_identifier: clientId,
});

const users = async (): Promise<Record<string, Pick<Row, 'provider' | 'status'>>> =>
	Object.fromEntries(
		(await knex.select('id', 'provider', 'status').from('directus_users')).map((row) => [
			row.id,
			{ provider: row.provider, status: row.status },
		]),
	);

beforeAll(async () => {
	schema = await createUsersSchema();
	knex = schema.knex;
});

afterAll(() => schema?.drop());

beforeEach(async () => {
	await knex('directus_users').delete();
	await knex('directus_revisions').delete();
});

describe('on a host that refuses custom providers, with BCC_AUTH_USER_PROVIDER=auto', () => {
	test('moves only its own service users, re-activates inactive-license, leaves suspended alone', async () => {
		const ours = [
			serviceUser('job-a@clients'),
			serviceUser('job-b@clients', INACTIVE_LICENSE_STATUS),
			serviceUser('job-c@clients', 'suspended'),
			serviceUser('job-d@clients', 'draft'),
		];
		// Not ours: a person's SSO account, a row with the guide's provider whose id is not derived from its
		// external identifier, one without an external identifier, and a service user already on `default`.
		const person = { id: randomUUID(), provider: 'openid', status: INACTIVE_LICENSE_STATUS, external_identifier: 'al' };
		const impostor = { ...serviceUser('job-e@clients'), id: randomUUID(), status: INACTIVE_LICENSE_STATUS };
		const anonymous = { id: randomUUID(), provider: GUIDE_PROVIDER, status: 'active', external_identifier: null };
		const done = serviceUser('job-f@clients', INACTIVE_LICENSE_STATUS, 'default');
		await knex('directus_users').insert([...ours, person, impostor, anonymous, done]);

		const result = await migrateServiceUserProviders({ knex, provider: 'auto', refusesCustomProviders: true });

		expect(result).toEqual({ moved: 4, reactivated: 1, keptInactive: 0 });
		expect(await users()).toEqual({
			[ours[0]!.id]: { provider: 'default', status: 'active' },
			[ours[1]!.id]: { provider: 'default', status: 'active' },
			[ours[2]!.id]: { provider: 'default', status: 'suspended' },
			[ours[3]!.id]: { provider: 'default', status: 'draft' },
			[person.id]: { provider: 'openid', status: INACTIVE_LICENSE_STATUS },
			[impostor.id]: { provider: GUIDE_PROVIDER, status: INACTIVE_LICENSE_STATUS },
			[anonymous.id]: { provider: GUIDE_PROVIDER, status: 'active' },
			[done.id]: { provider: 'default', status: INACTIVE_LICENSE_STATUS },
		});
	});

	test("a client's role user moves too: it counts as an SSO user like the first one", async () => {
		const first = serviceUser('two-roles@clients');
		const role = '22222222-2222-4222-8222-222222222222';
		const roleUser = {
			id: roleUserId('two-roles@clients', role),
			provider: GUIDE_PROVIDER,
			status: 'active',
			external_identifier: `${first.id}:${role}`,
		};
		await knex('directus_users').insert([first, roleUser]);

		const result = await migrateServiceUserProviders({ knex, provider: 'auto', refusesCustomProviders: true });

		expect(result).toEqual({ moved: 2, reactivated: 0, keptInactive: 0 });
		expect(await users()).toEqual({
			[first.id]: { provider: 'default', status: 'active' },
			[roleUser.id]: { provider: 'default', status: 'active' },
		});
	});

	test('a client suspended before the licence resolution stays out; one active before comes back', async () => {
		const suspended = serviceUser('revoked@clients', INACTIVE_LICENSE_STATUS);
		const reactivated = serviceUser('job-a@clients', INACTIVE_LICENSE_STATUS);
		const cycled = serviceUser('job-b@clients', INACTIVE_LICENSE_STATUS);
		await knex('directus_users').insert([suspended, reactivated, cycled]);
		// What Directus records: an admin's PATCH, then the resolution's update of every custom-provider user.
		const revision = (item: string, delta: Record<string, unknown>) => ({
			collection: 'directus_users',
			item,
			delta: JSON.stringify(delta),
		});
		await knex('directus_revisions').insert([
			revision(suspended.id, { status: 'suspended' }),
			revision(cycled.id, { status: 'suspended' }),
			revision(cycled.id, { status: 'active', role: 'x' }),
			revision(reactivated.id, { role: 'y' }),
			revision(suspended.id, { status: INACTIVE_LICENSE_STATUS }),
			revision(reactivated.id, { status: INACTIVE_LICENSE_STATUS }),
			revision(cycled.id, { status: INACTIVE_LICENSE_STATUS }),
			{ collection: 'directus_files', item: reactivated.id, delta: JSON.stringify({ status: 'suspended' }) },
		]);

		const result = await migrateServiceUserProviders({ knex, provider: 'auto', refusesCustomProviders: true });

		expect(result).toEqual({ moved: 3, reactivated: 2, keptInactive: 1 });
		expect(await users()).toEqual({
			[suspended.id]: { provider: 'default', status: INACTIVE_LICENSE_STATUS },
			[reactivated.id]: { provider: 'default', status: 'active' },
			[cycled.id]: { provider: 'default', status: 'active' },
		});
	});

	test('a second run finds nothing to move', async () => {
		await knex('directus_users').insert([serviceUser('job-a@clients'), serviceUser('job-b@clients')]);

		expect(await migrateServiceUserProviders({ knex, provider: 'auto', refusesCustomProviders: true })).toEqual({
			moved: 2,
			reactivated: 0,
			keptInactive: 0,
		});
		expect(await migrateServiceUserProviders({ knex, provider: 'auto', refusesCustomProviders: true })).toEqual({
			moved: 0,
			reactivated: 0,
			keptInactive: 0,
		});
	});

	test('more service users than one statement takes: every one moves', async () => {
		const many = Array.from({ length: 2500 }, (_, i) =>
			serviceUser(`bulk-${i}@clients`, i % 2 ? INACTIVE_LICENSE_STATUS : 'active'),
		);
		await knex.batchInsert('directus_users', many, 500);

		const result = await migrateServiceUserProviders({ knex, provider: 'auto', refusesCustomProviders: true });

		expect(result).toEqual({ moved: 2500, reactivated: 1250, keptInactive: 0 });
		expect(await knex('directus_users').whereNot({ provider: 'default' }).orWhereNot({ status: 'active' })).toEqual([]);
	});

	test('instances starting at once move each row exactly once between them', async () => {
		const rows = Array.from({ length: 200 }, (_, i) =>
			serviceUser(`race-${i}@clients`, i % 4 ? 'active' : INACTIVE_LICENSE_STATUS),
		);
		await knex.batchInsert('directus_users', rows, 200);
		const instances = Array.from({ length: 6 }, () => schema.connect());

		try {
			const results = await Promise.all(
				instances.map((instance) =>
					migrateServiceUserProviders({ knex: instance, provider: 'auto', refusesCustomProviders: true }),
				),
			);
			const moved = results.reduce((sum, result) => sum + result!.moved, 0);
			const reactivated = results.reduce((sum, result) => sum + result!.reactivated, 0);
			console.log(`6 instances at once: moved per instance ${results.map((result) => result!.moved).join(', ')}`);

			expect(moved).toBe(200);
			expect(reactivated).toBe(50);
			expect(await knex('directus_users').whereNot({ provider: 'default' }).orWhereNot({ status: 'active' })).toEqual(
				[],
			);
		} finally {
			await Promise.all(instances.map((instance) => instance.destroy()));
		}
	});
});

describe('when new service users keep a custom provider, nothing moves', () => {
	test.each([
		{ provider: 'auto', refusesCustomProviders: false },
		{ provider: GUIDE_PROVIDER, refusesCustomProviders: true },
		{ provider: 'my-provider', refusesCustomProviders: false },
	])('provider $provider, host refuses: $refusesCustomProviders', async (options) => {
		const row = serviceUser('job-a@clients', INACTIVE_LICENSE_STATUS);
		await knex('directus_users').insert(row);

		expect(await migrateServiceUserProviders({ knex, ...options })).toBeNull();
		expect(await users()).toEqual({ [row.id]: { provider: GUIDE_PROVIDER, status: INACTIVE_LICENSE_STATUS } });
	});
});

test('BCC_AUTH_USER_PROVIDER=default moves them on any host', async () => {
	const row = serviceUser('job-a@clients');
	await knex('directus_users').insert(row);

	expect(await migrateServiceUserProviders({ knex, provider: 'default', refusesCustomProviders: false })).toEqual({
		moved: 1,
		reactivated: 0,
		keptInactive: 0,
	});
	expect(await users()).toEqual({ [row.id]: { provider: 'default', status: 'active' } });
});

describe('hostRefusesCustomProviders asks the UsersService', () => {
	test('Directus 11: no licence check, custom providers accepted', () => {
		class UsersService {}
		expect(hostRefusesCustomProviders(UsersService)).toBe(false);
	});

	test('Directus 12 with SSO in its licence: the check passes', () => {
		class UsersService {
			checkProviderEntitlement(_provider: string) {}
		}
		expect(hostRefusesCustomProviders(UsersService)).toBe(false);
	});

	test('Directus 12 Core: the check refuses the guide provider', () => {
		const asked: unknown[] = [];
		class UsersService {
			checkProviderEntitlement(provider: string) {
				asked.push(provider);
				throw new InvalidPayloadError({ reason: 'Setting a custom "provider" isn\'t included in the current license' });
			}
		}
		expect(hostRefusesCustomProviders(UsersService)).toBe(true);
		expect(asked).toEqual([GUIDE_PROVIDER]);
	});

	test('a check failing in another way is not taken for an answer', () => {
		class UsersService {
			checkProviderEntitlement() {
				throw new TypeError('boom');
			}
		}
		expect(() => hostRefusesCustomProviders(UsersService)).toThrow('boom');
	});
});

test.each([
	['auto', true, 'default'],
	['auto', false, 'auto'],
	['default', true, 'default'],
	['default', false, 'default'],
	['my-provider', true, 'my-provider'],
])('resolveUserProvider(%s, refuses: %s) = %s', (configured, refuses, expected) => {
	expect(resolveUserProvider(configured, refuses)).toBe(expected);
});
