/**
 * The guard on deleting service users, against a real PostgreSQL `directus_users`: a service user (first or role
 * user) is never deleted, alone or in a batch; any other user is, untouched by the guard.
 */
import { isDirectusError } from '@directus/errors';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createServiceUserDeleteGuard } from '../../../src/directus/guard-service-user-delete.js';
import { roleUserId, serviceUserId } from '../../../src/directus/service-user.js';
import { createUsersSchema, type TestSchema } from '../../helpers/postgres-schema.js';

const WRITERS = '22222222-2222-4222-8222-222222222222';
const PERSON = '55555555-5555-4555-8555-555555555555';
let schema: TestSchema;
let guard: (keys: unknown) => Promise<unknown>;

beforeAll(async () => {
	schema = await createUsersSchema((table) => table.string('title', 50));
	await schema.knex('directus_users').insert([
		{ id: serviceUserId('svc@clients'), external_identifier: 'svc@clients', title: 'svc@clients' },
		{
			id: roleUserId('svc@clients', WRITERS),
			external_identifier: `${serviceUserId('svc@clients')}:${WRITERS}`,
			title: 'svc@clients',
		},
		// A person signed in through SSO: an external identifier, but not one of ours.
		{ id: PERSON, external_identifier: 'jane@sso', title: 'Editor' },
	]);
	guard = createServiceUserDeleteGuard(schema.knex);
});

afterAll(() => schema?.drop());

test.each([
	['a first service user', [serviceUserId('svc@clients')]],
	['a role user', [roleUserId('svc@clients', WRITERS)]],
	['a batch with one service user in it', [PERSON, serviceUserId('svc@clients')]],
])('deleting %s is refused with 400 INVALID_PAYLOAD saying to suspend it', async (_, keys) => {
	const error = await guard(keys).then(
		() => undefined,
		(reason: unknown) => reason,
	);
	expect(isDirectusError(error, 'INVALID_PAYLOAD')).toBe(true);
	expect((error as Error).message).toMatch(
		/svc@clients: service users of auth-client-credentials are not deleted.*"Suspended"/,
	);
});

test.each([
	['another user', [PERSON]],
	['a user that does not exist', ['66666666-6666-4666-8666-666666666666']],
	['no keys', []],
])('deleting %s goes through, keys unchanged', async (_, keys) => {
	await expect(guard(keys)).resolves.toBe(keys);
});
