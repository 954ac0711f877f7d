/**
 * Role references from the scope mapping (a UUID or an exact name) resolved to role ids, cached for the state TTL.
 */
import type { Knex } from 'knex';
import { BoundedCache } from '../sync/bounded-cache.js';
import { isUuid } from './is-uuid.js';
import { TokenRejectedError } from '../token/token-rejected-error.js';

export interface RoleResolver {
	/** The id of the role `reference` names; a `TokenRejectedError('unknown_role')` when none or several do. */
	resolve(reference: string): Promise<string>;
	/** Forgets every resolution (roles were created, renamed or deleted). */
	clear(): void;
}

export interface RoleResolverOptions {
	knex: Knex;
	ttlMs: number;
	/** Called once per failed resolution (then cached for the TTL), so a bad mapping is loud but not noisy. */
	onUnknownRole: (reference: string, reason: string) => void;
	now?: () => number;
}

type Resolution = { id: string } | { problem: string };

/** Creates a resolver; a failed lookup is cached as well, so a bad mapping costs one query per TTL. */
export function createRoleResolver(options: RoleResolverOptions): RoleResolver {
	const { knex, ttlMs, onUnknownRole, now = Date.now } = options;
	const cache = new BoundedCache<string, Resolution>(1000, now);

	const lookup = async (reference: string): Promise<Resolution> => {
		// A UUID-shaped reference is an id; anything else is a name. Names can repeat in Directus: refuse to guess.
		const rows: { id: string }[] = isUuid(reference)
			? await knex.select('id').from('directus_roles').where({ id: reference.toLowerCase() })
			: await knex.select('id').from('directus_roles').where({ name: reference }).limit(2);

		if (rows.length === 1) return { id: rows[0]!.id };
		return { problem: rows.length === 0 ? 'no such role' : 'several roles have this name; use its UUID' };
	};

	return {
		async resolve(reference) {
			const resolution = await cache.getOrLoad(reference, ttlMs, async () => {
				const found = await lookup(reference);
				if ('problem' in found) onUnknownRole(reference, found.problem);
				return found;
			});

			if ('problem' in resolution) {
				throw new TokenRejectedError(
					'unknown_role',
					`the mapped role "${reference}" cannot be used: ${resolution.problem}`,
				);
			}

			return resolution.id;
		},

		clear() {
			cache.clear();
		},
	};
}
