/**
 * The database going away while a new client authenticates, with Directus on PostgreSQL: the client gets a prompt
 * 503 SERVICE_UNAVAILABLE (never a hang or a 500), nothing half-written stays behind, and once the database is back
 * the next request succeeds and creates exactly one service user.
 *
 * The outage is real: `ALLOW_CONNECTIONS false` plus terminating every backend of the test database, run as
 * postgres, so Directus's pool loses its connections and cannot open new ones.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { NIL, v5 } from 'uuid';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startDirectus } from '../../dev/directus-instance.mjs';
import { startLocalIssuer } from '../../dev/local-issuer.mjs';
import { seedAccessModel, seededExtensionEnv } from '../../dev/seed.mjs';
import { directusVersions } from './versions.js';

type Directus = Awaited<ReturnType<typeof startDirectus>>;
type Issuer = Awaited<ReturnType<typeof startLocalIssuer>>;

const run = promisify(execFile);

/** Runs `sql` as postgres in `database` (the maintenance database by default); returns the unaligned rows. */
async function psql(sql: string, database = 'postgres'): Promise<string> {
	const args = ['-h', '127.0.0.1', '-U', 'postgres', '-d', database, '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql];
	return (await run('psql', args)).stdout.trim();
}

/** How long a refusal may take: a few pool round trips, far below knex's 60 s acquire timeout. */
const PROMPT_MS = 10_000;

describe.each(directusVersions())('Directus %s on PostgreSQL: database faults', (version) => {
	let issuer: Issuer;
	let directus: Directus;
	let database: string;
	const lockSessions = new Set<ChildProcess>();

	const cutDatabase = async () => {
		await psql(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
		await psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database}'`);
	};
	const restoreDatabase = () => psql(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
	/** A count from the test database itself (catalogs such as pg_class are per database). */
	const count = async (sql: string) => Number(await psql(sql, database));

	beforeAll(async () => {
		issuer = await startLocalIssuer();
		directus = await startDirectus({
			version,
			database: { client: 'pg' },
			env: {
				...seededExtensionEnv(issuer),
			},
		});
		database = directus.prepared.database.name!;
		await seedAccessModel(directus);
	});

	// Whatever a test did or failed to do, the database accepts connections again and no lock is left held.
	afterEach(async () => {
		for (const session of lockSessions) session.kill('SIGKILL');
		lockSessions.clear();
		if (database) await restoreDatabase();
	});

	afterAll(async () => {
		if (database) await restoreDatabase().catch(() => undefined);
		await directus?.stop();
		await issuer?.stop();
	});

	const userIdOf = (sub: string) => v5(sub, NIL);

	/** The request, timed; a fetch abort after 60 s would show a hang as a failure rather than a test timeout. */
	const timedRequest = async (token: string) => {
		const started = Date.now();
		const response = await fetch(`${directus.url}/items/articles`, {
			headers: { authorization: `Bearer ${token}` },
			signal: AbortSignal.timeout(60_000),
		});
		const json = (await response.json()) as { data?: unknown[]; errors?: { extensions: { code: string } }[] };
		return { status: response.status, json, ms: Date.now() - started };
	};

	/** Rows the user's creation would have written, read straight from PostgreSQL. */
	const rowsOf = async (sub: string) => ({
		users: await count(`SELECT count(*) FROM directus_users WHERE id = '${userIdOf(sub)}'`),
		byClient: await count(`SELECT count(*) FROM directus_users WHERE external_identifier = '${sub}'`),
		revisions: await count(
			`SELECT count(*) FROM directus_revisions WHERE collection = 'directus_users' AND item = '${userIdOf(sub)}'`,
		),
	});

	/** After the outage: the client's next request succeeds and makes exactly one user. */
	const expectRecovery = async (sub: string) => {
		const response = await timedRequest(issuer.mint({ sub, scope: 'svc#read' }));
		expect(response.status).toBe(200);
		expect(response.json.data).toHaveLength(3);

		const users = await directus.admin(`/users?filter[external_identifier][_eq]=${sub}&fields=id,status`);
		expect(users).toEqual([{ id: userIdOf(sub), status: 'active' }]);
		expect((await rowsOf(sub)).users).toBe(1);
	};

	test('database unreachable before a new client’s first request: a prompt 503, nothing written, then one user', async () => {
		const sub = 'fault-before@clients';
		// Another client first, so the pool is warm and the role lookups are cached: the fault hits the user.
		expect((await timedRequest(issuer.mint({ sub: 'fault-warm@clients', scope: 'svc#read' }))).status).toBe(200);
		const mark = directus.logs().length;

		const token = issuer.mint({ sub, scope: 'svc#read' });
		let refused;

		try {
			await cutDatabase();
			refused = await timedRequest(token);
		} finally {
			await restoreDatabase();
		}

		expect(refused.status).toBe(503);
		expect(refused.json.errors?.[0]?.extensions.code).toBe('SERVICE_UNAVAILABLE');
		expect(refused.ms).toBeLessThan(PROMPT_MS);
		// The reason is in the log, the token is not.
		const lines = directus.extensionLogs(mark);
		expect(lines.some((line) => line.includes('could not authenticate') && line.includes(sub))).toBe(true);
		expect(directus.logsSince(mark).some((line) => line.includes(token.split('.')[2]!))).toBe(false);

		expect(await rowsOf(sub)).toEqual({ users: 0, byClient: 0, revisions: 0 });
		await expectRecovery(sub);
	});

	test('database lost while the new user’s row is being inserted: a prompt 503, the insert rolled back, then one user', async () => {
		const sub = 'fault-during@clients';
		const token = issuer.mint({ sub, scope: 'svc#read' });

		// A session holding SHARE on directus_users lets reads through but parks the INSERT of the new user, so the
		// outage lands inside the creation's transaction rather than before it.
		const locker = spawn('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', database, '-v', 'ON_ERROR_STOP=1'], {
			stdio: ['pipe', 'ignore', 'ignore'],
		});
		lockSessions.add(locker);
		locker.stdin!.write('BEGIN;\nLOCK TABLE directus_users IN SHARE MODE;\n');
		await waitFor(
			async () =>
				(await count(
					`SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
					 WHERE c.relname = 'directus_users' AND l.mode = 'ShareLock' AND l.granted`,
				)) === 1,
			'the SHARE lock',
		);

		let refused;

		try {
			const pending = timedRequest(token);
			await waitFor(
				async () =>
					(await count(
						`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
						 AND query ILIKE 'insert into "directus_users"%'`,
					)) === 1,
				'the parked INSERT',
			);
			await cutDatabase();
			refused = await pending;
		} finally {
			await restoreDatabase();
		}

		expect(refused.status).toBe(503);
		expect(refused.json.errors?.[0]?.extensions.code).toBe('SERVICE_UNAVAILABLE');
		expect(refused.ms).toBeLessThan(PROMPT_MS);

		expect(await rowsOf(sub)).toEqual({ users: 0, byClient: 0, revisions: 0 });
		await expectRecovery(sub);
	});
});

/** Polls `check` every 50 ms for up to 10 s. */
async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
	const deadline = Date.now() + 10_000;
	while (!(await check())) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}
