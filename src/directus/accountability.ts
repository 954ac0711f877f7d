/**
 * The accountability Directus builds for its own tokens: `roles` is the role and its ancestors, `admin` and `app`
 * come from the policies attached to those roles and to the user, filtered by the request's IP.
 *
 * The database work is cached per role and per user for the state TTL; the IP filter runs per request.
 */
import type { Accountability } from '@directus/types';
import { fetchRolesTree, ipInNetworks } from '@directus/utils/node';
import type { Knex } from 'knex';
import { BoundedCache } from '../sync/bounded-cache.js';

/** One attached policy's global flags, as `directus_policies` stores them. */
interface PolicyGrant {
	readonly admin: boolean;
	readonly app: boolean;
	/** Networks the policy is limited to; `null` when it applies everywhere. */
	readonly networks: readonly string[] | null;
}

export interface AccountabilityBuilder {
	/** A new accountability: `base` plus the user, their role tree and global access. */
	build(base: Accountability, user: string, role: string | null): Promise<Accountability>;
	/** Roles, policies or access changed: forget everything. */
	clear(): void;
}

export interface AccountabilityBuilderOptions {
	knex: Knex;
	ttlMs: number;
	now?: () => number;
}

/** Creates the builder; its caches hold role trees and policy grants, never per-request data. */
export function createAccountabilityBuilder(options: AccountabilityBuilderOptions): AccountabilityBuilder {
	const { knex, ttlMs, now = Date.now } = options;
	// Keyed by role id; '' stands for "no role", whose tree is empty.
	const roleTrees = new BoundedCache<string, string[]>(1000, now);
	const grants = new BoundedCache<string, PolicyGrant[]>(10_000, now);

	return {
		async build(base, user, role) {
			// Hits are read synchronously: a cached request pays no await here.
			const roleKey = role ?? '';
			const roles =
				roleTrees.get(roleKey) ?? (await roleTrees.getOrLoad(roleKey, ttlMs, () => fetchRolesTree(role, { knex })));
			const grantsKey = `${user}|${roles.join(',')}`;
			const policyGrants =
				grants.get(grantsKey) ?? (await grants.getOrLoad(grantsKey, ttlMs, () => fetchGrants(knex, roles, user)));
			const { admin, app } = globalAccess(policyGrants, base.ip ?? null);

			// Why a fresh object: Directus compares the filter's result with its default to see if anyone answered,
			// and a share, session or OAuth link must never leak in from elsewhere. (Destructuring, not `delete`,
			// keeps the object fast.)
			const { session: _session, share: _share, oauth: _oauth, ...rest } = base as Accountability & { oauth?: unknown };

			return { ...rest, user, role, roles, admin, app };
		},

		clear() {
			roleTrees.clear();
			grants.clear();
		},
	};
}

/** The policies attached to any of `roles` or to `user`, as Directus's `fetchGlobalAccess` reads them. */
async function fetchGrants(knex: Knex, roles: string[], user: string): Promise<PolicyGrant[]> {
	const rows: { admin_access: unknown; app_access: unknown; ip_access: unknown }[] = await knex
		.select('directus_policies.admin_access', 'directus_policies.app_access', 'directus_policies.ip_access')
		.from('directus_access')
		.leftJoin('directus_policies', 'directus_policies.id', 'directus_access.policy')
		.where((query) => {
			query.where('directus_access.user', '=', user);
			if (roles.length > 0) query.orWhereIn('directus_access.role', roles);
		});

	return rows.map((row) => ({
		admin: toBoolean(row.admin_access),
		app: toBoolean(row.app_access),
		networks: toNetworks(row.ip_access),
	}));
}

/** Directus's rule: a policy limited to networks counts only for requests from them; admin implies app. */
function globalAccess(grants: readonly PolicyGrant[], ip: string | null): { admin: boolean; app: boolean } {
	let admin = false;
	let app = false;

	for (const grant of grants) {
		if (ip && grant.networks && !ipInNetworks(ip, [...grant.networks])) continue;
		admin ||= grant.admin;
		app ||= admin || grant.app;
		if (admin) break;
	}

	return { admin, app };
}

function toBoolean(value: unknown): boolean {
	return value === true || value === 1 || value === '1' || value === 'true';
}

function toNetworks(value: unknown): string[] | null {
	if (value === null || value === undefined || value === '') return null;
	const networks = Array.isArray(value) ? value.map(String) : String(value).split(',');
	return networks.map((network) => network.trim()).filter((network) => network !== '');
}
