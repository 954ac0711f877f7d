/**
 * The service users of a client.
 *
 * A client's first service user has id = UUIDv5(client id, NIL), the guide's identity, and keeps the role it was
 * created with. A token whose scopes map to another role acts as a sibling user of that client for that role
 * (id = UUIDv5(role id, first user's id)), created once: alternating tokens never rewrite a role, and nothing
 * Directus caches per user (its response cache) is shared across roles. Suspending the first user revokes the whole
 * client; suspending a sibling revokes that role only. Nothing here ever re-activates a user.
 */
import { isDirectusError } from '@directus/errors';
import type { SchemaOverview } from '@directus/types';
import type { Knex } from 'knex';
import { NIL, v5 } from 'uuid';
import { BoundedCache } from '../sync/bounded-cache.js';
import { TokenRejectedError } from '../token/token-rejected-error.js';

/** The provider the guide gives service users. */
export const GUIDE_PROVIDER = 'bcc-client-credentials';

/** The id of a client's first service user: stable across instances, environments and restarts. */
export function serviceUserId(clientId: string): string {
	return v5(clientId, NIL);
}

/** The id of the client's service user for a role other than its first user's. */
export function roleUserId(clientId: string, roleId: string): string {
	return v5(roleId.toLowerCase(), serviceUserId(clientId));
}

/** `directus_users.title` holds 50 characters; a longer client id is cut, and stays whole in `external_identifier`. */
const TITLE_LENGTH = 50;

/** The title that names a client in the Directus app: its id, cut to the column's length. */
export function clientTitle(clientId: string): string {
	return clientId.length <= TITLE_LENGTH ? clientId : `${clientId.slice(0, TITLE_LENGTH - 1)}…`;
}

/** The `external_identifier` of a role user: its first user's id and the role, so it is unique and traceable. */
function roleUserIdentifier(firstUserId: string, roleId: string): string {
	return `${firstUserId}:${roleId.toLowerCase()}`;
}

/**
 * Whether a `directus_users` row is one of this extension's service users, by the ids it derives: never a guess
 * from names, so no other user is ever treated as one.
 */
export function isServiceUserRow(row: { id: string; external_identifier: string | null }): boolean {
	const identifier = row.external_identifier;
	if (!identifier) return false;
	if (row.id === v5(identifier, NIL)) return true;

	const match = /^([0-9a-f-]{36}):([0-9a-f-]{36})$/.exec(identifier);
	return match !== null && row.id === v5(match[2]!, match[1]!);
}

/** What a request needs to know about a service user. */
interface UserState {
	readonly role: string | null;
	readonly status: string;
	/** `last_access` in epoch seconds, `null` when never set. */
	readonly lastAccess: number | null;
	readonly title: string | null;
}

export interface ServiceUserRequest {
	readonly clientId: string;
	/** The role id the token's scopes map to. */
	readonly role: string;
	/** The token's `iat`, epoch seconds. */
	readonly issuedAt: number | undefined;
}

export interface ServiceUsers {
	/**
	 * The id of the active service user the request acts as, created on first sight; refuses a suspended client or
	 * role. Zero queries when known.
	 */
	ensure(request: ServiceUserRequest): Promise<string>;
	/** Forgets what is known of these users (an admin changed or deleted them). */
	forget(userIds: readonly string[]): void;
	/** Forgets everything (roles, policies or access changed, which may also free a seat for a new user). */
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
	/**
	 * Called before Directus is asked to create or change a user: throw to refuse (e.g. a 503 while Redis is known
	 * to be down, where Directus's own cache clearing after a user write would take the process down).
	 */
	beforeWrite?: () => void;
	now?: () => number;
}

/** Creates the store; single flight per user, so a burst of first requests makes one upsert. */
export function createServiceUsers(options: ServiceUsersOptions): ServiceUsers {
	const { knex, createUsersService, getSchema, ttlMs, onProviderFallback, beforeWrite, now = Date.now } = options;
	const states = new BoundedCache<string, UserState>(100_000, now);
	// Creations that failed for a lasting reason (a seat limit, an identifier held by another user): refused for
	// the TTL instead of retried in full on every request.
	const failures = new BoundedCache<string, TokenRejectedError>(10_000, now);
	const flights = new Map<string, Promise<UserState>>();
	// Why: a UUIDv5 is a SHA-1 and two UUID parses, the largest cost of a cache hit if computed per request.
	const ids = new BoundedCache<string, string>(100_000, now);
	const idOf = (clientId: string, role?: string): string => {
		const key = role === undefined ? clientId : `${clientId}\n${role}`;
		let id = ids.get(key);
		if (id === undefined) {
			id = role === undefined ? serviceUserId(clientId) : roleUserId(clientId, role);
			ids.set(key, id, Infinity);
		}
		return id;
	};
	const providerIsAuto = options.provider === 'auto';
	let provider = providerIsAuto ? GUIDE_PROVIDER : options.provider;

	const readState = async (userId: string): Promise<UserState | undefined> => {
		const row = await knex
			.select('role', 'status', 'last_access', 'title')
			.from('directus_users')
			.where({ id: userId })
			.first();

		return row
			? { role: row.role, status: row.status, lastAccess: toEpochSeconds(row.last_access), title: row.title ?? null }
			: undefined;
	};

	const create = async (user: PlannedUser): Promise<void> => {
		beforeWrite?.();
		const users = createUsersService(await getSchema());

		const data = {
			id: user.id,
			first_name: 'External',
			last_name: 'Client',
			// Shown beside the name on the user page, found by the users list's search, and a column of that list.
			title: clientTitle(user.clientId),
			external_identifier: user.externalIdentifier,
			last_access: new Date((user.issuedAt ?? now() / 1000) * 1000).toISOString(),
			role: user.role,
		};

		// The provider this attempt uses: several first requests of different clients may be creating users at
		// once, and the first refusal switches `provider` for all of them while the others are still in flight.
		const attempted = provider;

		try {
			await users.createOne({ ...data, provider: attempted });
		} catch (error) {
			// Only the host's refusal of custom providers (Directus 12 Core) switches to the built-in provider.
			if (!providerIsAuto || attempted === 'default' || !refusesProvider(error)) throw error;

			if (provider !== 'default') {
				onProviderFallback((error as Error).message);
				provider = 'default';
			}

			await users.createOne({ ...data, provider: 'default' });
		}
	};

	const createOrAdopt = async (user: PlannedUser): Promise<UserState> => {
		try {
			await create(user);
		} catch (error) {
			if (!isDirectusError(error)) throw error; // a database or host fault: a 503, retried next request

			if (isDirectusError(error, 'RECORD_NOT_UNIQUE')) {
				// Another request or instance created it first: read theirs and carry on.
				const theirs = await readState(user.id);
				if (theirs) return theirs;

				throw new TokenRejectedError(
					'user_not_creatable',
					`another Directus user already has external identifier ${JSON.stringify(user.externalIdentifier)}`,
				);
			}

			// Validation, a licence's seat limit, a hook's refusal: lasting until an admin acts.
			throw new TokenRejectedError(
				'user_not_creatable',
				`Directus refused to create the service user: ${(error as Error).message}`,
			);
		}

		const state = await readState(user.id);
		if (state === undefined) throw new Error(`service user ${user.id} vanished right after creation`);
		return state;
	};

	/** Reads (creating if missing) and brings up to date one user; the answer is cached unless overtaken. */
	const sync = async (user: PlannedUser): Promise<UserState> => {
		const generation = states.generation;
		let state = (await readState(user.id)) ?? (await createOrAdopt(user));

		if (state.status === 'active') {
			const changes: Record<string, unknown> = {};

			// A plain update, as Directus's own login does: no revision, no hooks, one write per newer token.
			if (user.issuedAt !== undefined && (state.lastAccess === null || state.lastAccess < user.issuedAt)) {
				changes['last_access'] = new Date(user.issuedAt * 1000);
			}

			// Users made before the client id was shown get it on their next request.
			if (state.title !== clientTitle(user.clientId)) changes['title'] = clientTitle(user.clientId);

			if (Object.keys(changes).length > 0) {
				await knex('directus_users').update(changes).where({ id: user.id });
				state = {
					...state,
					lastAccess: changes['last_access'] ? user.issuedAt! : state.lastAccess,
					title: clientTitle(user.clientId),
				};
			}
		}

		states.setIfCurrent(user.id, state, now() + ttlMs, generation);
		return state;
	};

	/** A cached state good for this request: a suspension, or an active user that already saw a token this new. */
	const current = (
		state: UserState | undefined,
		clientId: string,
		issuedAt: number | undefined,
	): UserState | undefined =>
		state !== undefined &&
		(state.status !== 'active' ||
			(state.title === clientTitle(clientId) &&
				(issuedAt === undefined || (state.lastAccess ?? -Infinity) >= issuedAt)))
			? state
			: undefined;

	/** The user's current state: cached, joined to an upsert under way, or synced now. */
	const stateOf = async (user: PlannedUser): Promise<UserState> => {
		const cached = current(states.get(user.id), user.clientId, user.issuedAt);
		if (cached) return cached;

		const failure = failures.get(user.id);
		if (failure) throw failure;

		while (true) {
			const running = flights.get(user.id);

			if (running) {
				// Join the upsert under way; if it served an older token, go round again.
				const state = current(await running.catch(() => undefined), user.clientId, user.issuedAt);
				if (state) return state;
				continue;
			}

			const flight = sync(user).finally(() => {
				if (flights.get(user.id) === flight) flights.delete(user.id);
			});
			flights.set(user.id, flight);

			try {
				return await flight;
			} catch (error) {
				if (error instanceof TokenRejectedError) failures.set(user.id, error, now() + ttlMs);
				throw error;
			}
		}
	};

	const refuseUnlessActive = (state: UserState, what: string): void => {
		if (state.status !== 'active') {
			throw new TokenRejectedError('user_suspended', `${what}'s status is "${state.status}"`);
		}
	};

	return {
		async ensure(request) {
			const { clientId, role, issuedAt } = request;
			const firstId = idOf(clientId);
			// A cache hit pays no await here.
			const first =
				current(states.get(firstId), clientId, issuedAt) ??
				(await stateOf({ id: firstId, clientId, externalIdentifier: clientId, role, issuedAt }));
			refuseUnlessActive(first, 'the service user');
			if (first.role === role) return firstId;

			// Another role than the first user's: the client's user for that role, made once and kept.
			const id = idOf(clientId, role);
			const planned = { id, clientId, externalIdentifier: roleUserIdentifier(firstId, role), role, issuedAt };
			const state = await stateOf(planned);
			refuseUnlessActive(state, `the service user for role ${role}`);

			if (state.role !== role) {
				// Only an admin's edit gets here (the id is derived from the role): put the role back, once.
				beforeWrite?.();
				await createUsersService(await getSchema()).updateOne(id, { role });
				states.delete(id);
			}

			return id;
		},

		forget(userIds) {
			for (const id of userIds) {
				states.delete(String(id));
				failures.delete(String(id));
			}
		},

		clear() {
			states.clear();
			failures.clear();
		},
	};
}

/** A user as it is to be: the request's client and role, at the id planned for them. */
interface PlannedUser {
	readonly id: string;
	readonly clientId: string;
	readonly externalIdentifier: string;
	readonly role: string;
	readonly issuedAt: number | undefined;
}

/** Directus 12 without a licence answers a custom provider with INVALID_PAYLOAD naming the provider. */
function refusesProvider(error: unknown): boolean {
	return isDirectusError(error, 'INVALID_PAYLOAD') && /provider/i.test((error as Error).message);
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
