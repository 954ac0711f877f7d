#!/usr/bin/env node
/**
 * `npm run bench`: what authentication through this extension costs, side by side with the alternatives.
 *
 *   1. The hook alone (the built bundle, a stub database): ops/s for a cache hit, a cache miss with RS256
 *      verification and tokens that are not ours; then heap use while 100,000 distinct tokens go through it.
 *   2. One real Directus on SQLite: the same read by the same role as (A) a fixed accountability, the ceiling,
 *      (B) a Directus static token, (C) a client-credentials token and (D) a DPoP-bound one with a fresh proof per
 *      request, alternating over rounds; queries per request and JWKS fetches across a key rotation.
 *
 * Usage: node scripts/bench.mjs [--directus 11.17.4] [--rounds 5] [--duration 5] [--connections 10]
 *                               [--memory-tokens 100000] [--only micro|http] [--json bench-results.json]
 * Progress goes to stderr, the report to stdout. Everything started here is stopped on exit, Ctrl-C or error.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_DIRECTUS_VERSION, REPO_ROOT } from '../dev/directus-instance.mjs';
import { READ_PATH, runHttp, stopLoad, WAYS } from './bench/http.mjs';
import { mib, num, range, spread, table } from './bench/stats.mjs';

/** The issue's targets: what "zero-cost" means in numbers. */
const TARGETS = { cacheHitOpsPerSecond: 200_000, cOverA: 0.95, cOverB: 1.0 };

const { values: flags } = parseArgs({
	options: {
		directus: { type: 'string', default: DEFAULT_DIRECTUS_VERSION },
		rounds: { type: 'string', default: '5' },
		duration: { type: 'string', default: '5' },
		connections: { type: 'string', default: '10' },
		'memory-tokens': { type: 'string', default: '100000' },
		only: { type: 'string' },
		json: { type: 'string' },
		help: { type: 'boolean', default: false },
	},
});

if (flags.help) {
	console.log(
		'node scripts/bench.mjs [--directus <version>] [--rounds 5] [--duration <s>] [--connections 10]\n' +
			'                       [--memory-tokens 100000] [--only micro|http] [--json <path>]',
	);
	process.exit(0);
}

const options = {
	version: flags.directus,
	rounds: positive('rounds', flags.rounds),
	duration: positive('duration', flags.duration),
	connections: positive('connections', flags.connections),
	memoryTokens: positive('memory-tokens', flags['memory-tokens']),
};

if (flags.only !== undefined && flags.only !== 'micro' && flags.only !== 'http') {
	fail(`--only must be "micro" or "http", got "${flags.only}"`);
}

/** Clean-up steps, run newest first, once, whichever way the run ends. */
const cleanups = [];
let cleaning;
const defer = (step) => void cleanups.push(step);
const cleanUp = () =>
	(cleaning ??= (async () => {
		for (const step of cleanups.reverse()) {
			try {
				await step();
			} catch (error) {
				log(`clean-up step failed: ${error instanceof Error ? error.message : String(error)}`);
			}
		}
	})());

for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
	process.once(signal, () => {
		log(`${signal}: stopping everything this run started`);
		stopLoad();
		cleanUp().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
	});
}

const startedAt = new Date();
const loadAtStart = loadavg()[0];

try {
	const micro = flags.only === 'http' ? undefined : await runMicroInChild();
	const http = flags.only === 'micro' ? undefined : await runHttp({ ...options, log, defer });
	const loadAtEnd = loadavg()[0];

	const report = [
		header(loadAtStart, loadAtEnd),
		micro && microReport(micro),
		http && httpReport(http),
		targetsReport(micro, http),
	].filter(Boolean);
	console.log(`\n${report.join('\n\n')}\n`);

	if (flags.json) {
		const figures = { startedAt, options, loadAverage: { start: loadAtStart, end: loadAtEnd }, micro, http };
		await writeFile(flags.json, `${JSON.stringify(figures, null, '\t')}\n`);
		log(`figures written to ${flags.json}`);
	}
} catch (error) {
	console.error(error instanceof Error ? (error.stack ?? error.message) : error);
	process.exitCode = 1;
} finally {
	await cleanUp();
}

/**
 * Runs scripts/bench/micro.mjs in a child with --expose-gc, pinned to one core when `taskset` exists, so the hot
 * loop has a core of its own and its GC threads do not borrow the other one.
 */
function runMicroInChild() {
	const cpu = cpus().length - 1;
	const pinned = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
	const args = ['--expose-gc', join(REPO_ROOT, 'scripts/bench/micro.mjs'), JSON.stringify(microOptions())];
	log(`microbenchmark of dist/index.js${pinned ? ` on CPU ${cpu}` : ''} (${options.memoryTokens} tokens for memory)`);

	const child = pinned
		? spawn('taskset', ['-c', String(cpu), process.execPath, ...args], {
				stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
			})
		: spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
	defer(() => {
		if (child.exitCode === null && child.signalCode === null) child.kill();
	});

	return new Promise((resolve, reject) => {
		let result;
		child.on('message', (message) => (result = message.result));
		child.on('error', reject);
		child.on('exit', (code, signal) =>
			result
				? resolve({ ...result, pinnedCpu: pinned ? cpu : null })
				: reject(new Error(`the microbenchmark exited (${signal ?? code})`)),
		);
	});
}

function microOptions() {
	return { samples: 5, sampleMs: 1000, memoryTokens: options.memoryTokens };
}

function header(loadAtStart, loadAtEnd) {
	const cpuModel = cpus()[0]?.model ?? 'unknown CPU';
	return [
		'directus-extension-auth-client-credentials benchmark',
		`${startedAt.toISOString()}, ${cpus().length} × ${cpuModel}, load average (1 min) ${loadAtStart.toFixed(2)} at start, ` +
			`${loadAtEnd.toFixed(2)} at end`,
		'Figures from a shared or busy machine vary; compare ways within one run, not across runs.',
	].join('\n');
}

function microReport(micro) {
	const rows = [
		['cache hit: same token, accountability built', micro.cacheHit],
		['cache hit, DPoP-bound: a fresh ES256 proof verified', micro.cacheHitDpop],
		['cache miss: RS256 signature verified each time', micro.cacheMiss],
		['not ours: Directus static token', micro.passthroughStatic],
		['not ours: Directus session JWT (HS256)', micro.passthroughDirectusJwt],
	].map(([label, result]) => [
		label,
		num(result.opsPerSecond.median),
		`${num(result.opsPerSecond.min)} – ${num(result.opsPerSecond.max)}`,
		num(result.opsPerCpuSecond.median),
		num(result.queriesPerOp, 2),
	]);

	const { memory } = micro;
	const first = memory.checkpoints[0];
	const atBound = memory.checkpoints.find((point) => point.fed === memory.cacheMax);
	const last = memory.checkpoints.at(-1);
	const memoryRows = memory.checkpoints.map((point) => [
		num(point.fed),
		mib(point.heapUsed),
		`${point.heapUsed >= first.heapUsed ? '+' : ''}${mib(point.heapUsed - first.heapUsed)}`,
	]);
	const notes = [];

	if (atBound && last.fed > memory.cacheMax) {
		notes.push(
			`  ${num((atBound.heapUsed - first.heapUsed) / memory.cacheMax)} bytes per cached token up to the bound; ` +
				`${num(last.fed - atBound.fed)} more tokens after it: ${mib(last.heapUsed - atBound.heapUsed)}` +
				` (${num((last.heapUsed - atBound.heapUsed) / (last.fed - atBound.fed), 1)} bytes per token)`,
		);
	}

	return [
		`1. The hook alone: dist/index.js under Node ${micro.node}, stub database, one process` +
			`${micro.pinnedCpu === null ? '' : ` pinned to CPU ${micro.pinnedCpu}`}, ` +
			`${micro.samples} × ${micro.sampleMs / 1000} s samples per case, each call awaited before the next`,
		table(['case', 'ops/s median', 'min – max', 'ops per CPU-s', 'queries/op'], rows, { right: [1, 2, 3, 4] }),
		`  JWKS fetches: ${micro.jwksFetches} (one per hook instance that verified tokens: hit, miss, memory; none for tokens not ours)`,
		'',
		`  Memory: ${num(memory.tokens)} distinct valid ES256 tokens of one client, BCC_AUTH_TOKEN_CACHE_MAX = ` +
			`${num(memory.cacheMax)} (default); heapUsed after a full GC (${memory.seconds.toFixed(1)} s)`,
		table(['tokens fed', 'heapUsed', 'since start'], memoryRows, { right: [0, 1, 2] }),
		...notes,
	].join('\n');
}

function httpReport(http) {
	const ways = /** @type {(keyof typeof WAYS)[]} */ (Object.keys(WAYS));
	const of = (way) => http.measurements.filter((m) => m.way === way);
	const summary = Object.fromEntries(
		ways.map((way) => [
			way,
			{
				reqPerSec: spread(of(way).map((m) => m.reqPerSec)),
				p50: spread(of(way).map((m) => m.p50)),
				p99: spread(of(way).map((m) => m.p99)),
				queries: spread(of(way).map((m) => m.queriesPerRequest)),
				usersReads: spread(of(way).map((m) => m.usersReadsPerRequest)),
				usersWrites: spread(of(way).map((m) => m.usersWritesPerRequest)),
			},
		]),
	);
	const cOverA = summary.C.reqPerSec.median / summary.A.reqPerSec.median;
	const cOverB = summary.C.reqPerSec.median / summary.B.reqPerSec.median;
	const dOverA = summary.D.reqPerSec.median / summary.A.reqPerSec.median;
	const dOverC = summary.D.reqPerSec.median / summary.C.reqPerSec.median;
	http.summary = { ...summary, cOverA, cOverB, dOverA, dOverC };

	const roundRows = http.measurements.map((m) => [
		m.round,
		m.way,
		num(m.reqPerSec),
		num(m.p50, 1),
		num(m.p99, 1),
		num(m.queriesPerRequest, 2),
		num(m.usersReadsPerRequest, 2),
		num(m.usersWritesPerRequest, 2),
	]);
	const summaryRows = ways.map((way) => [
		WAYS[way],
		range(summary[way].reqPerSec),
		range(summary[way].p50, 1),
		range(summary[way].p99, 1),
	]);
	const costRows = ways.map((way) => [
		WAYS[way],
		num(summary[way].queries.median, 2),
		num(summary[way].usersReads.median, 2),
		num(summary[way].usersWrites.median, 2),
	]);
	const { jwks } = http;

	return [
		`2. Over HTTP: GET ${READ_PATH} as role API Readers, Directus ${http.version} on Node ${http.node}, SQLite, ` +
			`autocannon on 127.0.0.1 with ${http.connections} connections, ${http.duration} s per measurement, ` +
			`A B C D alternating for ${http.rounds} rounds`,
		table(
			['round', 'way', 'req/s', 'p50 ms', 'p99 ms', 'queries/req', 'users reads/req', 'users writes/req'],
			roundRows,
			{
				right: [0, 2, 3, 4, 5, 6, 7],
			},
		),
		'',
		'  Median over rounds (min – max):',
		table(['way', 'req/s', 'p50 ms', 'p99 ms'], summaryRows, { right: [1, 2, 3] }),
		'',
		`  C/A = ${cOverA.toFixed(3)}   C/B = ${cOverB.toFixed(3)}   D/A = ${dOverA.toFixed(3)}   D/C = ${dOverC.toFixed(3)}` +
			'   (ratios of median req/s)',
		'',
		'  Steady-state database cost per request (query-counter around each measurement, median over rounds):',
		table(['way', 'queries', 'directus_users reads', 'directus_users writes'], costRows, { right: [1, 2, 3] }),
		'',
		`  JWKS fetches by the measured instance: ${jwks.sinceBoot} for ${jwks.rotations} key rotation(s): ` +
			`${jwks.sinceBoot - jwks.fetchesForRotation} at first use, ${jwks.fetchesForRotation} after the rotation ` +
			`(after round ${jwks.rotatedAfterRound}), ${jwks.duringMeasurements} during the measured load`,
	].join('\n');
}

function targetsReport(micro, http) {
	const rows = [];
	const verdict = (met) => (met ? 'met' : 'NOT met');

	if (micro) {
		const hit = micro.cacheHit;
		rows.push([
			`cache hit >= ${num(TARGETS.cacheHitOpsPerSecond)} ops/s`,
			`${num(hit.opsPerSecond.median)} ops/s (${num(hit.opsPerCpuSecond.median)} per CPU-s)`,
			verdict(hit.opsPerSecond.median >= TARGETS.cacheHitOpsPerSecond),
		]);
	}

	if (http) {
		rows.push([
			`C/A >= ${TARGETS.cOverA}`,
			http.summary.cOverA.toFixed(3),
			verdict(http.summary.cOverA >= TARGETS.cOverA),
		]);
		rows.push([
			`C/B >= ${TARGETS.cOverB}`,
			http.summary.cOverB.toFixed(3),
			verdict(http.summary.cOverB >= TARGETS.cOverB),
		]);
	}

	return ['Targets', table(['target', 'measured', ''], rows)].join('\n');
}

function positive(name, value) {
	const number = Number(value);
	if (!Number.isFinite(number) || number <= 0) fail(`--${name} must be a positive number, got "${value}"`);
	return number;
}

function fail(message) {
	console.error(message);
	process.exit(2);
}

function log(line) {
	console.error(`[bench] ${line}`);
}
