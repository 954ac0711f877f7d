/**
 * `npm run soak [-- --seconds 60 --clients 100 --connections 20 --directus 11.17.4]`: sustained load from many
 * distinct clients against a real Directus on SQLite with the built extension. DEVELOPMENT ONLY.
 *
 * It shows what a long run does that the e2e suite cannot: every request answered 200, exactly one service user per
 * client however often and concurrently each one is seen, and the Directus process's memory (VmRSS, sampled every
 * 5 s) flat once the caches are warm. Load comes from autocannon on 127.0.0.1, with a fixed number of connections;
 * each request carries the next of the clients' tokens in turn.
 *
 * Exits 1 when a request failed or the users are not exactly the clients; stops everything it started on exit and
 * on Ctrl-C.
 */
import { readFile, rm } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { NIL, v5 } from 'uuid';
import {
	DEFAULT_DIRECTUS_VERSION,
	installDirectus,
	prepareDirectus,
	startPrepared,
} from '../dev/directus-instance.mjs';
import { startLocalIssuer } from '../dev/local-issuer.mjs';
import { seedAccessModel, seededExtensionEnv } from '../dev/seed.mjs';

const SAMPLE_EVERY_MS = 5000;
const PATH = '/items/articles?limit=1';

const { values: flags } = parseArgs({
	options: {
		seconds: { type: 'string', default: '60' },
		clients: { type: 'string', default: '100' },
		connections: { type: 'string', default: '20' },
		directus: { type: 'string', default: DEFAULT_DIRECTUS_VERSION },
	},
});

const seconds = positiveInteger('seconds');
const clientCount = positiveInteger('clients');
const connections = positiveInteger('connections');
const version = flags.directus;

let issuer;
let prepared;
let directus;
let load;
let sampler;
let stopping;
let interrupted = false;

/** Thrown at the next step once Ctrl-C was pressed, so the cleanup below runs with everything started so far. */
class Interrupted extends Error {}

/** Stops the load, Directus, its project and database, and the issuer; safe to call twice. */
function stopAll() {
	stopping ??= (async () => {
		clearInterval(sampler);
		load?.stop();
		await directus?.stop().catch((error) => console.error(`stopping Directus: ${error.message}`));
		await prepared?.database.drop().catch((error) => console.error(`dropping the database: ${error.message}`));
		if (prepared) await rm(prepared.project, { recursive: true, force: true });
		await issuer?.stop().catch(() => undefined);
	})();
	return stopping;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
	process.on(signal, () => {
		// A second Ctrl-C does not wait: the watchdog of dev/directus-instance.mjs still stops Directus.
		if (interrupted) process.exit(130);
		interrupted = true;
		console.log(`\n${signal}: stopping the load, Directus and the issuer…`);
		// Ends the load at once; a startup step under way finishes first, so what it started is known and stopped.
		load?.stop();
	});
}

try {
	process.exitCode = await soak();
} catch (error) {
	// After Ctrl-C a step may also fail because Directus got the terminal's SIGINT too: not worth a stack trace.
	if (!interrupted) console.error(error);
	process.exitCode = interrupted ? 130 : 1;
} finally {
	await stopAll();
}

/** Called after each step of the run, once what it started is recorded: throws `Interrupted` after Ctrl-C. */
function checkpoint() {
	if (interrupted) throw new Interrupted();
}

async function soak() {
	console.log(`Soak: ${seconds} s, ${clientCount} clients, ${connections} connections, Directus ${version} on SQLite`);
	await installDirectus(version);
	checkpoint();

	issuer = await startLocalIssuer();
	checkpoint();
	const env = {
		...seededExtensionEnv(issuer),
		// Why warn: at info Directus logs every request, and a minute of that measures the logger, not the extension.
		LOG_LEVEL: 'warn',
	};
	// Prepared and started in two steps (not startDirectus), so an interrupted start still leaves a project to remove.
	prepared = await prepareDirectus({ version, database: { client: 'sqlite3' }, env });
	checkpoint();
	directus = await startPrepared(prepared, { env });
	checkpoint();
	await seedAccessModel(directus);
	checkpoint();
	const pid = directus.child.pid;
	console.log(`Directus ${version} pid ${pid} on ${directus.url}`);

	const subs = Array.from({ length: clientCount }, (_, i) => `soak-${String(i).padStart(3, '0')}@clients`);
	// Valid well past the run, so no token expires under load.
	const tokens = subs.map((sub) => issuer.mint({ sub, scope: 'svc#read' }, { expiresIn: seconds + 3600 }));
	let next = 0;
	let answered = 0;

	const samples = [];
	const started = Date.now();
	const sample = async () => {
		const rssKb = await readRssKb(pid);
		samples.push(rssKb);
		const at = Math.round((Date.now() - started) / 1000);
		console.log(`  t=${String(at).padStart(4)} s  RSS ${mb(rssKb)}  responses so far ${answered}`);
	};

	console.log(`Load on ${PATH}; Directus RSS every ${SAMPLE_EVERY_MS / 1000} s:`);
	await sample();
	sampler = setInterval(() => void sample().catch(() => undefined), SAMPLE_EVERY_MS);

	load = autocannon({
		url: directus.url,
		connections,
		duration: seconds,
		requests: [
			{
				method: 'GET',
				path: PATH,
				// Round robin: every client is seen on many connections at once, the first time included.
				setupRequest: (request) => ({
					...request,
					headers: { ...request.headers, authorization: `Bearer ${tokens[next++ % tokens.length]}` },
				}),
			},
		],
	});
	load.on('response', () => answered++);
	const result = await load;
	checkpoint();
	clearInterval(sampler);
	await sample();

	const byStatus = Object.fromEntries(
		Object.entries(result.statusCodeStats ?? {}).map(([status, { count }]) => [status, Number(count)]),
	);
	const responses = Object.values(byStatus).reduce((sum, count) => sum + count, 0);
	const non200 = responses - (byStatus[200] ?? 0);
	const errors = non200 + result.errors;

	const users = await directus.admin(
		'/users?filter[external_identifier][_nnull]=true&fields=id,external_identifier,provider,status&limit=-1',
	);
	const expected = new Map(subs.map((sub) => [sub, v5(sub, NIL)]));
	const matching = users.filter((user) => expected.get(user.external_identifier) === user.id);
	const providers = [...new Set(users.map((user) => user.provider))].join(', ');
	const usersOk = users.length === clientCount && matching.length === clientCount;

	const first = samples[0];
	const last = samples.at(-1);
	const max = Math.max(...samples);

	console.log('');
	console.log(
		`Requests:      ${responses} answered in ${result.duration} s (${Math.round(responses / result.duration)}/s)`,
	);
	console.log(`Status codes:  ${JSON.stringify(byStatus)}`);
	console.log(
		`Errors:        ${errors} (non-200: ${non200}, connection errors: ${result.errors}, timeouts: ${result.timeouts})`,
	);
	console.log(
		`Latency:       p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms`,
	);
	console.log(
		`Service users: ${users.length} with an external_identifier (provider ${providers || '-'}), ` +
			`${matching.length} of the ${clientCount} clients with id = UUIDv5(sub): ${usersOk ? 'OK' : 'MISMATCH'}`,
	);
	console.log(
		`Directus RSS:  first ${mb(first)}, last ${mb(last)}, max ${mb(max)}, last - first ${mb(last - first)} ` +
			`(${samples.length} samples)`,
	);

	const extensionErrors = directus.extensionLogs();
	if (extensionErrors.length > 0) {
		console.log(`Extension log lines (${extensionErrors.length}, first 5):`);
		for (const line of extensionErrors.slice(0, 5)) console.log(`  ${line.slice(0, 300)}`);
	}

	const ok = errors === 0 && usersOk;
	console.log(ok ? 'Soak passed.' : 'Soak FAILED.');
	return ok ? 0 : 1;
}

/** VmRSS of `pid` in kB, from /proc (Linux). */
async function readRssKb(pid) {
	const status = await readFile(`/proc/${pid}/status`, 'utf8');
	const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
	if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
	return Number(match[1]);
}

function mb(kb) {
	return `${(kb / 1024).toFixed(1)} MB`;
}

function positiveInteger(name) {
	const value = Number(flags[name]);
	if (!Number.isSafeInteger(value) || value <= 0) {
		console.error(`--${name} must be a positive integer, got "${flags[name]}"`);
		process.exit(2);
	}
	return value;
}
