/**
 * Revocation across instances (issue 9): two Directus instances on one PostgreSQL database sharing a Redis of the
 * test's own, `BCC_AUTH_STATE_TTL` at its default (10 s). A suspension or re-activation made through A must reach
 * B through the extension's Redis bus, far sooner than the TTL; deleting a suspended service user must not
 * re-admit its client; an open WebSocket (REST in three auth modes, GraphQL) must be closed or de-authenticated and
 * pass nothing on; one client alternating between two roles must cause no user write. Figures are measured and
 * printed; only generous bounds are asserted.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { directusVersions } from './versions.js';
import { type Directus, percentile, type RedisCluster, sleep, startRedisCluster, userIdOf } from './redis-cluster.js';
import { openSocket, type WatchedSocket } from './watched-socket.js';

/** Trials per direction (the issue asks for at least 20). */
const TRIALS = 20;
/** How often B is asked whether the change has arrived. */
const POLL_MS = 20;
/**
 * Generous bound on propagation: half the default TTL, so only the bus can meet it. The target is ≤ 1 s; the
 * figures show where it stands.
 */
const BOUND_MS = 5000;
/** How long a poll waits before it gives up: the default TTL plus slack, so today's figure is still measured. */
const GIVE_UP_MS = 13_000;

describe.each(directusVersions())('Directus %s: revocation across two instances sharing Redis', (version) => {
	let cluster: RedisCluster;
	const figures: string[] = [];

	beforeAll(async () => {
		// A runs REST WebSockets in `public` mode (connect, then authenticate), B in the default `handshake` mode.
		cluster = await startRedisCluster(version, { envA: { WEBSOCKETS_REST_AUTH: 'public' } });
	});

	afterAll(async () => {
		if (figures.length > 0) console.log(`\nDirectus ${version}, revocation over the bus:\n${figures.join('\n')}`);
		await cluster?.stop();
	});

	/** Polls `instance` every POLL_MS until the token gets `want`; the elapsed ms since `since`, or undefined. */
	async function firstStatus(instance: Directus, token: string, want: 200 | 401, since: number) {
		while (Date.now() - since < GIVE_UP_MS) {
			const { status } = await instance.request('/items/articles?limit=1', { token });
			if (status === want) return Date.now() - since;
			// Anything but the two answers (a 500, a 503) is a defect, not a slow propagation.
			expect(status).toBe(want === 200 ? 401 : 200);
			await sleep(POLL_MS);
		}
		return undefined;
	}

	test(`a suspension and a re-activation through A reach B within ${BOUND_MS} ms (${TRIALS} trials each)`, async () => {
		const { a, b, issuer } = cluster;
		const sub = 'propagation@clients';
		const token = issuer.mint({ sub, scope: 'svc#read' });
		const userId = userIdOf(sub);
		const suspensions: number[] = [];
		const reactivations: number[] = [];

		for (let trial = 0; trial < TRIALS; trial++) {
			// B has just loaded the client as active (the first 200 below, or its very first request): under a
			// TTL alone it would trust that for the full 10 s.
			expect((await a.request('/items/articles?limit=1', { token })).status).toBe(200);
			expect((await b.request('/items/articles?limit=1', { token })).status).toBe(200);

			const suspendedAt = Date.now();
			await a.admin(`/users/${userId}`, 'PATCH', { status: 'suspended' });
			const suspended = await firstStatus(b, token, 401, suspendedAt);
			suspensions.push(suspended ?? Infinity);

			const reactivatedAt = Date.now();
			await a.admin(`/users/${userId}`, 'PATCH', { status: 'active' });
			const reactivated = await firstStatus(b, token, 200, reactivatedAt);
			reactivations.push(reactivated ?? Infinity);

			// One slow trial already fails the test; twenty of them would only cost minutes.
			if ((suspended ?? Infinity) > BOUND_MS || (reactivated ?? Infinity) > BOUND_MS) break;
		}

		const row = (label: string, values: number[]) =>
			`  ${label.padEnd(32)} trials ${String(values.length).padStart(2)}   p50 ${fmt(percentile(values, 0.5))}   ` +
			`p90 ${fmt(percentile(values, 0.9))}   max ${fmt(Math.max(...values))}`;
		figures.push(
			row('PATCH suspended on A → 401 on B', suspensions),
			row('PATCH active on A → 200 on B', reactivations),
		);

		expect(Math.max(...suspensions)).toBeLessThan(BOUND_MS);
		expect(Math.max(...reactivations)).toBeLessThan(BOUND_MS);
		expect(suspensions).toHaveLength(TRIALS);
	});

	test('deleting a suspended service user is refused with a 4xx naming suspension, and the client stays refused', async () => {
		const { a, b, issuer } = cluster;
		const sub = 'deleted@clients';
		const token = issuer.mint({ sub, scope: 'svc#read' });
		const userId = userIdOf(sub);

		expect((await a.request('/items/articles', { token })).status).toBe(200);
		expect((await b.request('/items/articles', { token })).status).toBe(200);

		const suspendedAt = Date.now();
		await a.admin(`/users/${userId}`, 'PATCH', { status: 'suspended' });
		expect((await a.request('/items/articles', { token })).status).toBe(401);
		expect(await firstStatus(b, token, 401, suspendedAt)).toBeDefined();

		// Why refused: a deleted service user would be re-created `active` by the client's next token. Refused on
		// either instance, one by one or in a batch.
		const deletions = [
			await a.request(`/users/${userId}`, { method: 'DELETE', token: a.adminToken }),
			await b.request(`/users/${userId}`, { method: 'DELETE', token: b.adminToken }),
			await a.request('/users', { method: 'DELETE', token: a.adminToken, body: [userId] }),
		];
		for (const deletion of deletions) {
			expect(deletion.status).toBeGreaterThanOrEqual(400);
			expect(deletion.status).toBeLessThan(500);
			expect(JSON.stringify(deletion.json?.errors ?? deletion.text)).toMatch(/suspen/i);
		}

		// The user is still there, still suspended, and neither the old token nor a newer one gets in anywhere.
		expect((await a.admin(`/users/${userId}?fields=status`)).status).toBe('suspended');
		const newer = issuer.mint({ sub, scope: 'svc#read', iat: Math.floor(Date.now() / 1000) + 5 });
		for (const instance of [a, b]) {
			for (const attempt of [token, newer]) {
				const response = await instance.request('/items/articles', { token: attempt });
				expect(response.status).toBe(401);
				expect(response.json?.errors?.[0]?.extensions?.code).toBe('INVALID_CREDENTIALS');
			}
		}
	});

	/** One way a client holds an open realtime connection, and how a test reads it. */
	interface RealtimeVariant {
		label: string;
		on: 'a' | 'b';
		/** Opens, authenticates and subscribes to `articles` with `token`. */
		connect(instance: Directus, token: string): Promise<WatchedSocket>;
		/** Whether `message` delivers an `articles` create event. */
		isCreated(message: Record<string, unknown>): boolean;
		/** Whether `message` tells the client it lost its authentication or its subscription. */
		isCutOff(message: Record<string, unknown>): boolean;
		/** Tries to create an article titled `title` over the socket. */
		write(socket: WatchedSocket, title: string): void;
	}

	const wsUrl = (instance: Directus, path: string) => `${instance.url.replace(/^http/, 'ws')}${path}`;

	async function subscribeRest(socket: WatchedSocket) {
		socket.send({ type: 'subscribe', collection: 'articles', uid: 'articles', query: { fields: ['id', 'title'] } });
		await socket.next((message) => message['type'] === 'subscription' && message['event'] === 'init');
		return socket;
	}

	const rest = {
		isCreated: (message: Record<string, unknown>) =>
			message['type'] === 'subscription' && message['event'] === 'create',
		// What Directus sends at token expiry (`TOKEN_EXPIRED`), or any other authentication error.
		isCutOff: (message: Record<string, unknown>) => message['type'] === 'auth' && message['status'] === 'error',
		write: (socket: WatchedSocket, title: string) =>
			socket.send({ type: 'items', collection: 'articles', action: 'create', data: { title }, uid: 'write' }),
	};

	const variants: RealtimeVariant[] = [
		{
			label: 'REST /websocket on B, auth message (handshake)',
			on: 'b',
			...rest,
			async connect(instance, token) {
				const socket = await openSocket(wsUrl(instance, '/websocket'));
				socket.send({ type: 'auth', access_token: token });
				await socket.next((message) => message['type'] === 'auth' && message['status'] === 'ok');
				return subscribeRest(socket);
			},
		},
		{
			label: 'REST /websocket on B, token in the URL',
			on: 'b',
			...rest,
			connect: async (instance, token) =>
				subscribeRest(await openSocket(wsUrl(instance, `/websocket?access_token=${encodeURIComponent(token)}`))),
		},
		{
			label: 'REST /websocket on A, public mode',
			on: 'a',
			...rest,
			async connect(instance, token) {
				const socket = await openSocket(wsUrl(instance, '/websocket'));
				socket.send({ type: 'auth', access_token: token, uid: 'login' });
				await socket.next((message) => message['type'] === 'auth' && message['status'] === 'ok');
				return subscribeRest(socket);
			},
		},
		{
			label: 'GraphQL subscription on B',
			on: 'b',
			async connect(instance, token) {
				const socket = await openSocket(wsUrl(instance, '/graphql'), 'graphql-transport-ws');
				socket.send({ type: 'connection_init', payload: { access_token: token } });
				await socket.next((message) => message['type'] === 'connection_ack');
				socket.send({
					id: 'articles',
					type: 'subscribe',
					payload: { query: 'subscription { articles_mutated { key event data { id title } } }' },
				});
				// graphql-ws acknowledges no subscription; give Directus a moment to register it.
				await sleep(500);
				return socket;
			},
			isCreated: (message) => message['type'] === 'next' && JSON.stringify(message).includes('"event":"create"'),
			isCutOff: (message) => message['id'] === 'articles' && ['complete', 'error'].includes(String(message['type'])),
			write: (socket, title) =>
				socket.send({
					id: 'write',
					type: 'subscribe',
					payload: { query: `mutation { create_articles_item(data: { title: "${title}" }) { id } }` },
				}),
		},
	];

	test.each(variants.map((variant, index) => ({ ...variant, index })))(
		'$label: suspended through A, the connection is cut off and passes nothing on',
		async (variant) => {
			const { a, b, issuer } = cluster;
			const instance = variant.on === 'a' ? a : b;
			const sub = `realtime-${variant.index}@clients`;
			// A writer: the write attempt over the socket would succeed if the connection still held the client.
			const token = issuer.mint({ sub, scope: 'svc#write' });
			const titles = {
				before: `before-${variant.index}`,
				after: `after-${variant.index}`,
				written: `written-${variant.index}`,
			};
			const carries = (title: string) => (message: Record<string, unknown>) =>
				variant.isCreated(message) && JSON.stringify(message).includes(`"${title}"`);

			const socket = await variant.connect(instance, token);

			try {
				// The subscription works: an article created by the admin through A reaches it.
				await a.admin('/items/articles', 'POST', { title: titles.before });
				await socket.next(carries(titles.before));

				const suspendedAt = Date.now();
				await a.admin(`/users/${userIdOf(sub)}`, 'PATCH', { status: 'suspended' });
				const cutOffAt = await socket.cutOff(variant.isCutOff, suspendedAt, BOUND_MS);

				// After the cut-off (or the bound), the admin creates an article and the client tries to write one.
				await a.admin('/items/articles', 'POST', { title: titles.after });
				if (!socket.closed) variant.write(socket, titles.written);
				await sleep(1000);

				const deliveredAfter = socket.received.filter((entry) => carries(titles.after)(entry.message));
				const written: unknown[] = await a.admin(`/items/articles?filter[title][_eq]=${titles.written}`);
				figures.push(
					`  ${variant.label.padEnd(48)} cut off after ${cutOffAt === undefined ? `  >${BOUND_MS} ms` : fmt(cutOffAt - suspendedAt)}` +
						` (${socket.closed ? `closed ${socket.closed.code}` : cutOffAt ? 'de-authenticated' : 'open'}); ` +
						`create events after: ${deliveredAfter.length}, written over it: ${written.length}`,
				);

				expect.soft(cutOffAt, 'closed or de-authenticated').toBeDefined();
				expect.soft(deliveredAfter, 'create events after the cut-off').toEqual([]);
				expect(written).toEqual([]);
				expect((await instance.request('/items/articles', { token })).status).toBe(401);
			} finally {
				socket.close();
			}
		},
	);

	test('a GraphQL subscription on B is closed at its token exp, which Directus itself never does', async () => {
		const { a, b, issuer } = cluster;
		const graphql = variants.find((variant) => variant.label.startsWith('GraphQL'))!;
		const token = issuer.mint({ sub: 'realtime-expiring@clients', scope: 'svc#read' }, { expiresIn: 4 });
		const exp = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp;

		const socket = await graphql.connect(b, token);

		try {
			await a.admin('/items/articles', 'POST', { title: 'before-expiry' });
			await socket.next((message) => graphql.isCreated(message) && JSON.stringify(message).includes('before-expiry'));

			const cutOffAt = await socket.cutOff(graphql.isCutOff, 0, exp * 1000 - Date.now() + BOUND_MS);
			await a.admin('/items/articles', 'POST', { title: 'after-expiry' });
			await sleep(1000);
			const deliveredAfter = socket.received.filter((entry) => JSON.stringify(entry.message).includes('after-expiry'));

			figures.push(
				`  ${'GraphQL subscription on B, token expiring'.padEnd(48)} cut off ${cutOffAt === undefined ? 'never' : `${cutOffAt - exp * 1000} ms after exp`}` +
					` (${socket.closed ? `closed ${socket.closed.code}` : 'open'}); create events after: ${deliveredAfter.length}`,
			);

			expect(cutOffAt, 'closed at exp').toBeDefined();
			// Never before the token's own expiry (same clock: the issuer runs in this process).
			expect(cutOffAt!).toBeGreaterThanOrEqual(exp * 1000);
			expect(deliveredAfter).toEqual([]);
		} finally {
			socket.close();
		}
	});

	test('one client alternating a reader token and a writer token: no user write, each token enforced with its own role', async () => {
		const { a, b, issuer } = cluster;
		const sub = 'two-roles@clients';
		const reader = issuer.mint({ sub, scope: 'svc#read' });
		const writer = issuer.mint({ sub, scope: 'svc#write' });
		const create = (token: string, title: string) =>
			a.request('/items/articles', { method: 'POST', token, body: { title } });

		// First sight of each token: whatever the extension creates for this client is created here, not counted.
		expect((await a.request('/items/articles', { token: reader })).status).toBe(200);
		expect((await a.request('/items/articles', { token: writer })).status).toBe(200);

		await Promise.all([a, b].map((instance) => instance.request('/query-counter/reset', { method: 'POST' })));

		const answers: string[] = [];
		for (let round = 0; round < 3; round++) {
			const refused = await create(reader, `reader-${round}`);
			const created = await create(writer, `writer-${round}`);
			answers.push(`reader ${refused.status}`, `writer ${created.status}`);
			// API Readers may only read; API Writers may also create.
			expect(refused.status).toBe(403);
			expect(created.status).toBe(200);
		}

		const userWrites = await Promise.all(
			[a, b].map(async (instance) => {
				const counts = (await instance.request('/query-counter')).json as { writes: Record<string, number> };
				return counts.writes['directus_users'] ?? 0;
			}),
		);
		figures.push(
			`  alternating roles, 6 requests   ${answers.join(', ')}; directus_users writes A ${userWrites[0]}, B ${userWrites[1]}`,
		);

		expect(userWrites).toEqual([0, 0]);
		const readerTitles: { title: string }[] = await a.admin('/items/articles?filter[title][_starts_with]=reader-');
		expect(readerTitles).toEqual([]);
	});
});

function fmt(ms: number): string {
	return Number.isFinite(ms) ? `${String(Math.round(ms)).padStart(5)} ms` : '  >13 s';
}
