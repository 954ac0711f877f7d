/**
 * The core behaviour against a real Directus, for each supported major on each database (SQLite, PostgreSQL,
 * MariaDB): real HTTP, a real JWKS on 127.0.0.1, keys made at test time, the built bundle loaded with
 * EXTENSIONS_MUST_LOAD=true.
 */
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { NIL, v5 } from 'uuid';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { REPO_ROOT, startDirectus } from '../../dev/directus-instance.mjs';
import { makeKey, startLocalIssuer } from '../../dev/local-issuer.mjs';
import { SEED_SCOPE_ROLES, seedAccessModel } from '../../dev/seed.mjs';
import { versionDatabasePairs } from './databases.js';
import { directusVersions } from './versions.js';

type Directus = Awaited<ReturnType<typeof startDirectus>>;
type Issuer = Awaited<ReturnType<typeof startLocalIssuer>>;

const QUERY_COUNTER = join(REPO_ROOT, 'test/fixtures/query-counter');

describe.each(versionDatabasePairs(directusVersions()))('Directus %s on %s', (version, client) => {
	let issuer: Issuer;
	let directus: Directus;
	let seeded: Awaited<ReturnType<typeof seedAccessModel>>;
	const major = Number(version.split('.')[0]);

	beforeAll(async () => {
		issuer = await startLocalIssuer();
		directus = await startDirectus({
			version,
			database: { client },
			extraExtensions: [QUERY_COUNTER],
			env: {
				BCC_AUTH_ISSUER: issuer.issuer,
				BCC_AUTH_AUDIENCE: `https://other.example.test,${issuer.audience}`,
				BCC_AUTH_SCOPE_ROLES: `${SEED_SCOPE_ROLES},svc#ghost=Ghost Role`,
			},
		});
		seeded = await seedAccessModel(directus);
	});

	afterAll(async () => {
		await directus?.stop();
		await issuer?.stop();
	});

	const userIdOf = (sub: string) => v5(sub, NIL);
	const readUser = (sub: string) =>
		directus
			.request(`/users/${userIdOf(sub)}?fields=*`, { token: directus.adminToken })
			.then((r) => r.json?.data ?? null);
	const queryCounts = async () => (await directus.request('/query-counter')).json;

	test('the admin static token still works', async () => {
		const me = await directus.request('/users/me', { token: directus.adminToken });
		expect(me.status).toBe(200);
		expect(me.json.data.email).toBe('admin@example.com');
	});

	test('a mapped role reads what it may and gets 403 on the rest, in REST and GraphQL alike', async () => {
		const token = issuer.mint({ sub: 'reader@clients', scope: 'openid svc#read' });

		const articles = await directus.request('/items/articles?sort=id', { token });
		expect(articles.status).toBe(200);
		expect(articles.json.data.map((a: { title: string }) => a.title)).toEqual(['First', 'Second', 'Third']);

		expect((await directus.request('/items/secrets', { token })).status).toBe(403);
		expect((await directus.request('/items/articles', { token, method: 'POST', body: { title: 'x' } })).status).toBe(
			403,
		);

		const graphql = await directus.request('/graphql', {
			token,
			method: 'POST',
			body: { query: '{ articles(sort: "id") { title } }' },
		});
		expect(graphql.status).toBe(200);
		expect(graphql.json.data.articles.map((a: { title: string }) => a.title)).toEqual(['First', 'Second', 'Third']);

		const forbidden = await directus.request('/graphql', {
			token,
			method: 'POST',
			body: { query: '{ secrets { title } }' },
		});
		expect(forbidden.json.errors?.[0]?.extensions?.code).toMatch(/FORBIDDEN|GRAPHQL_VALIDATION/);
		expect(forbidden.json.data?.secrets).toBeUndefined();
	});

	test('the service user row is as specified and can never log in', async () => {
		const iat = Math.floor(Date.now() / 1000) - 60;
		const token = issuer.mint({ sub: 'row-check@clients', scope: 'svc#read', iat });
		expect((await directus.request('/items/articles', { token })).status).toBe(200);

		const user = await readUser('row-check@clients');
		expect(user).toMatchObject({
			id: userIdOf('row-check@clients'),
			provider: major >= 12 ? 'default' : 'bcc-client-credentials',
			first_name: 'External',
			last_name: 'Client',
			external_identifier: 'row-check@clients',
			email: null,
			password: null,
			status: 'active',
			role: seeded.roles.readers,
		});
		expect(Math.floor(Date.parse(user.last_access) / 1000)).toBe(iat);

		const me = await directus.request('/users/me', { token });
		expect(me.json.data.id).toBe(userIdOf('row-check@clients'));
	});

	test("a token for another role acts as the client's user for that role; a child role gets its parent's policies", async () => {
		const sub = 'promoted@clients';
		const reader = issuer.mint({ sub, scope: 'svc#read' });
		expect((await directus.request('/items/articles', { token: reader })).status).toBe(200);
		expect((await readUser(sub)).role).toBe(seeded.roles.readers);

		const writer = issuer.mint({ sub, scope: 'svc#read svc#write', iat: Math.floor(Date.now() / 1000) + 1 });
		const created = await directus.request('/items/articles', {
			token: writer,
			method: 'POST',
			body: { title: 'By a machine' },
		});
		expect(created.status).toBe(200);

		// The first user keeps its role; the writer's token acts as the client's user for the writers' role.
		expect((await readUser(sub)).role).toBe(seeded.roles.readers);
		const writerUser = await directus.admin(`/users/${v5(seeded.roles.writers, userIdOf(sub))}?fields=role,title`);
		expect(writerUser).toEqual({ role: seeded.roles.writers, title: sub });

		// Alternating the two tokens changes no user: each is enforced with its own role.
		for (let i = 0; i < 3; i++) {
			expect(
				(await directus.request('/items/articles', { token: reader, method: 'POST', body: { title: 'x' } })).status,
			).toBe(403);
			expect((await directus.request('/items/articles?limit=1', { token: writer })).status).toBe(200);
		}
		const users = await directus.admin(`/users?filter[title][_eq]=${encodeURIComponent(sub)}&fields=role&sort=role`);
		expect(users.map((user: { role: string }) => user.role).sort()).toEqual(
			[seeded.roles.readers, seeded.roles.writers].sort(),
		);

		// Reading comes only from the parent role's policy.
		const read = await directus.request(`/items/articles/${created.json.data.id}`, { token: writer });
		expect(read.status).toBe(200);
		expect(read.json.data.title).toBe('By a machine');
		await directus.admin(`/items/articles/${created.json.data.id}`, 'DELETE');
	});

	test('an admin policy gives admin', async () => {
		const token = issuer.mint({ sub: 'operator@clients', scope: 'svc#admin' });
		const users = await directus.request('/users?limit=1', { token });
		expect(users.status).toBe(200);
		expect((await directus.request('/items/secrets', { token })).status).toBe(200);
	});

	test('30 concurrent first requests of a new client: 30 × 200 and one user', async () => {
		const token = issuer.mint({ sub: 'burst@clients', scope: 'svc#read' });
		const statuses = await Promise.all(
			Array.from({ length: 30 }, () => directus.request('/items/articles?limit=1', { token }).then((r) => r.status)),
		);
		expect(statuses).toEqual(Array(30).fill(200));

		const found = await directus.admin('/users?filter[external_identifier][_eq]=burst@clients&fields=id');
		expect(found).toEqual([{ id: userIdOf('burst@clients') }]);
	});

	test('40 requests with one token write the user row at most once, and steady state makes no extension queries', async () => {
		const token = issuer.mint({ sub: 'steady@clients', scope: 'svc#read' });
		await directus.request('/query-counter/reset', { method: 'POST' });

		for (let i = 0; i < 40; i++)
			expect((await directus.request('/items/articles?limit=1', { token })).status).toBe(200);

		const afterFirst40 = await queryCounts();
		expect(afterFirst40.writes.directus_users ?? 0).toBe(1); // the creation

		await directus.request('/query-counter/reset', { method: 'POST' });
		for (let i = 0; i < 40; i++) await directus.request('/items/articles?limit=1', { token });
		const steady = await queryCounts();

		// The extension only ever reads these tables; Directus's own item read touches none of them.
		expect(steady.writes.directus_users ?? 0).toBe(0);
		expect(steady.reads.directus_users ?? 0).toBe(0);
		expect(steady.reads.directus_roles ?? 0).toBe(0);
		expect(steady.reads.directus_access ?? 0).toBe(0);
	});

	test('a newer token moves last_access once', async () => {
		const sub = 'clock@clients';
		const iat = Math.floor(Date.now() / 1000) - 120;
		await directus.request('/items/articles', { token: issuer.mint({ sub, scope: 'svc#read', iat }) });
		await directus.request('/query-counter/reset', { method: 'POST' });

		const newer = issuer.mint({ sub, scope: 'svc#read', iat: iat + 60 });
		for (let i = 0; i < 5; i++) await directus.request('/items/articles', { token: newer });

		expect((await queryCounts()).writes.directus_users ?? 0).toBe(1);
		expect(Math.floor(Date.parse((await readUser(sub)).last_access) / 1000)).toBe(iat + 60);
	});

	test('a suspended client gets 401 and stays suspended', async () => {
		const sub = 'revoked@clients';
		const token = issuer.mint({ sub, scope: 'svc#read' });
		expect((await directus.request('/items/articles', { token })).status).toBe(200);

		await directus.admin(`/users/${userIdOf(sub)}`, 'PATCH', { status: 'suspended' });

		for (const fresh of [token, issuer.mint({ sub, scope: 'svc#read', iat: Math.floor(Date.now() / 1000) + 5 })]) {
			const refused = await directus.request('/items/articles', { token: fresh });
			expect(refused.status).toBe(401);
			expect(refused.json.errors[0].extensions.code).toBe('INVALID_CREDENTIALS');
		}

		expect((await readUser(sub)).status).toBe('suspended');
	});

	test('a rotated key is picked up on first sight with one JWKS fetch', async () => {
		const before = issuer.counters.jwks;
		const key = issuer.rotate();
		const token = issuer.mint({ sub: 'rotated@clients', scope: 'svc#read' }, { key });

		expect((await directus.request('/items/articles', { token })).status).toBe(200);
		expect(
			(
				await directus.request('/items/articles', {
					token: issuer.mint({ sub: 'rotated-2@clients', scope: 'svc#read' }, { key }),
				})
			).status,
		).toBe(200);
		expect(issuer.counters.jwks - before).toBe(1);
	});

	const foreignKey = makeKey('RS256', 'foreign');

	const refusals: [name: string, make: (i: Issuer, sub: string) => string, code: string, reason: string | null][] = [
		[
			'wrong aud',
			(i, sub) => i.mint({ sub, scope: 'svc#read', aud: 'https://elsewhere.test' }),
			'INVALID_CREDENTIALS',
			'invalid_audience',
		],
		[
			'wrong iss (not ours: Directus refuses it)',
			(i, sub) => i.mint({ sub, scope: 'svc#read', iss: 'https://evil.test/' }),
			'INVALID_CREDENTIALS',
			null,
		],
		[
			'expired',
			(i, sub) => i.mint({ sub, scope: 'svc#read', iat: 1_000_000, exp: 1_000_600 }),
			'TOKEN_EXPIRED',
			'token_expired',
		],
		[
			'not yet valid',
			(i, sub) => i.mint({ sub, scope: 'svc#read', nbf: Math.floor(Date.now() / 1000) + 600 }),
			'INVALID_CREDENTIALS',
			'token_not_active',
		],
		['no exp', (i, sub) => i.mint({ sub, scope: 'svc#read', exp: undefined }), 'INVALID_CREDENTIALS', 'missing_exp'],
		[
			'alg none',
			(i, sub) => unsigned(i.mint({ sub, scope: 'svc#read' })),
			'INVALID_CREDENTIALS',
			'algorithm_not_allowed',
		],
		[
			'HS256 signed with the public key',
			(i, sub) => hmacWithPublicKey(i, sub),
			'INVALID_CREDENTIALS',
			'algorithm_not_allowed',
		],
		[
			'unknown kid',
			(i, sub) => i.mint({ sub, scope: 'svc#read' }, { key: foreignKey }),
			'INVALID_CREDENTIALS',
			'unknown_kid',
		],
		[
			'tampered payload',
			(i, sub) => tamper(i.mint({ sub, scope: 'svc#read' })),
			'INVALID_CREDENTIALS',
			'invalid_signature',
		],
		['no scope claim', (i, sub) => i.mint({ sub, scope: undefined }), 'INVALID_CREDENTIALS', 'no_mapped_scope'],
		[
			'unmapped scope',
			(i, sub) => i.mint({ sub, scope: 'svc#delete other' }),
			'INVALID_CREDENTIALS',
			'no_mapped_scope',
		],
		[
			'a role that does not exist',
			(i, sub) => i.mint({ sub, scope: 'svc#ghost' }),
			'INVALID_CREDENTIALS',
			'unknown_role',
		],
		['garbage', () => 'not.a.jwt', 'INVALID_CREDENTIALS', null],
	];

	test.each(refusals)('refused, nothing created: %s', async (name, make, code, reason) => {
		const sub = `refused-${name.replace(/\W+/g, '-')}@clients`;
		const token = make(issuer, sub);
		const mark = directus.logs().length;

		const response = await directus.request('/items/articles', { token });
		expect(response.status).toBe(401);
		expect(response.json.errors[0].extensions.code).toBe(code);
		expect(await readUser(sub)).toBeNull();

		await new Promise((resolve) => setTimeout(resolve, 50));
		const lines = directus.extensionLogs(mark);
		if (reason) expect(lines.some((line) => line.includes(`refused ${reason}`))).toBe(true);
		else expect(lines).toEqual([]);
		const secretParts = [token, ...token.split('.').slice(1)].filter((part) => part.length > 8);
		expect(directus.logsSince(mark).some((line) => secretParts.some((part) => line.includes(part)))).toBe(false);
	});

	test('a token the extension does not own passes through untouched', async () => {
		const login = await directus.request('/auth/login', {
			method: 'POST',
			body: { email: 'admin@example.com', password: 'admin-password-for-local-only' },
		});
		expect(login.status).toBe(200);
		expect((await directus.request('/users/me', { token: login.json.data.access_token })).status).toBe(200);

		// A client-credentials token of another issuer is Directus's business, and Directus refuses it.
		const foreign = jwt.sign({ gty: 'client-credentials', iss: 'https://other-issuer.test/', sub: 'x' }, 'secret');
		expect((await directus.request('/items/articles', { token: foreign })).status).toBe(401);
		expect((await directus.request('/items/articles')).status).toBe(403);
	});
});

/** The token with `alg: none` and no signature. */
function unsigned(token: string): string {
	const [, payload] = token.split('.');
	return `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
}

/** The classic key-confusion attack: HS256 with the issuer's public key as the shared secret. */
function hmacWithPublicKey(issuer: Issuer, sub: string): string {
	const key = issuer.keys[0]!;
	const now = Math.floor(Date.now() / 1000);
	const pem = key.publicKey.export({ format: 'pem', type: 'spki' }) as string;
	const payload = {
		iss: issuer.issuer,
		aud: issuer.audience,
		sub,
		scope: 'svc#read',
		gty: 'client-credentials',
		iat: now,
		exp: now + 600,
	};
	const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
	const head = `${encode({ alg: 'HS256', typ: 'JWT', kid: key.kid })}.${encode(payload)}`;
	return `${head}.${createHmac('sha256', pem).update(head).digest('base64url')}`;
}

/** Swaps the payload for one with a wider scope, keeping the original signature. */
function tamper(token: string): string {
	const [header, payload, signature] = token.split('.') as [string, string, string];
	const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
	claims.scope = 'svc#admin';
	return `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
}
