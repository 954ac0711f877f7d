/**
 * The Redis server killed mid-run under two Directus instances (issue 9), Directus's realtime logs stream off.
 * A control of Directus's own static tokens, sent alongside the extension's traffic, shows what Directus itself can
 * still serve: a client the extension served before the outage gets the same answers, a never-seen client gets a
 * 503 or what a never-seen static token gets, no instance exits, revocation falls back to BCC_AUTH_STATE_TTL, and
 * the extension's bus says once that it is down and once that it is back, after which propagation is fast again.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { directusVersions } from './versions.js';
import { type Directus, type RedisCluster, sleep, startRedisCluster, userIdOf } from './redis-cluster.js';

/** The default BCC_AUTH_STATE_TTL, which the cluster leaves unset. */
const STATE_TTL_MS = 10_000;
/** Slack on top of the TTL for a suspension to reach B during the outage: a poll interval and a slow request. */
const TTL_SLACK_MS = 5000;
/** Directus's own deaths during an outage came about 10 s in; watching 20 s covers them with room. */
const OUTAGE_WATCH_MS = 20_000;
/** A request that hangs on Directus's Redis retries is recorded as `timeout`, not awaited for ever. */
const REQUEST_TIMEOUT_MS = 15_000;
/** Generous bound on propagation over the bus once Redis is back (the target is ≤ 1 s). */
const BOUND_MS = 5000;

type Answer = number | 'timeout' | 'refused';
/** One request's answer and how long it took. */
type Probed = { answer: Answer; ms: number };
/** A client of the extension and Directus's own client of the same role, sent the same requests. */
type Client = { extension: string; directus: string };
/** What one instance answered the seen and the never-seen clients. */
type Round = Record<'seenExtension' | 'seenDirectus' | 'newExtension' | 'newDirectus', Probed>;

describe.each(directusVersions())('Directus %s: Redis killed under two instances', (version) => {
	let cluster: RedisCluster;
	const figures: string[] = [];
	const exits: string[] = [];

	beforeAll(async () => {
		cluster = await startRedisCluster(version);
		for (const [name, instance] of Object.entries({ A: cluster.a, B: cluster.b })) {
			void instance.exit.then((code) => exits.push(`${name} exited with ${code}`));
		}
	});

	afterAll(async () => {
		if (figures.length > 0) console.log(`\nDirectus ${version}, Redis outage:\n${figures.join('\n')}`);
		await cluster?.stop();
	});

	/** One request with a deadline: its status (or `timeout`, or `refused` when nothing listens) and how long it took. */
	async function probe(
		instance: Directus,
		token: string,
		{ method = 'GET', path = '/items/articles?limit=1', body }: { method?: string; path?: string; body?: unknown } = {},
	): Promise<Probed> {
		const startedAt = Date.now();
		let answer: Answer;
		try {
			const response = await fetch(`${instance.url}${path}`, {
				method,
				headers: {
					authorization: `Bearer ${token}`,
					...(body === undefined ? {} : { 'content-type': 'application/json' }),
				},
				body: body === undefined ? undefined : JSON.stringify(body),
				signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
			});
			await response.arrayBuffer();
			answer = response.status;
		} catch (error) {
			answer = (error as Error).name === 'TimeoutError' ? 'timeout' : 'refused';
		}
		return { answer, ms: Date.now() - startedAt };
	}

	/** A Directus user with a static token and the API Readers role: the control's client. */
	async function staticTokenUser(label: string): Promise<string> {
		const token = `static-${label}-${randomBytes(16).toString('hex')}`;
		await cluster.a.admin('/users', 'POST', {
			email: `${label}@static.example.com`,
			role: cluster.roles.readers,
			token,
		});
		return token;
	}

	/** The extension's log lines about its bus since `mark`. */
	const busLines = (instance: Directus, mark: number) =>
		instance.extensionLogs(mark).filter((line) => /\bbus\b/i.test(line));

	test('no instance exits, served clients are served where Directus can, revocation falls back to the TTL, the bus comes back', async () => {
		const { a, b, issuer, redis } = cluster;
		const instances = { A: a, B: b } as const;
		const mint = (sub: string) => issuer.mint({ sub, scope: 'svc#read' });
		const revokedId = userIdOf('outage-revoked@clients');

		// Static-token users are made now: the admin API may not create users during the outage.
		const seen = { extension: mint('outage-seen@clients'), directus: await staticTokenUser('outage-seen') };
		const revoked = mint('outage-revoked@clients');
		const waves: Record<keyof typeof instances, Client>[] = [];
		for (const wave of [1, 2]) {
			waves.push({
				A: { extension: mint(`outage-new-${wave}-a@clients`), directus: await staticTokenUser(`new-${wave}-a`) },
				B: { extension: mint(`outage-new-${wave}-b@clients`), directus: await staticTokenUser(`new-${wave}-b`) },
			});
		}

		// Before the outage, both instances serve the seen clients (and the one about to be revoked).
		for (const instance of [a, b]) {
			for (const token of [seen.extension, seen.directus, revoked])
				expect((await probe(instance, token)).answer).toBe(200);
		}

		const marks = { A: a.logs().length, B: b.logs().length };
		const outageAt = Date.now();
		await redis.kill();

		/** The same traffic with and without the extension, on both instances at once. */
		const round = async (never: Record<keyof typeof instances, Client>) =>
			Object.fromEntries(
				await Promise.all(
					(['A', 'B'] as const).map(async (name) => {
						const instance = instances[name];
						const [seenExtension, seenDirectus, newExtension, newDirectus] = await Promise.all([
							probe(instance, seen.extension),
							probe(instance, seen.directus),
							probe(instance, never[name].extension),
							probe(instance, never[name].directus),
						]);
						return [name, { seenExtension, seenDirectus, newExtension, newDirectus }] as const;
					}),
				),
			) as Record<keyof typeof instances, Round>;

		// Wave 1 arrives the moment Redis is gone.
		const first = await round(waves[0]!);

		// B loads the client's state (its extension answers before Directus reaches for Redis; the request itself
		// may then hang), then the client is suspended while Redis is down: through A's admin API when A can take
		// it, else in the database, as an operator's script would. Nothing but B's own TTL can tell B.
		const beforeSuspension = probe(b, revoked);
		await sleep(500);
		const suspendedAt = Date.now();
		const patch = await probe(a, a.adminToken, {
			method: 'PATCH',
			path: `/users/${revokedId}`,
			body: { status: 'suspended' },
		});
		let suspendedThrough = `admin PATCH on A: ${patch.answer}`;
		if (patch.answer !== 200) {
			await suspendInDatabase(cluster, revokedId);
			suspendedThrough += ', then SQL';
		}
		const onA = await probe(a, revoked);

		// Requests B lets through may hang on Directus's Redis retries: B is asked every 250 ms without waiting for
		// the previous answer, and the first 401 counts.
		let revokedOnB: number | undefined;
		const polls: Promise<Probed>[] = [];
		while (revokedOnB === undefined && Date.now() - suspendedAt < STATE_TTL_MS + TTL_SLACK_MS) {
			polls.push(
				probe(b, revoked).then((probed) => {
					if (probed.answer === 401) revokedOnB ??= Date.now() - suspendedAt;
					return probed;
				}),
			);
			await sleep(250);
		}

		// Wave 2 arrives well into the outage, once every retry of Redis's clients has given up.
		const second = await round(waves[1]!);

		const watched = OUTAGE_WATCH_MS - (Date.now() - outageAt);
		if (watched > 0) await sleep(watched);
		const outageMs = Date.now() - outageAt;
		const exitsDuringOutage = [...exits];
		const downLines = { A: busLines(a, marks.A), B: busLines(b, marks.B) };

		const restartMarks = { A: a.logs().length, B: b.logs().length };
		await redis.restart();
		const backLines = await waitForBusLines(instances, restartMarks, 20_000);

		// Redis is back: a client refused during the outage is admitted, and a change through A reaches B fast.
		const admitted = await Promise.all([probe(a, waves[0]!.A.extension), probe(b, waves[0]!.B.extension)]);
		const fresh = mint('outage-after@clients');
		expect((await probe(a, fresh)).answer).toBe(200);
		expect((await probe(b, fresh)).answer).toBe(200);
		const after: number[] = [];
		for (const status of ['suspended', 'active', 'suspended'] as const) {
			const want = status === 'suspended' ? 401 : 200;
			const changedAt = Date.now();
			await a.admin(`/users/${userIdOf('outage-after@clients')}`, 'PATCH', { status });
			while (Date.now() - changedAt < STATE_TTL_MS + TTL_SLACK_MS && (await probe(b, fresh)).answer !== want) {
				await sleep(20);
			}
			after.push(Date.now() - changedAt);
		}

		const show = (probed: Probed) => `${probed.answer} (${probed.ms} ms)`;
		for (const [wave, answers] of [
			['wave 1 (at once)', first],
			['wave 2 (later)', second],
		] as const) {
			for (const [name, row] of Object.entries(answers)) {
				figures.push(
					`  ${wave}, ${name}: seen client: extension ${show(row.seenExtension)}, static ${show(row.seenDirectus)}; ` +
						`never-seen client: extension ${show(row.newExtension)}, static ${show(row.newDirectus)}`,
				);
			}
		}
		figures.push(
			`  suspension during the outage (${suspendedThrough}; A then answers ${show(onA)}; B answered ` +
				`${show(await beforeSuspension)} just before) → 401 on B after ` +
				`${revokedOnB === undefined ? `> ${STATE_TTL_MS + TTL_SLACK_MS}` : revokedOnB} ms`,
			`  exits during the ${Math.round(outageMs / 1000)} s outage: ${exitsDuringOutage.length === 0 ? 'none' : exitsDuringOutage.join(', ')}`,
			`  extension bus lines, down: A ${downLines.A.length}, B ${downLines.B.length}; back: A ${backLines.A.length}, B ${backLines.B.length}`,
			`  after Redis is back: a wave-1 client gets ${admitted.map(show).join(' on A, ')} on B; ` +
				`PATCH on A → B in ${after.join(', ')} ms`,
		);

		expect(exitsDuringOutage).toEqual([]);
		for (const row of [...Object.values(first), ...Object.values(second)]) {
			// Where Directus serves its own seen client, the extension serves its own; elsewhere, the same answer
			// or a 503 from the extension. A never-seen client gets a 503 or what a never-seen static token gets.
			if (row.seenDirectus.answer === 200) expect(row.seenExtension.answer).toBe(200);
			else expect([row.seenDirectus.answer, 503]).toContain(row.seenExtension.answer);
			expect([row.newDirectus.answer, 503]).toContain(row.newExtension.answer);
		}
		expect(onA.answer).toBe(401);
		expect(revokedOnB, 'the suspension reached B within the TTL and slack').toBeDefined();
		// B said nothing but "active" (or Directus's own failure) before it said 401.
		for (const probed of await Promise.all(polls)) expect([200, 401, 500, 'timeout']).toContain(probed.answer);
		expect(downLines.A).toHaveLength(1);
		expect(downLines.B).toHaveLength(1);
		expect(backLines.A).toHaveLength(1);
		expect(backLines.B).toHaveLength(1);
		expect(admitted.map((probed) => probed.answer)).toEqual([200, 200]);
		expect(Math.max(...after)).toBeLessThan(BOUND_MS);
		expect(exits).toEqual([]);
	});
});

/** Waits until each instance logged a bus line since its mark (or `timeoutMs`); returns the lines. */
async function waitForBusLines(
	instances: Record<'A' | 'B', Directus>,
	marks: Record<'A' | 'B', number>,
	timeoutMs: number,
): Promise<Record<'A' | 'B', string[]>> {
	const lines = () => ({
		A: instances.A.extensionLogs(marks.A).filter((line) => /\bbus\b/i.test(line)),
		B: instances.B.extensionLogs(marks.B).filter((line) => /\bbus\b/i.test(line)),
	});
	const deadline = Date.now() + timeoutMs;
	while (Date.now() < deadline) {
		const found = lines();
		if (found.A.length > 0 && found.B.length > 0) {
			// A second line (a flapping bus) would show up within a moment; give it one.
			await sleep(1000);
			return lines();
		}
		await sleep(100);
	}
	return lines();
}

/** Suspends a user straight in PostgreSQL, as an operator's script would: no instance hears an action. */
async function suspendInDatabase(cluster: RedisCluster, userId: string): Promise<void> {
	const database = cluster.a.prepared.database.name;
	await new Promise<void>((resolve, reject) =>
		execFile(
			'psql',
			[
				'-h',
				'127.0.0.1',
				'-U',
				'postgres',
				'-d',
				String(database),
				'-v',
				'ON_ERROR_STOP=1',
				'-c',
				`UPDATE directus_users SET status = 'suspended' WHERE id = '${userId}'`,
			],
			(error) => (error ? reject(error) : resolve()),
		),
	);
}
