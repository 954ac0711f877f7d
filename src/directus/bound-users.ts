/**
 * Existing Directus users that `BCC_AUTH_CLIENTS` binds client ids to: the client then acts as that user, with
 * the user's own role and policies. Several client ids may name one user (credential rotation).
 */
import type { Knex } from 'knex';
import { BoundedCache } from '../sync/bounded-cache.js';
import { isUuid } from './is-uuid.js';
import { TokenRejectedError } from '../token/token-rejected-error.js';

export interface BoundUser {
	readonly id: string;
	readonly role: string | null;
	readonly status: string;
}

export interface BoundUsers {
	/** The active user `reference` (an id or an email) names; refuses an unknown or suspended one. */
	resolve(reference: string): Promise<BoundUser>;
	clear(): void;
}

/** Creates the resolver; answers are cached for `ttlMs` and cleared when users change. */
export function createBoundUsers(options: { knex: Knex; ttlMs: number; now?: () => number }): BoundUsers {
	const { knex, ttlMs, now = Date.now } = options;
	const cache = new BoundedCache<string, BoundUser | null>(1000, now);

	const lookup = async (reference: string): Promise<BoundUser | null> => {
		const query = knex.select('id', 'role', 'status').from('directus_users');
		// Directus stores emails lower-cased; compare the same way.
		const row = await (
			isUuid(reference)
				? query.where({ id: reference.toLowerCase() })
				: query.whereRaw('LOWER(email) = ?', [reference.toLowerCase()])
		).first();
		return row ? { id: row.id, role: row.role ?? null, status: row.status } : null;
	};

	return {
		async resolve(reference) {
			const user = await cache.getOrLoad(reference, ttlMs, () => lookup(reference));

			if (user === null) {
				throw new TokenRejectedError(
					'unknown_user',
					`BCC_AUTH_CLIENTS binds the client to "${reference}", no such user`,
				);
			}

			if (user.status !== 'active') {
				throw new TokenRejectedError('user_suspended', `the bound user's status is "${user.status}"`);
			}

			return user;
		},

		clear() {
			cache.clear();
		},
	};
}
