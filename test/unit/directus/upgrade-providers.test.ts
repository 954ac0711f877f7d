/**
 * The provider migration wired into Directus: the provider new service users get, the log lines, and the cache
 * clear after a move; against a real PostgreSQL (127.0.0.1:5432) in a schema of its own, with stand-in services.
 */
import { InvalidPayloadError } from '@directus/errors';
import type { SchemaOverview } from '@directus/types';
import knexFactory, { type Knex } from 'knex';
import { createUsersSchema, type TestSchema } from '../../helpers/postgres-schema.js';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { upgradeServiceUserProviders, type UpgradeProvidersOptions } from '../../../src/directus/upgrade-providers.js';
import { GUIDE_PROVIDER, serviceUserId } from '../../../src/directus/service-user.js';

let schema: TestSchema;
let knex: Knex;

beforeAll(async () => {
	schema = await createUsersSchema();
	knex = schema.knex;
});

afterAll(() => schema?.drop());

beforeEach(async () => {
	await knex('directus_users').delete();
});

/** A Directus 12 Core users service, a Directus 11 one, or one whose check breaks. */
const hosts = {
	core12: class {
		checkProviderEntitlement() {
			throw new InvalidPayloadError({ reason: `Setting a custom "provider" isn't included in the current license` });
		}
	},
	directus11: class {},
	broken: class {
		checkProviderEntitlement() {
			throw new TypeError('cannot read properties of undefined');
		}
	},
};

function setup(host: keyof typeof hosts, provider = 'auto', clearCache: () => Promise<void> = async () => {}) {
	const lines: string[] = [];
	const clears: unknown[] = [];
	const log = (level: string) => (line: string) => lines.push(`${level} ${line}`);
	const options = {
		provider,
		knex,
		services: {
			UsersService: hosts[host],
			UtilsService: class {
				constructor(readonly options: { accountability: { admin: boolean } }) {}
				async clearCache(what: unknown) {
					clears.push({ what, admin: this.options.accountability.admin });
					await clearCache();
				}
			},
		} as unknown as UpgradeProvidersOptions['services'],
		getSchema: async () => ({}) as SchemaOverview,
		logger: { info: log('info'), warn: log('warn'), error: log('error') },
		logPrefix: '[test]',
	};
	return { ...upgradeServiceUserProviders(options), lines, clears };
}

test('Directus 12 Core: new users get default, old ones move once, caches cleared once', async () => {
	await knex('directus_users').insert([
		{ id: serviceUserId('a'), provider: GUIDE_PROVIDER, status: 'active', external_identifier: 'a' },
		{ id: serviceUserId('b'), provider: GUIDE_PROVIDER, status: 'inactive-license', external_identifier: 'b' },
	]);

	const upgrade = setup('core12');
	expect(upgrade.userProvider).toBe('default');
	expect(upgrade.lines).toEqual([
		'info [test] this Directus refuses custom user providers (its licence does not include SSO); service users get provider "default"',
	]);

	await upgrade.migrate();
	expect(upgrade.lines[1]).toMatch(
		/^info \[test\] moved 2 service users from provider "bcc-client-credentials" to "default" \(.*\); 1 of them back from "inactive-license" .* to "active"$/,
	);
	expect(upgrade.clears).toEqual([{ what: { system: true }, admin: true }]);

	await upgrade.migrate();
	expect(upgrade.lines).toHaveLength(2);
	expect(upgrade.clears).toHaveLength(1);
});

test('Directus 11 with auto: nothing decided, nothing moved, nothing logged', async () => {
	await knex('directus_users').insert({
		id: serviceUserId('a'),
		provider: GUIDE_PROVIDER,
		status: 'active',
		external_identifier: 'a',
	});
	const upgrade = setup('directus11');

	await upgrade.migrate();
	expect(upgrade.userProvider).toBe('auto');
	expect(upgrade.lines).toEqual([]);
	expect((await knex('directus_users').first()).provider).toBe(GUIDE_PROVIDER);
});

test('BCC_AUTH_USER_PROVIDER=default on Directus 11: moved, no cache to clear', async () => {
	await knex('directus_users').insert({
		id: serviceUserId('a'),
		provider: GUIDE_PROVIDER,
		status: 'active',
		external_identifier: 'a',
	});
	const upgrade = setup('directus11', 'default');

	await upgrade.migrate();
	expect(upgrade.lines).toEqual([
		'info [test] moved 1 service users from provider "bcc-client-credentials" to "default" (BCC_AUTH_USER_PROVIDER is "default")',
	]);
	expect(upgrade.clears).toEqual([]);
});

test('a check that breaks: warned, new users keep auto (and its fallback), nothing moved', async () => {
	const upgrade = setup('broken');

	await upgrade.migrate();
	expect(upgrade.userProvider).toBe('auto');
	expect(upgrade.lines).toEqual([expect.stringMatching(/^warn \[test\] could not tell .*cannot read properties/)]);
});

test('a database failure is logged as an error and does not stop Directus', async () => {
	// Nothing listens on port 1: every query fails with ECONNREFUSED.
	const unreachable = knexFactory({
		client: 'pg',
		connection: { host: '127.0.0.1', port: 1, user: 'postgres' },
		pool: { min: 0, max: 1 },
	});
	const errors: string[] = [];
	const { migrate } = upgradeServiceUserProviders({
		provider: 'auto',
		knex: unreachable,
		services: { UsersService: hosts.core12 } as unknown as UpgradeProvidersOptions['services'],
		getSchema: async () => ({}) as SchemaOverview,
		logger: { info: () => {}, warn: () => {}, error: (line) => errors.push(line) },
		logPrefix: '[test]',
	});

	try {
		await expect(migrate()).resolves.toBeUndefined();
		expect(errors).toEqual([
			expect.stringMatching(/^\[test\] could not move service users to provider "default" \(.*ECONNREFUSED/),
		]);
	} finally {
		await unreachable.destroy();
	}
});

test('a cache clear that fails is a warning; the move stands', async () => {
	await knex('directus_users').insert({
		id: serviceUserId('a'),
		provider: GUIDE_PROVIDER,
		status: 'active',
		external_identifier: 'a',
	});
	const upgrade = setup('core12', 'auto', async () => {
		throw new Error('redis down');
	});

	await upgrade.migrate();
	expect(upgrade.lines.at(-1)).toMatch(/^warn \[test\] could not clear Directus's caches .*redis down/);
	expect((await knex('directus_users').first()).provider).toBe('default');
});
