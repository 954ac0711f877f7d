/**
 * Two Directus processes on ONE PostgreSQL database, as a scaled-out deployment runs them: first requests of new
 * clients racing across both instances make exactly one service user each, and a suspension made through one
 * instance reaches the other within BCC_AUTH_STATE_TTL.
 */
import { rm } from 'node:fs/promises';
import { NIL, v5 } from 'uuid';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { prepareDirectus, startPrepared } from '../../dev/directus-instance.mjs';
import { startLocalIssuer } from '../../dev/local-issuer.mjs';
import { seedAccessModel, seededExtensionEnv } from '../../dev/seed.mjs';
import { directusVersions } from './versions.js';

type Prepared = Awaited<ReturnType<typeof prepareDirectus>>;
type Directus = Awaited<ReturnType<typeof startPrepared>>;
type Issuer = Awaited<ReturnType<typeof startLocalIssuer>>;

/** Short, so the test waits seconds, not the default 10 s, for instance B to notice a suspension. */
const STATE_TTL_SECONDS = 2;

describe.each(directusVersions())('Directus %s: two instances on one PostgreSQL', (version) => {
	let issuer: Issuer;
	let prepared: Prepared | undefined;
	let a: Directus;
	let b: Directus;

	beforeAll(async () => {
		issuer = await startLocalIssuer();
		const env = {
			...seededExtensionEnv(issuer),
			BCC_AUTH_STATE_TTL: String(STATE_TTL_SECONDS),
		};
		// Bootstrapped once: both processes share its database, KEY, SECRET and admin token.
		prepared = await prepareDirectus({ version, database: { client: 'pg' }, env });
		a = await startPrepared(prepared, { env });
		// Seeded before B starts: each process keeps the schema and permissions in memory (a real cluster shares
		// them through Redis), so B must read them after the seed. Users are not cached that way, which is the point.
		await seedAccessModel(a);
		b = await startPrepared(prepared, { env });
	});

	afterAll(async () => {
		await Promise.all([a?.stop(), b?.stop()]);
		await prepared?.database.drop();
		if (prepared) await rm(prepared.project, { recursive: true, force: true });
		await issuer?.stop();
	});

	const userIdOf = (sub: string) => v5(sub, NIL);

	test('100 concurrent first requests of 10 new clients over both instances: 100 × 200 and exactly 10 users', async () => {
		const subs = Array.from({ length: 10 }, (_, i) => `multi-${i}@clients`);
		const tokens = subs.map((sub) => issuer.mint({ sub, scope: 'svc#read' }));

		// Each client's 10 requests alternate between the instances, so both race to create every user.
		const statuses = await Promise.all(
			tokens.flatMap((token) =>
				Array.from({ length: 10 }, (_, i) =>
					(i % 2 === 0 ? a : b).request('/items/articles?limit=1', { token }).then((r) => r.status),
				),
			),
		);
		expect(statuses).toEqual(Array(100).fill(200));

		const users: { id: string; external_identifier: string }[] = await a.admin(
			'/users?filter[external_identifier][_starts_with]=multi-&fields=id,external_identifier&limit=-1',
		);
		expect(users.map((user) => user.external_identifier).sort()).toEqual([...subs].sort());
		for (const user of users) expect(user.id).toBe(userIdOf(user.external_identifier));
	});

	test('a client suspended through instance A is refused by instance B within the TTL, and stays suspended', async () => {
		const sub = 'multi-revoked@clients';
		const token = issuer.mint({ sub, scope: 'svc#read' });

		// Both instances know the client as active: B now trusts its cached state for up to the TTL.
		expect((await a.request('/items/articles', { token })).status).toBe(200);
		expect((await b.request('/items/articles', { token })).status).toBe(200);

		const suspendedAt = Date.now();
		await a.admin(`/users/${userIdOf(sub)}`, 'PATCH', { status: 'suspended' });

		// A hears its own users.update action: refused at once.
		const onA = await a.request('/items/articles', { token });
		expect(onA.status).toBe(401);
		expect(onA.json.errors[0].extensions.code).toBe('INVALID_CREDENTIALS');

		const deadline = suspendedAt + (STATE_TTL_SECONDS + 1) * 1000;
		let flippedAfterMs: number | undefined;

		while (Date.now() < deadline + 2000) {
			const response = await b.request('/items/articles', { token });
			if (response.status === 401) {
				expect(response.json.errors[0].extensions.code).toBe('INVALID_CREDENTIALS');
				flippedAfterMs = Date.now() - suspendedAt;
				break;
			}
			expect(response.status).toBe(200);
			await new Promise((resolve) => setTimeout(resolve, 100));
		}

		expect(flippedAfterMs).toBeDefined();
		expect(flippedAfterMs!).toBeLessThanOrEqual((STATE_TTL_SECONDS + 1) * 1000);

		// Neither the old token nor a newer one, on either instance, brings it back.
		const newer = issuer.mint({ sub, scope: 'svc#read', iat: Math.floor(Date.now() / 1000) + 5 });
		for (const instance of [a, b]) {
			for (const fresh of [token, newer]) {
				expect((await instance.request('/items/articles', { token: fresh })).status).toBe(401);
			}
		}
		await new Promise((resolve) => setTimeout(resolve, STATE_TTL_SECONDS * 1000 + 200));
		expect((await b.request('/items/articles', { token: newer })).status).toBe(401);

		const user = await a.admin(`/users/${userIdOf(sub)}?fields=status`);
		expect(user.status).toBe('suspended');
	});
});
