/**
 * The Directus 11 → 12 upgrade without a manual step: Directus 12 without an SSO licence (Core) locks the whole
 * project while an active user has a provider other than `default`, and every service user made on Directus 11 has
 * the guide's provider. This moves the extension's own service users to `default` when the extension loads.
 */
import { isDirectusError } from '@directus/errors';
import type { Knex } from 'knex';
import { GUIDE_PROVIDER, isServiceUserRow } from './service-user.js';

/** The status Directus 12's licence resolution gives the users it disables (`@directus/constants`). */
export const INACTIVE_LICENSE_STATUS = 'inactive-license';

/** Ids per UPDATE: below every database's bound-parameter limit (SQL Server's 2,100 is the lowest). */
const IDS_PER_STATEMENT = 1000;

/**
 * Whether this Directus refuses users whose provider is not `default`, asked of the very check its `UsersService`
 * runs before it writes a provider (`checkProviderEntitlement`, Directus 12: the licence's `sso_enabled`
 * entitlement). Directus 11 has no such check and accepts any provider. Creates nothing, reads no database.
 */
export function hostRefusesCustomProviders(UsersService: abstract new (...args: never[]) => unknown): boolean {
	const check = (UsersService.prototype as { checkProviderEntitlement?: unknown }).checkProviderEntitlement;
	if (typeof check !== 'function') return false;

	try {
		// Why an instance made without its constructor: the check reads only the process's licence, and a real
		// instance would need the schema, which is not at hand while the extension registers.
		check.call(Object.create(UsersService.prototype), GUIDE_PROVIDER);
		return false;
	} catch (error) {
		if (isDirectusError(error, 'INVALID_PAYLOAD')) return true;
		throw error;
	}
}

/** The provider new service users get: `auto` becomes `default` where the host refuses custom providers. */
export function resolveUserProvider(configured: string, refusesCustomProviders: boolean): string {
	return configured === 'auto' && refusesCustomProviders ? 'default' : configured;
}

export interface ProviderMigrationOptions {
	knex: Knex;
	/** `BCC_AUTH_USER_PROVIDER`: `auto`, `default` or a provider name. */
	provider: string;
	/** Whether the host refuses custom providers (see `hostRefusesCustomProviders`). */
	refusesCustomProviders: boolean;
}

export interface ProviderMigrationResult {
	/** Service users moved from the guide's provider to `default` by this call. */
	readonly moved: number;
	/** Of those, how many were `inactive-license` and are `active` again. */
	readonly reactivated: number;
	/** Of those, how many stay `inactive-license`: their revisions show they were not active before (revoked). */
	readonly keptInactive: number;
}

/**
 * Moves the extension's own service users (provider `bcc-client-credentials` and an id derived from their
 * `external_identifier`, see `isServiceUserRow`) to provider `default`, when new users get `default` too (`auto` on a host that refuses
 * custom providers, or `default` set by the operator). Returns `null` when nothing is to be moved on this host.
 * Safe on every instance at once: each row moves in exactly one UPDATE, whichever instance runs it.
 */
export async function migrateServiceUserProviders(
	options: ProviderMigrationOptions,
): Promise<ProviderMigrationResult | null> {
	const { knex } = options;
	if (resolveUserProvider(options.provider, options.refusesCustomProviders) !== 'default') return null;

	const rows: { id: string; external_identifier: unknown; status: unknown }[] = await knex
		.select('id', 'external_identifier', 'status')
		.from('directus_users')
		.where({ provider: GUIDE_PROVIDER });

	// Only rows this extension made, first users and role users alike: their id is derived from their external
	// identifier. A person's SSO account (another extension, a hand-made row) with the same provider name is never
	// touched.
	const ours = rows.filter((row) =>
		isServiceUserRow({
			id: String(row.id).toLowerCase(),
			external_identifier: typeof row.external_identifier === 'string' ? row.external_identifier : null,
		}),
	);

	// The licence resolution sets every user with a custom provider to `inactive-license`, a client an admin had
	// suspended included: those must not come back. Directus's revisions tell what each status was before.
	const revoked = await revokedBeforeLicenseResolution(
		knex,
		ours.filter((row) => row.status === INACTIVE_LICENSE_STATUS).map((row) => String(row.id)),
	);

	let moved = 0;
	let reactivated = 0;
	let keptInactive = 0;

	for (let start = 0; start < ours.length; start += IDS_PER_STATEMENT) {
		const chunk = ours.slice(start, start + IDS_PER_STATEMENT);
		const keep = chunk.filter((row) => revoked.has(String(row.id))).map((row) => row.id);
		const reactivate = chunk.filter((row) => row.status === INACTIVE_LICENSE_STATUS && !revoked.has(String(row.id)));

		// One statement moves the provider and lifts the licence resolution's `inactive-license` together, so no
		// instance ever sees a row half done; `suspended` and every other status an admin set stay as they are.
		// The provider in the WHERE makes a second instance running the same UPDATE match nothing.
		const status =
			keep.length === 0
				? knex.raw('CASE WHEN ?? = ? THEN ? ELSE ?? END', ['status', INACTIVE_LICENSE_STATUS, 'active', 'status'])
				: knex.raw(`CASE WHEN ?? = ? AND ?? NOT IN (${keep.map(() => '?').join(', ')}) THEN ? ELSE ?? END`, [
						'status',
						INACTIVE_LICENSE_STATUS,
						'id',
						...keep,
						'active',
						'status',
					]);

		const count = await knex('directus_users')
			.update({ provider: 'default', status })
			.whereIn(
				'id',
				chunk.map((row) => row.id),
			)
			.andWhere({ provider: GUIDE_PROVIDER });

		moved += count;
		// Exact unless another instance moved part of this very chunk between the read and the UPDATE; then at most.
		reactivated += Math.min(count, reactivate.length);
		keptInactive += Math.min(count, keep.length);
	}

	return { moved, reactivated, keptInactive };
}

/**
 * Of these `inactive-license` users, those whose status before it was not `active` (an admin had suspended them),
 * from `directus_revisions`. A user without such a revision (made by this extension, which records none, and set
 * inactive outside Directus's services) counts as active before.
 */
async function revokedBeforeLicenseResolution(knex: Knex, userIds: readonly string[]): Promise<Set<string>> {
	const revoked = new Set<string>();

	for (let start = 0; start < userIds.length; start += IDS_PER_STATEMENT) {
		const revisions: { item: unknown; delta: unknown }[] = await knex
			.select('item', 'delta')
			.from('directus_revisions')
			.where({ collection: 'directus_users' })
			.whereIn('item', userIds.slice(start, start + IDS_PER_STATEMENT))
			.orderBy('id');

		const current = new Map<string, string>();
		const before = new Map<string, string>();

		for (const revision of revisions) {
			const status = statusOf(revision.delta);
			if (status === undefined) continue;

			const item = String(revision.item);
			const previous = current.get(item) ?? 'active';
			if (status === INACTIVE_LICENSE_STATUS && previous !== INACTIVE_LICENSE_STATUS) before.set(item, previous);
			current.set(item, status);
		}

		for (const [item, status] of before) if (status !== 'active') revoked.add(item);
	}

	return revoked;
}

/** The `status` a revision's delta set: JSON text on SQLite and MySQL, already parsed on PostgreSQL. */
function statusOf(delta: unknown): string | undefined {
	let value = delta;

	if (typeof value === 'string') {
		try {
			value = JSON.parse(value);
		} catch {
			return undefined;
		}
	}

	const status = (value as { status?: unknown } | null)?.status;
	return typeof status === 'string' ? status : undefined;
}
