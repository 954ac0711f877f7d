/**
 * Open WebSocket connections that this extension authenticated (REST `/websocket` and GraphQL subscriptions, in
 * every auth mode): each is checked again when its client's users, roles or policies change, and closed when the
 * client is revoked or its token expires.
 *
 * Why through the HTTP server's upgrades: Directus keeps the accountability the `websocket.authenticate` filter
 * returned on the connection object, but hands that object to extensions only for REST connections
 * (`websocket.connect`, `websocket.auth.success`), never for GraphQL ones. Every upgraded socket is seen here,
 * though, and the `ws` library links each socket to its connection; the accountability objects this extension
 * returned identify which connections are its own.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Accountability } from '@directus/types';
import { describeError } from '../token/printable.js';

/** The slice of a Directus WebSocket client used here (a `ws` WebSocket with Directus's fields). */
interface DirectusWebSocket {
	accountability?: Accountability | null;
	readyState: number;
	close(code: number, reason: string): void;
	terminate(): void;
}

export interface ConnectionRegistryOptions<T> {
	/** Authorizes a connection's client again: resolves to its accountability now, or throws to refuse it. */
	recheck: (client: T, accountability: Accountability) => Promise<Accountability>;
	/** Whether an error thrown by `recheck` is a refusal (close) rather than a fault (keep, and log). */
	isRefusal: (error: unknown) => boolean;
	/** The users whose change concerns a connection: its own, and any other its rights depend on. */
	dependsOn?: (client: T, userId: string | null) => readonly string[];
	logger: { info(message: string): void; warn(message: string): void };
	/** How often expiry is checked, in milliseconds. Default 1000. */
	sweepMs?: number;
	now?: () => number;
}

export interface ConnectionRegistry<T> {
	/** Remembers an accountability the filter returned for a WebSocket, with its client and expiry (epoch s). */
	accepted(accountability: Accountability, client: T, expiresAt: number, userId: string | null): void;
	/** Starts watching an HTTP server's upgraded sockets. */
	attach(server: Server): void;
	/** Checks again the connections of these users (`undefined`: all of them), now and once more a moment later. */
	invalidate(userIds?: readonly string[]): void;
	/** How many open connections hold an accountability of this extension. */
	readonly size: number;
	close(): void;
}

/** A role id no role has: an accountability holding only it is granted nothing, not even public access. */
const NO_ROLE = '00000000-0000-0000-0000-000000000000';

/** Close codes of the GraphQL over WebSocket protocol, which Directus also uses; clear for REST clients too. */
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_FORBIDDEN = 4403;

/** Creates the registry; `attach` it to the server in the `server.start` action. */
export function createConnectionRegistry<T>(options: ConnectionRegistryOptions<T>): ConnectionRegistry<T> {
	const { recheck, isRefusal, logger, sweepMs = 1000, now = Date.now } = options;
	const dependsOn = options.dependsOn ?? ((_: T, userId: string | null) => (userId === null ? [] : [userId]));
	const owned = new WeakMap<Accountability, { client: T; expiresAt: number; userId: string | null }>();
	const sockets = new Set<Socket>();
	const pending = new Set<NodeJS.Timeout>();

	const ours = () => {
		const found: {
			ws: DirectusWebSocket;
			accountability: Accountability;
			client: T;
			userId: string | null;
			expiresAt: number;
		}[] = [];

		for (const socket of sockets) {
			const ws = webSocketOf(socket);
			const accountability = ws?.accountability;
			const entry = accountability ? owned.get(accountability) : undefined;
			if (ws && accountability && entry && ws.readyState === OPEN) found.push({ ws, accountability, ...entry });
		}

		return found;
	};

	const shut = (ws: DirectusWebSocket, accountability: Accountability, code: number, reason: string) => {
		// Why in place: Directus's subscriptions read this very object for every event; until the socket is gone,
		// it grants nothing (an empty role list would mean public access, hence a role that does not exist).
		Object.assign(accountability, { role: null, roles: [NO_ROLE], admin: false, app: false });
		owned.delete(accountability);
		ws.close(code, reason);
		const timer = setTimeout(() => ws.terminate(), 1000);
		timer.unref();
	};

	const check = async (userIds: ReadonlySet<string> | undefined) => {
		for (const { ws, accountability, client, userId } of ours()) {
			if (userIds && !dependsOn(client, userId).some((id) => userIds.has(id))) continue;

			try {
				const current = await recheck(client, { ...accountability });
				if (sameRights(current, accountability)) continue;
				shut(ws, accountability, CLOSE_FORBIDDEN, 'rights changed: authenticate again');
				logger.info(`closed a WebSocket of user ${userId}: its role or access changed`);
			} catch (error) {
				if (!isRefusal(error)) {
					logger.warn(`could not re-check a WebSocket of user ${userId}: ${describeError(error)}`);
					continue;
				}

				shut(ws, accountability, CLOSE_FORBIDDEN, 'client revoked');
				logger.info(`closed a WebSocket of user ${userId}: ${describeError(error)}`);
			}
		}
	};

	const sweep = setInterval(() => {
		for (const { ws, accountability, userId, expiresAt } of ours()) {
			// Directus itself only expires REST connections, and keeps GraphQL subscriptions open past `exp`.
			if (expiresAt * 1000 <= now()) {
				shut(ws, accountability, CLOSE_UNAUTHORIZED, 'token expired');
				logger.info(`closed a WebSocket of user ${userId}: its token expired`);
			}
		}
	}, sweepMs);
	sweep.unref();

	return {
		accepted(accountability, client, expiresAt, userId) {
			owned.set(accountability, { client, expiresAt, userId });
		},

		attach(server) {
			server.on('upgrade', (_request, socket: Socket) => {
				sockets.add(socket);
				socket.once('close', () => sockets.delete(socket));
			});
		},

		invalidate(userIds) {
			const scope = userIds ? new Set(userIds.map(String)) : undefined;
			void check(scope);

			// Once more in a moment: a connection whose authentication was under way during the change holds an
			// accountability built from the old state, and is only now attached to its socket.
			const timer = setTimeout(() => {
				pending.delete(timer);
				void check(scope);
			}, 1000);
			timer.unref();
			pending.add(timer);
		},

		get size() {
			return ours().length;
		},

		close() {
			clearInterval(sweep);
			for (const timer of pending) clearTimeout(timer);
		},
	};
}

const OPEN = 1;

/** The `ws` WebSocket that owns an upgraded socket: `ws` links them under its `Symbol('websocket')`. */
function webSocketOf(socket: Socket): DirectusWebSocket | undefined {
	const key = Object.getOwnPropertySymbols(socket).find((symbol) => symbol.description === 'websocket');
	return key ? ((socket as unknown as Record<symbol, DirectusWebSocket | undefined>)[key] ?? undefined) : undefined;
}

/** Whether two accountabilities grant the same: user, role tree and global access. */
function sameRights(a: Accountability, b: Accountability): boolean {
	return (
		a.user === b.user &&
		a.role === b.role &&
		a.admin === b.admin &&
		a.app === b.app &&
		(a.roles ?? []).join(',') === (b.roles ?? []).join(',')
	);
}
