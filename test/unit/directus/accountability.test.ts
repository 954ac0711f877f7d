/**
 * Role trees and global access as Directus computes them, against a small in-memory stand-in for knex (the
 * end-to-end suite checks the same against real databases).
 */
import type { Accountability } from '@directus/types';
import type { Knex } from 'knex';
import { expect, test } from 'vitest';
import { createAccountabilityBuilder } from '../../../src/directus/accountability.js';

interface Grant {
	role?: string;
	user?: string;
	admin_access: unknown;
	app_access: unknown;
	ip_access: unknown;
}

/** Answers exactly the two query shapes the builder makes, and counts them. */
function fakeKnex(parents: Record<string, string | null>, grants: Grant[]) {
	const counts = { roles: 0, access: 0 };

	const knex = (() => undefined) as unknown as Knex & { counts: typeof counts };
	Object.assign(knex, {
		counts,
		select: () => ({
			from: (table: string) => {
				if (table === 'directus_roles') {
					return {
						where: ({ id }: { id: string }) => ({
							first: async () => {
								counts.roles++;
								return id in parents ? { id, parent: parents[id] } : undefined;
							},
						}),
					};
				}
				return {
					leftJoin: () => ({
						where: (build: (query: unknown) => void) => {
							let user: string | undefined;
							let roles: string[] = [];
							const query = {
								where: (_column: string, _op: string, value: string) => ((user = value), query),
								orWhereIn: (_column: string, values: string[]) => ((roles = values), query),
							};
							build(query);
							counts.access++;
							return Promise.resolve(grants.filter((g) => g.user === user || (g.role && roles.includes(g.role))));
						},
					}),
				};
			},
		}),
	});
	return knex;
}

const base = (ip: string | null): Accountability =>
	({ role: null, user: null, roles: [], admin: false, app: false, ip, session: 'x', share: 'y' }) as Accountability;

test('roles are the role and its ancestors; parent policies count; session and share never survive', async () => {
	const knex = fakeKnex({ child: 'parent', parent: null }, [
		{ role: 'parent', admin_access: 0, app_access: 1, ip_access: null },
	]);
	const builder = createAccountabilityBuilder({ knex, ttlMs: 10_000 });
	const result = await builder.build(base('127.0.0.1'), 'u1', 'child');

	expect(result).toMatchObject({ user: 'u1', role: 'child', roles: ['parent', 'child'], admin: false, app: true });
	expect(result).not.toHaveProperty('session');
	expect(result).not.toHaveProperty('share');
});

test.each([
	[
		'an admin policy on the role',
		[{ role: 'r', admin_access: true, app_access: false, ip_access: null }],
		'10.1.2.3',
		true,
		true,
	],
	[
		'an admin policy on the user',
		[{ user: 'u1', admin_access: 1, app_access: 0, ip_access: null }],
		'10.1.2.3',
		true,
		true,
	],
	[
		'admin limited to another network',
		[{ role: 'r', admin_access: '1', app_access: '0', ip_access: '192.168.0.0/16' }],
		'10.1.2.3',
		false,
		false,
	],
	[
		'admin limited to this network',
		[{ role: 'r', admin_access: true, app_access: false, ip_access: '10.0.0.0/8,192.168.0.0/16' }],
		'10.1.2.3',
		true,
		true,
	],
	['no policy', [], '10.1.2.3', false, false],
])('%s', async (_, grants, ip, admin, app) => {
	const builder = createAccountabilityBuilder({ knex: fakeKnex({ r: null }, grants as Grant[]), ttlMs: 10_000 });
	expect(await builder.build(base(ip), 'u1', 'r')).toMatchObject({ admin, app });
});

test('a cached build makes no query; clear() forgets; the IP is evaluated per request', async () => {
	const knex = fakeKnex({ r: null }, [{ role: 'r', admin_access: true, app_access: true, ip_access: '10.0.0.0/8' }]);
	const builder = createAccountabilityBuilder({ knex, ttlMs: 10_000 });

	expect((await builder.build(base('10.0.0.1'), 'u1', 'r')).admin).toBe(true);
	expect((await builder.build(base('172.16.0.1'), 'u1', 'r')).admin).toBe(false);
	expect(knex.counts).toEqual({ roles: 1, access: 1 });

	builder.clear();
	await builder.build(base('10.0.0.1'), 'u1', 'r');
	expect(knex.counts).toEqual({ roles: 2, access: 2 });
});

test('a user without a role has an empty tree', async () => {
	const builder = createAccountabilityBuilder({ knex: fakeKnex({}, []), ttlMs: 10_000 });
	expect(await builder.build(base(null), 'u1', null)).toMatchObject({ role: null, roles: [] });
});
