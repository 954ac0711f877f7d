/**
 * A real WebSocket client for the end-to-end suite that records every message and the close, with their times, so
 * a test can wait for one and later prove that nothing else arrived.
 */
import WebSocket from 'ws';

/** One received message, parsed, with the time it arrived. */
export interface Received {
	at: number;
	message: Record<string, unknown>;
}

/** An open (or closed) socket and what it has seen so far. */
export interface WatchedSocket {
	readonly received: Received[];
	/** When the server closed the connection, with its code; undefined while open. */
	readonly closed: { at: number; code: number } | undefined;
	send(message: Record<string, unknown>): void;
	/** The first message (already received or to come) matching `predicate`; rejects after `timeoutMs`. */
	next(predicate: (message: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Received>;
	/** The first time (ms since epoch) `signal` holds for a message or the socket closes, or undefined at timeout. */
	cutOff(
		signal: (message: Record<string, unknown>) => boolean,
		since: number,
		timeoutMs: number,
	): Promise<number | undefined>;
	close(): void;
}

/**
 * Opens `url` (with a sub-protocol for GraphQL); resolves once the connection is open, rejects with the HTTP status
 * if the upgrade is refused. Directus's heartbeat pings are answered so the connection lives as long as the test.
 */
export function openSocket(url: string, protocol?: string): Promise<WatchedSocket> {
	const ws = protocol ? new WebSocket(url, protocol) : new WebSocket(url);
	const received: Received[] = [];
	let closed: { at: number; code: number } | undefined;
	const listeners = new Set<() => void>();
	const notify = () => listeners.forEach((listener) => listener());

	ws.on('message', (data) => {
		let message: Record<string, unknown>;
		try {
			message = JSON.parse(data.toString()) as Record<string, unknown>;
		} catch {
			message = { unparsed: data.toString() };
		}
		if (message['type'] === 'ping') ws.send(JSON.stringify({ type: 'pong' }));
		received.push({ at: Date.now(), message });
		notify();
	});
	ws.on('close', (code) => {
		closed = { at: Date.now(), code };
		notify();
	});
	ws.on('error', () => undefined);

	/** Resolves with `check()`'s first defined answer, re-checked on every message and on close; undefined at timeout. */
	function waitFor<T>(check: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
		return new Promise((resolve) => {
			const listener = () => {
				const answer = check();
				if (answer === undefined) return;
				done(answer);
			};
			const timer = setTimeout(() => done(undefined), timeoutMs);
			const done = (answer: T | undefined) => {
				clearTimeout(timer);
				listeners.delete(listener);
				resolve(answer);
			};
			listeners.add(listener);
			listener();
		});
	}

	const socket: WatchedSocket = {
		received,
		get closed() {
			return closed;
		},
		send: (message) => ws.send(JSON.stringify(message)),
		async next(predicate, timeoutMs = 5000) {
			const found = await waitFor(() => received.find((entry) => predicate(entry.message)), timeoutMs);
			if (!found) {
				throw new Error(
					`no matching message within ${timeoutMs} ms${closed ? ` (closed ${closed.code})` : ''}; got ` +
						JSON.stringify(received.map((entry) => entry.message)).slice(0, 2000),
				);
			}
			return found;
		},
		cutOff: (signal, since, timeoutMs) =>
			waitFor(() => {
				const message = received.find((entry) => entry.at >= since && signal(entry.message));
				const times = [message?.at, closed?.at].filter((at): at is number => at !== undefined);
				return times.length > 0 ? Math.min(...times) : undefined;
			}, timeoutMs),
		close: () => ws.terminate(),
	};

	return new Promise((resolve, reject) => {
		ws.once('open', () => resolve(socket));
		ws.once('unexpected-response', (_request, response) =>
			reject(new Error(`WebSocket upgrade refused: HTTP ${response.statusCode}`)),
		);
		ws.once('error', reject);
	});
}
