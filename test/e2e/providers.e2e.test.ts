/**
 * Beyond Auth0, against a real Directus: each preset with tokens shaped like its server's (signed by a local issuer
 * at test time), OpenID discovery, client bindings to existing users, and WebSocket (realtime) authentication.
 * One database per version; Directus is restarted with each configuration.
 */
import { rm } from 'node:fs/promises';
import { NIL, v5 } from 'uuid';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { prepareDirectus, startPrepared } from '../../dev/directus-instance.mjs';
import { startLocalIssuer } from '../../dev/local-issuer.mjs';
import { seedAccessModel } from '../../dev/seed.mjs';
import { directusVersions } from './versions.js';

type Issuer = Awaited<ReturnType<typeof startLocalIssuer>>;
type Directus = Awaited<ReturnType<typeof startPrepared>>;
type Claims = Record<string, unknown>;

const READERS = 'svc#read=API Readers';

/**
 * Each preset: claims of a client token and of a user token (which must pass through as not ours), the scope
 * claim shape, and the audience its server would set.
 */
const presets: {
	name: string;
	client: (scopes: string[]) => Claims;
	user: Claims;
	env?: Record<string, string>;
}[] = [
	{
		name: 'okta',
		// Okta org/custom authorization server access token for a service app.
		client: (scopes) => ({ gty: undefined, ver: 1, cid: '0oa-okta-service', sub: '0oa-okta-service', scp: scopes }),
		user: { gty: undefined, ver: 1, cid: '0oa-okta-web', sub: 'alice@example.com', uid: '00u1', scp: ['svc#read'] },
	},
	{
		name: 'entra',
		// Microsoft identity platform v2 app-only token: app permissions in `roles`.
		client: (scopes) => ({
			gty: undefined,
			ver: '2.0',
			idtyp: 'app',
			azp: '11111111-2222-3333-4444-555555555555',
			azpacr: '1',
			oid: 'sp-object-id',
			sub: 'sp-object-id',
			tid: 'tenant-id',
			roles: scopes,
		}),
		user: { gty: undefined, ver: '2.0', azp: 'web-app', oid: 'user-oid', sub: 'pairwise-sub', scp: 'svc#read' },
	},
	{
		name: 'keycloak',
		// Keycloak service-account token: scopes as a string, realm roles alongside.
		client: (scopes) => ({
			gty: undefined,
			typ: 'Bearer',
			azp: 'reporting-job',
			preferred_username: 'service-account-reporting-job',
			scope: ['profile', 'email', ...scopes].join(' '),
			realm_access: { roles: ['offline_access'] },
		}),
		user: { gty: undefined, typ: 'Bearer', azp: 'web', preferred_username: 'alice', scope: 'svc#read' },
	},
	{
		name: 'cognito',
		// Cognito client-credentials access token: no aud, scopes as "<resource server>/<scope>".
		client: (scopes) => ({
			gty: undefined,
			aud: undefined,
			version: 2,
			token_use: 'access',
			client_id: 'cognito-app-client',
			sub: 'cognito-app-client',
			scope: scopes.join(' '),
		}),
		user: { gty: undefined, aud: undefined, token_use: 'access', client_id: 'c', username: 'alice', scope: 'svc#read' },
		// Without aud the allow-list must stand in for the audience check.
		env: { BCC_AUTH_AUDIENCE: '', BCC_AUTH_CLIENTS: 'cognito-app-client=service-user' },
	},
];

describe.each(directusVersions())('Directus %s', (version) => {
	let prepared: Awaited<ReturnType<typeof prepareDirectus>>;
	let issuer: Issuer;
	let directus: Directus | undefined;

	const start = async (env: Record<string, string>) => {
		await directus?.stop();
		directus = await startPrepared(prepared, { env: { BCC_AUTH_ISSUER: issuer.issuer, ...env } });
		return directus;
	};

	const userExists = async (d: Directus, clientId: string) =>
		(await d.request(`/users/${v5(clientId, NIL)}`, { token: d.adminToken })).status === 200;

	beforeAll(async () => {
		issuer = await startLocalIssuer();
		prepared = await prepareDirectus({ version });
		const first = await start({ BCC_AUTH_AUDIENCE: issuer.audience, BCC_AUTH_SCOPE_ROLES: READERS });
		await seedAccessModel(first);
	});

	afterAll(async () => {
		await directus?.stop();
		await issuer?.stop();
		if (prepared) await rm(prepared.project, { recursive: true, force: true });
	});

	test.each(presets)('preset $name: its client tokens get their role, its user tokens are not ours', async (preset) => {
		const d = await start({
			BCC_AUTH_PRESET: preset.name,
			BCC_AUTH_AUDIENCE: issuer.audience,
			BCC_AUTH_SCOPE_ROLES: READERS,
			...preset.env,
		});

		const accepted = await d.request('/items/articles', { token: issuer.mint(preset.client(['svc#read'])) });
		expect(accepted.status).toBe(200);
		expect(accepted.json.data).toHaveLength(3);

		const unmapped = await d.request('/items/articles', { token: issuer.mint(preset.client(['svc#other'])) });
		expect(unmapped.status).toBe(401);

		// A user's token of the same server is Directus's business: it refuses it, and no service user appears.
		const mark = d.logs().length;
		const user = await d.request('/items/articles', { token: issuer.mint(preset.user) });
		expect(user.status).toBe(401);
		expect(d.extensionLogs(mark)).toEqual([]);
	});

	test('Cognito: a client missing from the allow-list is refused and gets no user', async () => {
		const d = await start({
			BCC_AUTH_PRESET: 'cognito',
			BCC_AUTH_SCOPE_ROLES: READERS,
			BCC_AUTH_CLIENTS: 'cognito-app-client=service-user',
		});
		const claims = { ...presets[3]!.client(['svc#read']), client_id: 'cognito-stranger', sub: 'cognito-stranger' };
		const mark = d.logs().length;
		expect((await d.request('/items/articles', { token: issuer.mint(claims) })).status).toBe(401);
		expect(d.extensionLogs(mark).join('\n')).toContain('refused client_not_allowed');
		expect(await userExists(d, 'cognito-stranger')).toBe(false);
	});

	test('OpenID discovery finds the JWKS; a discovery document for another issuer is refused', async () => {
		const d = await start({
			BCC_AUTH_DISCOVERY: 'true',
			BCC_AUTH_AUDIENCE: issuer.audience,
			BCC_AUTH_SCOPE_ROLES: READERS,
		});
		expect((await d.request('/items/articles', { token: issuer.mint({ scope: 'svc#read' }) })).status).toBe(200);

		// The issuer's discovery document names `issuer.issuer`; configured without the trailing slash, it must not
		// be trusted, and its tokens are refused.
		const strict = await start({
			BCC_AUTH_ISSUER: issuer.url,
			BCC_AUTH_DISCOVERY: 'true',
			BCC_AUTH_AUDIENCE: issuer.audience,
			BCC_AUTH_SCOPE_ROLES: READERS,
		});
		const mark = strict.logs().length;
		const refused = await strict.request('/items/articles', {
			token: issuer.mint({ scope: 'svc#read', iss: issuer.url }),
		});
		expect(refused.status).toBe(401);
		// Discovery runs at start-up, so the error is in the log before any request.
		expect(strict.extensionLogs().join('\n')).toMatch(/BCC_AUTH_DISCOVERY: .* names issuer/);
		expect(strict.extensionLogs(mark).join('\n')).toMatch(/refused jwks_unavailable/);
	});

	test('client bindings: two client ids act as one existing user, unlisted clients are refused', async () => {
		const admin = await start({ BCC_AUTH_AUDIENCE: issuer.audience, BCC_AUTH_SCOPE_ROLES: READERS });
		const writers = (await admin.admin('/roles?filter[name][_eq]=API Writers&fields=id'))[0].id;
		const ops = await admin.admin('/users', 'POST', { email: `ops-${version}@example.com`, role: writers });

		const d = await start({
			BCC_AUTH_AUDIENCE: issuer.audience,
			BCC_AUTH_SCOPE_ROLES: READERS,
			BCC_AUTH_CLIENTS: `old-secret@clients=ops-${version}@example.com,new-secret@clients=${ops.id},job@clients=service-user`,
			BCC_AUTH_CLIENTS_ONLY: 'true',
		});

		for (const sub of ['old-secret@clients', 'new-secret@clients']) {
			// No scope needed: the binding is the authorization, and the user's own role applies.
			const token = issuer.mint({ sub, scope: undefined });
			expect((await d.request('/users/me', { token })).json.data.id).toBe(ops.id);
			expect((await d.request('/items/articles', { token, method: 'POST', body: { title: sub } })).status).toBe(200);
			expect(await userExists(d, sub)).toBe(false);
		}

		expect(
			(await d.request('/items/articles', { token: issuer.mint({ sub: 'job@clients', scope: 'svc#read' }) })).status,
		).toBe(200);
		expect(await userExists(d, 'job@clients')).toBe(true);

		expect(
			(await d.request('/items/articles', { token: issuer.mint({ sub: 'stranger@clients', scope: 'svc#read' }) }))
				.status,
		).toBe(401);
		expect(await userExists(d, 'stranger@clients')).toBe(false);

		// Suspending the bound user revokes every client id bound to it.
		await d.admin(`/users/${ops.id}`, 'PATCH', { status: 'suspended' });
		expect((await d.request('/items/articles', { token: issuer.mint({ sub: 'new-secret@clients' }) })).status).toBe(
			401,
		);
	});

	test('realtime: the same token authenticates a WebSocket and receives subscription events', async () => {
		const d = await start({
			BCC_AUTH_AUDIENCE: issuer.audience,
			BCC_AUTH_SCOPE_ROLES: READERS,
			WEBSOCKETS_ENABLED: 'true',
			WEBSOCKETS_REST_ENABLED: 'true',
		});
		const socket = await connect(`${d.url.replace('http', 'ws')}/websocket`);

		try {
			socket.send(
				JSON.stringify({ type: 'auth', access_token: issuer.mint({ sub: 'realtime@clients', scope: 'svc#read' }) }),
			);
			expect(await socket.next((m) => m.type === 'auth')).toMatchObject({ type: 'auth', status: 'ok' });

			socket.send(JSON.stringify({ type: 'subscribe', collection: 'articles', uid: 'sub-1' }));
			expect(await socket.next((m) => m.type === 'subscription' && m.event === 'init')).toMatchObject({ uid: 'sub-1' });

			await d.admin('/items/articles', 'POST', { title: 'Live' });
			const event = await socket.next((m) => m.type === 'subscription' && m.event === 'create');
			expect(event.data[0].title).toBe('Live');
		} finally {
			socket.close();
		}

		const refused = await connect(`${d.url.replace('http', 'ws')}/websocket`);
		try {
			refused.send(
				JSON.stringify({ type: 'auth', access_token: issuer.mint({ sub: 'realtime@clients', scope: 'svc#none' }) }),
			);
			expect(await refused.next((m) => m.type === 'auth')).toMatchObject({
				status: 'error',
				error: { code: 'AUTH_FAILED' },
			});
		} finally {
			refused.close();
		}
	});
});

/** A WebSocket client that can wait for the next message matching a predicate (bounded by a timeout). */
async function connect(url: string) {
	const socket = new WebSocket(url);
	const messages: Record<string, any>[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
	const waiters = new Set<() => void>();

	socket.on('message', (data) => {
		const message = JSON.parse(String(data));
		if (message.type === 'ping') socket.send(JSON.stringify({ type: 'pong' }));
		messages.push(message);
		for (const wake of waiters) wake();
	});

	await new Promise((resolve, reject) => {
		socket.once('open', resolve);
		socket.once('error', reject);
	});

	return {
		send: (text: string) => socket.send(text),
		close: () => socket.close(),
		// eslint-disable-next-line @typescript-eslint/no-explicit-any
		next: (match: (message: Record<string, any>) => boolean, timeoutMs = 10_000) =>
			// eslint-disable-next-line @typescript-eslint/no-explicit-any
			new Promise<Record<string, any>>((resolve, reject) => {
				const check = () => {
					const index = messages.findIndex(match);
					if (index === -1) return;
					const [found] = messages.splice(index, 1);
					cleanup();
					resolve(found!);
				};
				const timer = setTimeout(() => {
					cleanup();
					reject(new Error(`no matching WebSocket message within ${timeoutMs} ms; got ${JSON.stringify(messages)}`));
				}, timeoutMs);
				const cleanup = () => {
					clearTimeout(timer);
					waiters.delete(check);
				};
				waiters.add(check);
				check();
			}),
	};
}
