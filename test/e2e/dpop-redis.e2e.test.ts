/**
 * DPoP replay across instances: two Directus instances on one PostgreSQL database and a Redis of the test's own,
 * configured as Directus runs several instances. Both are told the same PUBLIC_URL, as behind one load balancer,
 * so one proof is valid on either: the first to see it accepts it, every other refuses it.
 */
import { hash, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startRedisCluster, type RedisCluster } from './redis-cluster.js';
import { directusVersions } from './versions.js';

const PUBLIC_URL = 'https://cms.example.test';

describe.each(directusVersions())('Directus %s, two instances and Redis: DPoP replay', (version) => {
	let cluster: RedisCluster;
	let token: string;
	let proof: () => Promise<string>;

	beforeAll(async () => {
		cluster = await startRedisCluster(version, { envA: { PUBLIC_URL }, envB: { PUBLIC_URL } });
		const { privateKey, publicKey } = await generateKeyPair('ES256');
		const jwk = await exportJWK(publicKey);
		token = cluster.issuer.mint({
			sub: 'dpop-replay@clients',
			scope: 'svc#read',
			cnf: { jkt: await calculateJwkThumbprint(jwk) },
		});
		proof = () =>
			new SignJWT({
				jti: randomUUID(),
				iat: Math.floor(Date.now() / 1000),
				htm: 'GET',
				htu: `${PUBLIC_URL}/items/articles`,
				ath: hash('sha256', token, 'base64url'),
			})
				.setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
				.sign(privateKey);
	});

	afterAll(async () => {
		await cluster?.stop();
	});

	const read = (instance: RedisCluster['a'], dpop: string) =>
		instance.request('/items/articles', { headers: { authorization: `DPoP ${token}`, dpop } });

	test('a proof accepted by A is refused by B, and by A again; fresh proofs work on both', async () => {
		const used = await proof();
		expect((await read(cluster.a, used)).status).toBe(200);

		const mark = cluster.b.logs().length;
		const replayed = await read(cluster.b, used);
		expect(replayed.status).toBe(401);
		expect(cluster.b.extensionLogs(mark).join('\n')).toContain('refused dpop_replayed');
		expect((await read(cluster.a, used)).status).toBe(401);

		expect((await read(cluster.b, await proof())).status).toBe(200);
		expect((await read(cluster.a, await proof())).status).toBe(200);
	});

	test('one proof sent to both at the same moment, ten times: exactly one of each pair is accepted', async () => {
		for (let i = 0; i < 10; i++) {
			const shared = await proof();
			const statuses = (await Promise.all([read(cluster.a, shared), read(cluster.b, shared)])).map((r) => r.status);
			expect(statuses.sort()).toEqual([200, 401]);
		}
	});
});
