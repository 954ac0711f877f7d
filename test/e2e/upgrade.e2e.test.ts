/**
 * The Directus 11 → 12 upgrade, as a team runs it: Directus 11 with the extension serves two clients (their service
 * users carry the guide's provider), stops, Directus 12's own CLI migrates the same database, and Directus 12
 * starts with the extension. Without a licence (Core), Directus 12 locks the project while an active user has a
 * custom provider; the extension must move its users before the first request, with no manual step.
 *
 * Each scenario first starts Directus 12 with `BCC_AUTH_USER_PROVIDER=bcc-client-credentials` (nothing moved) to
 * show what the upgrade does without the migration, then with the default `auto`.
 */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { NIL, v5 } from 'uuid';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { prepareDirectus, runDirectusCli, startPrepared, withDirectusVersion } from '../../dev/directus-instance.mjs';
import { startLocalIssuer } from '../../dev/local-issuer.mjs';
import { seedAccessModel } from '../../dev/seed.mjs';
import { databaseClients, type DatabaseClient } from './databases.js';
import { directusVersions } from './versions.js';

type Prepared = Awaited<ReturnType<typeof prepareDirectus>>;
type Directus = Awaited<ReturnType<typeof startPrepared>>;
type Issuer = Awaited<ReturnType<typeof startLocalIssuer>>;

const GUIDE_PROVIDER = 'bcc-client-credentials';
const OLD_CLIENTS = ['old-a@clients', 'old-b@clients'];
const REVOKED = 'revoked@clients';
const NEW_CLIENT = 'new-c@clients';

const versions = directusVersions();
const from = versions.find((version) => version.startsWith('11.'));
const to = versions.find((version) => version.startsWith('12.'));
// The upgrade needs both majors; `BCC_E2E_DIRECTUS` naming one of them runs the other files only.
const pairs = from && to ? databaseClients().filter((client) => client !== 'mysql') : [];

const run = promisify(execFile);

describe.skipIf(pairs.length === 0).each(pairs.length > 0 ? pairs : ['sqlite3' as const])(
	`Directus ${from} → ${to} on %s`,
	(client: DatabaseClient) => {
		let issuer: Issuer;
		const cleanups: (() => Promise<unknown>)[] = [];

		beforeAll(async () => {
			issuer = await startLocalIssuer();
		});

		afterAll(async () => {
			for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
			await issuer?.stop();
		});

		const extensionEnv = (env: Record<string, string> = {}) => ({
			BCC_AUTH_ISSUER: issuer.issuer,
			BCC_AUTH_AUDIENCE: issuer.audience,
			BCC_AUTH_SCOPE_ROLES: 'svc#read=API Readers',
			...env,
		});

		const start = async (prepared: Prepared, env?: Record<string, string>) => {
			const directus = await startPrepared(prepared, { env: extensionEnv(env) });
			cleanups.push(() => directus.stop());
			return directus;
		};

		const read = (d: Directus, clientId: string) =>
			d.request('/items/articles', { token: issuer.mint({ sub: clientId, scope: 'svc#read' }) });

		const user = async (d: Directus, clientId: string) =>
			d.admin(`/users/${v5(clientId, NIL)}?fields=provider,status`) as Promise<{ provider: string; status: string }>;

		const licenceStatus = async (d: Directus) => (await d.admin('/license')).status as string;

		/** Directus 11 with the extension: seeds, serves the old clients, stops. */
		const serveOnDirectus11 = async (clients: string[]) => {
			const prepared = await prepareDirectus({ version: from, database: { client } });
			cleanups.push(async () => {
				await prepared.database.drop();
				await rm(prepared.project, { recursive: true, force: true });
			});

			const d = await start(prepared);
			await seedAccessModel(d);
			for (const clientId of clients) expect((await read(d, clientId)).status).toBe(200);
			for (const clientId of clients) expect((await user(d, clientId)).provider).toBe(GUIDE_PROVIDER);
			return { prepared, d };
		};

		/** Directus 12's own `database migrate:latest` on the same project and database; returns it as 12 runs it. */
		const migrateTo12 = async (prepared: Prepared) => {
			const upgraded = await withDirectusVersion(prepared, to!);
			const started = performance.now();
			await runDirectusCli(upgraded, ['database', 'migrate:latest']);
			console.log(`[upgrade ${client}] ${to} migrate:latest: ${Math.round(performance.now() - started)} ms`);
			return upgraded;
		};

		/** Starts 12 with the extension as shipped (`auto`) and checks everything a team would check after upgrading. */
		const startUpgraded = async (upgraded: Prepared) => {
			const started = performance.now();
			const d = await start(upgraded);
			console.log(
				`[upgrade ${client}] ${to} with the extension answering: ${Math.round(performance.now() - started)} ms`,
			);

			const lines = d.logs();
			const moved = lines.findIndex((line) => line.includes('service users from provider'));
			expect(moved, lines.slice(-30).join('\n')).toBeGreaterThanOrEqual(0);
			// Before Directus listens, so before any request.
			expect(moved).toBeLessThan(lines.findIndex((line) => line.includes('Server started at')));
			console.log(`[upgrade ${client}] log: ${JSON.parse(lines[moved]!).msg}`);

			const items = await d.request('/items/articles', { token: d.adminToken });
			expect(items.status, items.text).toBe(200);
			expect(await licenceStatus(d)).toBe('active');

			for (const clientId of [...OLD_CLIENTS, NEW_CLIENT]) {
				expect((await read(d, clientId)).status, clientId).toBe(200);
				expect(await user(d, clientId)).toEqual({ provider: 'default', status: 'active' });
			}

			// The new client was created with `default` at once, no refused attempt with the guide's provider; and
			// Directus's caches were cleared without a complaint.
			expect(d.logs().join('\n')).not.toMatch(/custom "provider" isn't included/);
			expect(d.extensionLogs().join('\n')).not.toMatch(/could not/);
			// Still active once the new client has its user and Directus has counted again.
			expect(await licenceStatus(d)).toBe('active');
			return { d, message: JSON.parse(lines[moved]!).msg as string };
		};

		// Each scenario boots Directus four or five times; on a loaded machine that takes minutes.
		test(
			'an install younger than a day: locked without the migration, served with it',
			{ timeout: 600_000 },
			async () => {
				const { prepared, d: d11 } = await serveOnDirectus11(OLD_CLIENTS);
				await d11.stop();
				const upgraded = await migrateTo12(prepared);

				// What happens without the migration: Directus 12 locks everything at once, the admin's token included.
				const unmigrated = await start(upgraded, { BCC_AUTH_USER_PROVIDER: GUIDE_PROVIDER });
				const locked = await unmigrated.request('/items/articles', { token: unmigrated.adminToken });
				expect(locked.status).toBe(403);
				expect(locked.json.errors[0].extensions.code).toBe('RESOURCE_RESTRICTED');
				expect(await licenceStatus(unmigrated)).toBe('locked');
				await unmigrated.stop();

				const { d, message } = await startUpgraded(upgraded);
				expect(message).toMatch(/moved 2 service users from provider "bcc-client-credentials" to "default" \([^)]*\)$/);
				await d.stop();

				// A later start finds nothing to move and says nothing about it.
				const again = await start(upgraded);
				expect(again.extensionLogs().join('\n')).not.toMatch(/service users from provider/);
				expect((await read(again, OLD_CLIENTS[0]!)).status).toBe(200);
				await again.stop();
			},
		);

		test(
			'an install older than a day, clients disabled by the licence resolution: back, the revoked one not',
			{ timeout: 600_000 },
			async () => {
				const { prepared, d: d11 } = await serveOnDirectus11([...OLD_CLIENTS, REVOKED]);
				// An admin revoked this client on Directus 11 (recorded in the revisions, as the app records it).
				await d11.admin(`/users/${v5(REVOKED, NIL)}`, 'PATCH', { status: 'suspended' });
				await d11.stop();

				// Directus grants its 30-day grace when its first migration is more than a day older than the v12 one.
				await backdateMigrations(prepared, 2);
				const upgraded = await migrateTo12(prepared);

				const unmigrated = await start(upgraded, { BCC_AUTH_USER_PROVIDER: GUIDE_PROVIDER });
				expect(await licenceStatus(unmigrated)).toBe('grace');
				// The way out Directus offers an admin: its licence resolution disables every user with a custom provider.
				await unmigrated.admin('/license/resolve', 'POST', { sso_enabled: true });
				expect(await licenceStatus(unmigrated)).toBe('active');
				for (const clientId of [...OLD_CLIENTS, REVOKED]) {
					expect((await user(unmigrated, clientId)).status).toBe('inactive-license');
				}
				// Every machine client stops.
				expect((await read(unmigrated, OLD_CLIENTS[0]!)).status).toBe(401);
				await unmigrated.stop();

				const { d, message } = await startUpgraded(upgraded);
				expect(message).toMatch(
					/moved 3 service users .*; 2 of them back from "inactive-license" .* to "active", 1 left inactive/,
				);

				// The client an admin had revoked stays revoked.
				expect((await read(d, REVOKED)).status).toBe(401);
				expect(await user(d, REVOKED)).toEqual({ provider: 'default', status: 'inactive-license' });
				await d.stop();
			},
		);
	},
);

/** Moves every migration's timestamp `days` into the past, through Directus's own knex and database driver. */
async function backdateMigrations(prepared: Prepared, days: number): Promise<void> {
	const sql =
		prepared.env['DB_CLIENT'] === 'sqlite3'
			? `UPDATE directus_migrations SET timestamp = datetime(timestamp, '-${days} days')`
			: `UPDATE directus_migrations SET "timestamp" = "timestamp" - interval '${days} days'`;

	// Why Directus's node and knex: the SQLite driver is built for them, and this repository has no SQLite driver.
	const script = `
		const knex = require('node:module').createRequire(process.argv[1])('knex');
		const e = process.env;
		const db = knex(e.DB_CLIENT === 'sqlite3'
			? { client: 'sqlite3', connection: { filename: e.DB_FILENAME }, useNullAsDefault: true }
			: { client: e.DB_CLIENT, connection: { host: e.DB_HOST, port: Number(e.DB_PORT), user: e.DB_USER,
				password: e.DB_PASSWORD, database: e.DB_DATABASE } });
		db.raw(process.argv[2]).then(() => db.destroy(), (error) => { console.error(error); process.exit(1); });`;

	await run(prepared.node, ['-e', script, prepared.cli, sql], { env: prepared.env, timeout: 60_000 });
}
