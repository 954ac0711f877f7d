/**
 * The same read by the same role three ways, against one real Directus on SQLite:
 *   A  a bench-only hook hands out a fixed accountability: the ceiling, where authentication costs nothing;
 *   B  Directus's own static token of a user in that role;
 *   C  a client-credentials token through this extension;
 *   D  a DPoP-bound client-credentials token with a fresh proof per request (RFC 9449): the proof is verified and its
 *      `jti` claimed on every request, cache hit or not. The proofs are signed before the measurement starts.
 * Measured with autocannon on 127.0.0.1, alternating A B C per round so drift hits every way alike, with the
 * query-counter endpoint read around every measurement and the local issuer's JWKS hits counted.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { prepareDirectus, REPO_ROOT, startPrepared } from '../../dev/directus-instance.mjs';
import { startLocalIssuer } from '../../dev/local-issuer.mjs';
import { seedAccessModel, seededExtensionEnv } from '../../dev/seed.mjs';
import { createDpopClient } from './dpop-proofs.mjs';

const QUERY_COUNTER = join(REPO_ROOT, 'test/fixtures/query-counter');
const FIXED_ACCOUNTABILITY = join(REPO_ROOT, 'test/fixtures/fixed-accountability');

/** The read every way makes. */
export const READ_PATH = '/items/articles?limit=1';

/** The four ways, in the order each round runs them. */
export const WAYS = /** @type {const} */ ({
	A: 'A fixed accountability (ceiling)',
	B: 'B Directus static token',
	C: 'C client-credentials token',
	D: 'D DPoP-bound token, fresh proof',
});

/** Longest measurement D can run: its proofs, signed before it starts, must stay within the 60 s `iat` window. */
const MAX_DPOP_DURATION = 50;

/**
 * @typedef {keyof typeof WAYS} Way
 * @typedef {{ total: number, reads: Record<string, number>, writes: Record<string, number> }} QueryCounts
 * @typedef {{
 *   round: number, way: Way, requests: number, seconds: number, reqPerSec: number, p50: number, p99: number,
 *   queriesPerRequest: number, usersReadsPerRequest: number, usersWritesPerRequest: number, jwksFetches: number,
 * }} Measurement
 * @typedef {{
 *   version: string, node: string, rounds: number, duration: number, connections: number,
 *   measurements: Measurement[],
 *   jwks: { sinceBoot: number, rotations: number, rotatedAfterRound: number, fetchesForRotation: number,
 *     duringMeasurements: number },
 * }} HttpResult
 */

/**
 * Runs the whole HTTP benchmark. `defer` registers a clean-up step (run by the caller, newest first, on any exit).
 * @param {{ version: string, rounds: number, duration: number, connections: number,
 *   log: (line: string) => void, defer: (step: () => unknown) => void }} options
 * @returns {Promise<HttpResult>}
 */
export async function runHttp({ version, rounds, duration, connections, log, defer }) {
	const issuer = await startLocalIssuer();
	defer(() => issuer.stop());

	const env = {
		...seededExtensionEnv(issuer),
		// Directus sheds load with 503 "Under pressure" when its event loop lags, which a load test makes it do: off,
		// so every way is measured at full load rather than at whatever the limiter lets through.
		PRESSURE_LIMITER_ENABLED: 'false',
	};

	log(`preparing Directus ${version} on SQLite (install from cache, bootstrap)`);
	const prepared = await prepareDirectus({ version, env, extraExtensions: [QUERY_COUNTER, FIXED_ACCOUNTABILITY] });
	defer(() => rm(prepared.project, { recursive: true, force: true }));

	/** @type {Awaited<ReturnType<typeof startPrepared>> | undefined} */
	let directus = await startPrepared(prepared, { env });
	defer(() => directus?.stop());

	log('seeding roles, a client-credentials service user and a static-token user');
	const seeded = await seedAccessModel(directus);
	const role = seeded.roles.readers;
	let clientToken = issuer.mint({ sub: 'bench-reader@clients', scope: 'svc#read' });
	// The same client, its token bound to the bench's proof key: D acts as the same service user as C.
	const dpop = await createDpopClient();
	const mintBound = (options) =>
		issuer.mint({ sub: 'bench-reader@clients', scope: 'svc#read', cnf: { jkt: dpop.jkt } }, options);
	let boundToken = mintBound();
	if (duration > MAX_DPOP_DURATION) throw new Error(`--duration must be at most ${MAX_DPOP_DURATION} s for way D`);
	const serviceUser = await userOf(directus, { authorization: `Bearer ${clientToken}` });
	const staticToken = `bench-static-${randomBytes(24).toString('hex')}`;
	const staticUser = await directus.admin('/users', 'POST', {
		email: 'bench-reader@example.com',
		password: randomBytes(24).toString('hex'),
		role,
		token: staticToken,
	});

	// The fixed hook reads its user and role once, at load: restart with them set rather than look them up per request.
	log('restarting Directus with the fixed accountability set');
	await directus.stop();
	directus = undefined;
	directus = await startPrepared(prepared, {
		env: { ...env, BENCH_FIXED_USER: serviceUser.id, BENCH_FIXED_ROLE: role },
	});
	const instance = directus;
	const jwksAtBoot = issuer.counters.jwks;

	/** Headers of one request to `path` (D's proof names the method and URL, so it is made per request). */
	/** @type {Record<Way, (path?: string) => Promise<Record<string, string>>>} */
	const headers = {
		// No bearer token: the extension's filter then passes the request through, whichever hook runs first.
		A: async () => ({ 'x-bench-fixed': '1' }),
		B: async () => ({ authorization: `Bearer ${staticToken}` }),
		C: async () => ({ authorization: `Bearer ${clientToken}` }),
		D: async (path = READ_PATH) => ({
			authorization: `DPoP ${boundToken}`,
			dpop: await dpop.proof(boundToken, 'GET', instance.url + path),
		}),
	};

	await checkSameAccess(instance, headers, { role, serviceUser: serviceUser.id, staticUser: staticUser.id });
	log(`A, B, C and D read the same item as the same role; measuring ${rounds} rounds of A B C D, ${duration} s each`);

	/** @type {Measurement[]} */
	const measurements = [];
	const rotateAfter = Math.ceil(rounds / 2);
	let jwksBeforeRotation = 0;
	let duringMeasurements = 0;

	for (let round = 1; round <= rounds; round++) {
		for (const way of /** @type {Way[]} */ (Object.keys(WAYS))) {
			// D's proofs are made before its measurement: enough for twice the fastest way so far, each used once.
			const fastest = Math.max(1000, ...measurements.map((m) => m.reqPerSec));
			const proofs =
				way === 'D'
					? await dpop.pool(boundToken, 'GET', instance.url + READ_PATH, Math.ceil(fastest * duration * 2) + 500)
					: undefined;
			const measurement = await measure(instance, issuer, {
				round,
				way,
				headers: await headers[way](),
				proofs,
				duration,
				connections,
			});
			duringMeasurements += measurement.jwksFetches;
			measurements.push(measurement);
			log(
				`round ${round} ${way}: ${measurement.reqPerSec.toFixed(0)} req/s, p50 ${measurement.p50} ms, ` +
					`p99 ${measurement.p99} ms, ${measurement.queriesPerRequest.toFixed(2)} queries/request`,
			);
		}

		if (round === rotateAfter && rounds > 1) {
			// The issuer publishes a new signing key (keeping the old one) and signs with it from now on.
			jwksBeforeRotation = issuer.counters.jwks;
			const key = issuer.rotate();
			clientToken = issuer.mint({ sub: 'bench-reader@clients', scope: 'svc#read' }, { key });
			boundToken = mintBound({ key });
			log(`rotated the issuer's signing key to ${key.kid}; C and D use tokens signed with it from now on`);
		}
	}

	const rotated = rounds > 1;

	return {
		version,
		node: (await promisify(execFile)(prepared.node, ['--version'])).stdout.trim(),
		rounds,
		duration,
		connections,
		measurements,
		jwks: {
			sinceBoot: issuer.counters.jwks - jwksAtBoot,
			rotations: rotated ? 1 : 0,
			rotatedAfterRound: rotated ? rotateAfter : 0,
			fetchesForRotation: rotated ? issuer.counters.jwks - jwksBeforeRotation : 0,
			duringMeasurements,
		},
	};
}

/**
 * One timed measurement of one way: a warm-up request, then autocannon for `duration` seconds, with the query
 * counter and the JWKS counter read before and after.
 * @returns {Promise<Measurement>}
 */
async function measure(directus, issuer, { round, way, headers, proofs, duration, connections }) {
	const warmUp = await directus.request(READ_PATH, { headers });
	if (warmUp.status !== 200) throw new Error(`${way}: the warm-up request got ${warmUp.status}: ${warmUp.text}`);

	const queriesBefore = await queryCounts(directus);
	const jwksBefore = issuer.counters.jwks;
	const result = await load({ url: directus.url + READ_PATH, headers, proofs, duration, connections });
	// Let the requests still in flight when autocannon stopped finish, so their queries land before the read.
	await new Promise((resolve) => setTimeout(resolve, 250));
	const queriesAfter = await queryCounts(directus);

	if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0) {
		const dry = proofs && proofs.next() === undefined ? ' (the DPoP proofs ran out)' : '';
		throw new Error(
			`${way} round ${round}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts${dry}`,
		);
	}

	// Sent, not completed: each request that reached Directus made its queries, even if its answer came too late.
	// (autocannon's `sent` misses some of the requests a `setupRequest` rebuilds, way D's: never fewer than completed.)
	const sent = Math.max(result.requests.sent, result.requests.total);
	const per = (after, before) => ((after ?? 0) - (before ?? 0)) / sent;

	return {
		round,
		way,
		requests: result.requests.total,
		seconds: result.duration,
		reqPerSec: result.requests.total / result.duration,
		p50: result.latency.p50,
		p99: result.latency.p99,
		queriesPerRequest: per(queriesAfter.total, queriesBefore.total),
		usersReadsPerRequest: per(queriesAfter.reads.directus_users, queriesBefore.reads.directus_users),
		usersWritesPerRequest: per(queriesAfter.writes.directus_users, queriesBefore.writes.directus_users),
		jwksFetches: issuer.counters.jwks - jwksBefore,
	};
}

/** The tracker of the load run under way, so an interrupt can stop it. */
let running;

/** Stops a load run under way, if any (for Ctrl-C). */
export function stopLoad() {
	running?.stop();
}

/** autocannon, bounded in time, on 127.0.0.1 only; with `proofs`, each request carries the next unused one. */
function load({ url, headers, proofs, duration, connections }) {
	if (!url.startsWith('http://127.0.0.1:')) throw new Error(`refusing to load anything but 127.0.0.1: ${url}`);
	const requests = proofs && [
		{ setupRequest: (request) => ({ ...request, headers: { ...request.headers, ...headers, dpop: proofs.next() } }) },
	];

	return new Promise((resolve, reject) => {
		running = autocannon({ url, headers, requests, duration, connections, timeout: 10 }, (error, result) => {
			running = undefined;
			if (error) reject(error);
			else resolve(result);
		});
	});
}

/** @returns {Promise<QueryCounts>} */
async function queryCounts(directus) {
	const response = await directus.request('/query-counter');
	if (response.status !== 200) throw new Error(`GET /query-counter → ${response.status}`);
	return response.json;
}

async function userOf(directus, headers) {
	const me = await directus.request('/users/me?fields=id', { headers });
	if (me.status !== 200) throw new Error(`GET /users/me → ${me.status}: ${me.text}`);
	return me.json.data;
}

/**
 * Shows, before anything is timed, that the three ways are the same role doing the same read: identical answers,
 * the same refusal elsewhere, and the users expected.
 */
async function checkSameAccess(directus, headers, { role, serviceUser, staticUser }) {
	const anonymous = await directus.request(READ_PATH);
	if (anonymous.status !== 403) throw new Error(`an anonymous read got ${anonymous.status}, expected 403`);

	const answers = new Set();

	for (const [way, expectedUser] of [
		['A', serviceUser],
		['B', staticUser],
		['C', serviceUser],
		['D', serviceUser],
	]) {
		const read = await directus.request(READ_PATH, { headers: await headers[way]() });
		if (read.status !== 200) throw new Error(`${way}: ${READ_PATH} → ${read.status}: ${read.text}`);
		answers.add(read.text);

		const secrets = await directus.request('/items/secrets', { headers: await headers[way]('/items/secrets') });
		if (secrets.status !== 403) throw new Error(`${way}: /items/secrets → ${secrets.status}, expected 403`);

		// Readers may not read their own role field: ask as admin which role the user has.
		const me = await userOf(directus, await headers[way]('/users/me'));
		const { role: userRole } = await directus.admin(`/users/${me.id}?fields=role`);
		if (me.id !== expectedUser || userRole !== role) {
			throw new Error(`${way}: acts as ${me.id} in role ${userRole}, expected user ${expectedUser} in role ${role}`);
		}
	}

	if (answers.size !== 1) throw new Error(`A, B, C and D got different answers: ${[...answers].join(' | ')}`);
}
