/**
 * The connection registry on a real HTTP server whose upgrades a real `ws` server takes, the way Directus does it:
 * the registry finds each connection through its socket, and closes only this extension's revoked or expired ones.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Accountability } from '@directus/types';
import { afterEach, expect, test } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { createConnectionRegistry, type ConnectionRegistry } from '../../../src/sync/connections.js';
import { TokenRejectedError } from '../../../src/token/token-rejected-error.js';

type Client = { name: string };
let server: Server | undefined;
let registry: ConnectionRegistry<Client> | undefined;

afterEach(async () => {
	registry?.close();
	await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
	server?.closeAllConnections();
});

/** A server that, like Directus, stores an accountability on each connection: the one `accountabilityFor` gives. */
async function start(
	recheck: (client: Client) => Promise<Accountability>,
	accountabilityFor: (url: string) => Accountability,
) {
	const logs: string[] = [];
	server = createServer();
	registry = createConnectionRegistry<Client>({
		recheck: (client) => recheck(client),
		isRefusal: (error) => error instanceof TokenRejectedError,
		logger: { info: (line) => logs.push(line), warn: (line) => logs.push(line) },
		sweepMs: 50,
	});
	registry.attach(server);
	const wss = new WebSocketServer({ noServer: true });
	server.on('upgrade', (request, socket, head) =>
		wss.handleUpgrade(request, socket, head, (ws) => {
			Object.assign(ws, { accountability: accountabilityFor(request.url ?? '') });
		}),
	);
	await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;

	const connect = async (path: string) => {
		const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
		const closed = new Promise<{ code: number; reason: string }>((resolve) =>
			ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
		);
		await new Promise((resolve) => ws.once('open', resolve));
		return { ws, closed };
	};

	return { logs, connect };
}

const accountability = (user: string): Accountability =>
	({ user, role: 'r', roles: ['r'], admin: false, app: false, ip: null }) as Accountability;

test("a revoked client's connections are closed and grant nothing; others' and foreign ones stay open", async () => {
	const owned = new Map<string, Accountability>();
	let revoked = new Set<string>();
	const { connect } = await start(
		async (client) => {
			if (revoked.has(client.name)) throw new TokenRejectedError('user_suspended', 'suspended');
			return owned.get(client.name)!;
		},
		(url) => {
			const user = url.slice(1);
			const acc = accountability(user);
			if (user !== 'foreign') {
				owned.set(user, acc);
				registry!.accepted(acc, { name: user }, Date.now() / 1000 + 3600, user);
			}
			return acc;
		},
	);

	const alice = await connect('/alice');
	const bob = await connect('/bob');
	const foreign = await connect('/foreign');
	await new Promise((resolve) => setTimeout(resolve, 50));
	expect(registry!.size).toBe(2);

	revoked = new Set(['alice']);
	registry!.invalidate(['alice']);

	expect(await alice.closed).toEqual({ code: 4403, reason: 'client revoked' });
	expect(owned.get('alice')).toMatchObject({ role: null, admin: false, app: false });
	expect(owned.get('alice')!.roles).toEqual(['00000000-0000-0000-0000-000000000000']);
	expect(bob.ws.readyState).toBe(WebSocket.OPEN);
	expect(foreign.ws.readyState).toBe(WebSocket.OPEN);

	// A change to everything re-checks every connection of ours; bob's rights are unchanged, so it stays.
	registry!.invalidate();
	await new Promise((resolve) => setTimeout(resolve, 100));
	expect(bob.ws.readyState).toBe(WebSocket.OPEN);
	bob.ws.close();
	foreign.ws.close();
});

test('a connection whose rights changed is closed; one whose token expired is closed by the sweep', async () => {
	let role = 'r';
	const { connect } = await start(
		async () => ({ ...accountability('carol'), role, roles: [role] }) as Accountability,
		(url) => {
			const acc = accountability(url.slice(1));
			const expiresAt = url === '/dave' ? Date.now() / 1000 + 0.3 : Date.now() / 1000 + 3600;
			registry!.accepted(acc, { name: url.slice(1) }, expiresAt, url.slice(1));
			return acc;
		},
	);

	const carol = await connect('/carol');
	const dave = await connect('/dave');

	expect(await dave.closed).toEqual({ code: 4401, reason: 'token expired' });

	role = 'another';
	registry!.invalidate(['carol']);
	expect((await carol.closed).code).toBe(4403);
});

test('a fault while re-checking keeps the connection open, and says so', async () => {
	const { connect, logs } = await start(
		async () => {
			throw new Error('database unreachable');
		},
		(url) => {
			const acc = accountability(url.slice(1));
			registry!.accepted(acc, { name: 'erin' }, Date.now() / 1000 + 3600, 'erin');
			return acc;
		},
	);
	const erin = await connect('/erin');
	registry!.invalidate(['erin']);
	await new Promise((resolve) => setTimeout(resolve, 100));
	expect(erin.ws.readyState).toBe(WebSocket.OPEN);
	expect(logs.join('\n')).toMatch(/could not re-check a WebSocket of user erin: database unreachable/);
	erin.ws.close();
});
