/**
 * The service user of a client: id = UUIDv5(client id, NIL), created on first sight, its role kept in line with the
 * scope mapping, its `last_access` moved once per newer token. Suspending it (any status but `active`) revokes the
 * client; nothing here ever re-activates a user.
 */
import { isDirectusError } from '@directus/errors';
import type { SchemaOverview } from '@directus/types';
import type { Knex } from 'knex';
import { NIL, v5 } from 'uuid';
import { BoundedCache } from '../sync/bounded-cache.js';
import { TokenRejectedError } from '../token/token-rejected-error.js';

/** The provider the guide gives service users. */
export const GUIDE_PROVIDER = 'bcc-client-credentials';

/** The id of a client's service user: stable across instances, environments and restarts. */
export function serviceUserId(clientId: string): string {
	return v5(clientId, NIL);
}

/** What a request needs to know about its service user. */
interface UserState {
	readonly role: string | null;
	readonly status: string;
	/** `last_access` in epoch seconds, `null` when never set. */
	readonly lastAccess: number | null;
}

export interface ServiceUserRequest {
	readonly userId: string;
	readonly clientId: string;
	readonly role: string;
	/** The token's `iat`, epoch seconds. */
	readonly issuedAt: number | undefined;
}

export interface ServiceUsers {
	/** Makes sure the user exists, is active and has `role`; refuses a suspended user. Zero queries when known. */
	ensure(request: ServiceUserRequest): Promise<void>;
	/** Forgets what is known of these users (an admin changed or deleted them). */
	forget(userIds: readonly string[]): void;
	clear(): void;
}

/** The slice of Directus's `UsersService` used here. */
export interface UsersServiceLike {
	createOne(data: Record<string, unknown>): Promise<unknown>;
	updateOne(key: string, data: Record<string, unknown>): Promise<unknown>;
}

export interface ServiceUsersOptions {
	knex: Knex;
	/** A `UsersService` acting as the system (no accountability), so hooks, validation and activity apply. */
	createUsersService: (schema: SchemaOverview) => UsersServiceLike;
	getSchema: () => Promise<SchemaOverview>;
	/** `auto`, or the provider to give new users. */
	provider: string;
	ttlMs: number;
	onProviderFallback: (reason: string) => void;
	now?: () => number;
}

/** Creates the store; single flight per user, so a burst of first requests makes one upsert. */
export function createServiceUsers(options: ServiceUsersOptions): ServiceUsers {
	const { knex, createUsersService, getSchema, ttlMs, onProviderFallback, now = Date.now } = options;
	const states = new BoundedCache<string, UserState>(100_000, now);
	const flights = new Map<string, Promise<UserState>>();
	let provider = options.provider === 'auto' ? GUIDE_PROVIDER : options.provider;
	const providerIsAuto = options.provider === 'auto';

	const isCurrent = (state: UserState | undefined, request: ServiceUserRequest): state is UserState =>
		state !== undefined &&
		(state.status !== 'active' ||
			(state.role === request.role &&
				(request.issuedAt === undefined || (state.lastAccess ?? -Infinity) >= request.issuedAt)));

	const readState = async (userId: string): Promise<UserState | undefined> => {
		const row = await knex.select('role', 'status', 'last_access').from('directus_users').where({ id: userId }).first();

		return row ? { role: row.role, status: row.status, lastAccess: toEpochSeconds(row.last_access) } : undefined;
	};

	const create = async (request: ServiceUserRequest): Promise<void> => {
		const users = createUsersService(await getSchema());

		const data = {
			id: request.userId,
			first_name: 'External',
			last_name: 'Client',
			external_identifier: request.clientId,
			last_access: new Date((request.issuedAt ?? now() / 1000) * 1000).toISOString(),
			role: request.role,
		};

		// The provider this attempt uses: several first requests of different clients may be creating users at
		// once, and the first refusal switches `provider` for all of them while the others are still in flight.
		const attempted = provider;

		try {
			await users.createOne({ ...data, provider: attempted });
		} catch (error) {
			// Directus 12 without a licence refuses custom providers; the built-in one works everywhere.
			if (!providerIsAuto || attempted === 'default' || !isDirectusError(error, 'INVALID_PAYLOAD')) throw error;

			if (provider !== 'default') {
				onProviderFallback((error as Error).message);
				provider = 'default';
			}

			await users.createOne({ ...data, provider: 'default' });
		}
	};

	const sync = async (request: ServiceUserRequest): Promise<UserState> => {
		let state = await readState(request.userId);

		if (state === undefined) {
			try {
				await create(request);
			} catch (error) {
				// Another request or instance created it first: read theirs and carry on.
				if (!isDirectusError(error, 'RECORD_NOT_UNIQUE')) throw error;
			}

			state = await readState(request.userId);
			if (state === undefined) throw new Error(`service user ${request.userId} vanished right after creation`);
		}

		if (state.status !== 'active') {
			states.set(request.userId, state, now() + ttlMs);
			return state;
		}

		if (state.role !== request.role) {
			await createUsersService(await getSchema()).updateOne(request.userId, { role: request.role });
		}

		let lastAccess = state.lastAccess;

		if (request.issuedAt !== undefined && (lastAccess === null || lastAccess < request.issuedAt)) {
			// A plain update, as Directus's own login does: no revision, no hooks, one write per newer token.
			await knex('directus_users')
				.update({ last_access: new Date(request.issuedAt * 1000) })
				.where({ id: request.userId });
			lastAccess = request.issuedAt;
		}

		const synced: UserState = { role: request.role, status: 'active', lastAccess };
		states.set(request.userId, synced, now() + ttlMs);
		return synced;
	};

	return {
		async ensure(request) {
			let state = states.get(request.userId);

			while (!isCurrent(state, request)) {
				const running = flights.get(request.userId);

				if (running) {
					// Join the upsert under way; if it served another role or an older token, go round again.
					state = await running.catch(() => undefined);
					continue;
				}

				const flight = sync(request).finally(() => flights.delete(request.userId));
				flights.set(request.userId, flight);
				state = await flight;
			}

			if (state.status !== 'active') {
				throw new TokenRejectedError('user_suspended', `the service user's status is "${state.status}"`);
			}
		},

		forget(userIds) {
			for (const id of userIds) states.delete(String(id));
		},

		clear() {
			states.clear();
		},
	};
}

/** `last_access` as the drivers return it: a Date (PostgreSQL, MySQL), epoch ms or a date string (SQLite). */
function toEpochSeconds(value: unknown): number | null {
	if (value === null || value === undefined) return null;
	if (value instanceof Date) return Math.floor(value.getTime() / 1000);
	if (typeof value === 'number') return Math.floor(value / 1000);

	const text = String(value);
	// SQLite keeps "YYYY-MM-DD HH:MM:SS" in UTC without a zone; say so before parsing.
	const parsed = Date.parse(
		/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?$/.test(text) ? `${text.replace(' ', 'T')}Z` : text,
	);
	return Number.isNaN(parsed) ? null : Math.floor(parsed / 1000);
}
