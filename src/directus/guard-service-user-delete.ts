/**
 * Deleting a service user would not revoke its client: the client's next token would create it again, active.
 * So the delete is refused, with a message that says what to do instead (suspend it), in the app and the API alike.
 */
import { InvalidPayloadError } from '@directus/errors';
import type { Knex } from 'knex';
import { isServiceUserRow } from './service-user.js';

/**
 * Creates the `users.delete` filter: lets the delete through unless one of the users is a service user of this
 * extension. One query per delete of users, never on a request's path.
 */
export function createServiceUserDeleteGuard(knex: Knex): (keys: unknown) => Promise<unknown> {
	return async (keys) => {
		const ids = (Array.isArray(keys) ? keys : [keys]).filter((key) => typeof key === 'string');
		if (ids.length === 0) return keys;

		const rows: { id: string; external_identifier: string | null; title: string | null }[] = await knex
			.select('id', 'external_identifier', 'title')
			.from('directus_users')
			.whereIn('id', ids);
		const service = rows.filter(isServiceUserRow);

		if (service.length > 0) {
			const names = service.map((row) => row.title ?? row.external_identifier).join(', ');
			throw new InvalidPayloadError({
				reason:
					`${names}: service users of auth-client-credentials are not deleted, since the client's next token ` +
					'would create the user again. Set its status to "Suspended" to revoke the client',
			});
		}

		return keys;
	};
}
