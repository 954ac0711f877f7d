/**
 * The hook alone, without Directus: imports the built bundle, registers it against a fake `register`, and times its
 * `authenticate` filter in a tight loop. Run by scripts/bench.mjs in a child process pinned to one core; it reports
 * its figures to the parent over IPC (or prints them as JSON when run on its own). Needs `--expose-gc`.
 *
 * The database is an in-memory stub that answers the few queries the hook makes and counts them, so "a known token
 * costs no query" is measured, not assumed.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { REPO_ROOT } from '../../dev/directus-instance.mjs';
import { makeKey, startLocalIssuer } from '../../dev/local-issuer.mjs';
import { createDpopClient } from './dpop-proofs.mjs';
import { spread } from './stats.mjs';

const ROLE_NAME = 'API Readers';
const SCOPE = 'svc#read';
const CLIENT = 'bench-client@clients';

/**
 * @typedef {import('./stats.mjs').Spread} Spread
 * @typedef {{ opsPerSecond: Spread, opsPerCpuSecond: Spread, queriesPerOp: number }} OpsResult
 * @typedef {{ tokens: number, cacheMax: number, checkpoints: { fed: number, heapUsed: number }[], seconds: number }} MemoryResult
 */

/**
 * Runs every measurement; `options.samples` timed samples of `options.sampleMs` each per case.
 * @param {{ samples?: number, sampleMs?: number, memoryTokens?: number, bundle?: string }} [options]
 */
export async function runMicro(options = {}) {
	const { samples = 5, sampleMs = 1000, memoryTokens = 100_000, bundle = join(REPO_ROOT, 'dist/index.js') } = options;
	if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');

	const { default: hook } = await import(pathToFileURL(bundle).href);
	const rsa = makeKey('RS256');
	const ec = makeKey('ES256');
	const issuer = await startLocalIssuer({ keys: [rsa, ec] });

	try {
		const env = {
			BCC_AUTH_ISSUER: issuer.issuer,
			BCC_AUTH_AUDIENCE: issuer.audience,
			BCC_AUTH_SCOPE_ROLES: `${SCOPE}=${ROLE_NAME}`,
		};
		const now = Math.floor(Date.now() / 1000);
		// One iat for every token: a newer iat would (rightly) move last_access, which is not what is timed here.
		const claims = (extra = {}) => ({ sub: CLIENT, scope: SCOPE, iat: now, exp: now + 3600, ...extra });

		// Cache hit: the same token again and again, after a first request that verified it and met the user.
		const hit = instantiate(hook, env);
		const hitToken = issuer.mint(claims());
		await expectOurs(hit, hitToken);
		const hitResult = await measure(hit, () => hitToken, samples, sampleMs);

		// DPoP cache hit: the same bound token, each call with a fresh proof, signed beforehand (not timed).
		const dpopResult = await measureDpop(hook, issuer, env, claims, samples);

		// Cache miss: a cache of one entry and a ring of distinct tokens, so every call verifies an RS256 signature
		// (the client and its role stay known, as for a fresh token of a known client).
		const miss = instantiate(hook, { ...env, BCC_AUTH_TOKEN_CACHE_MAX: '1' });
		const ring = Array.from({ length: 1000 }, (_, i) => issuer.mint(claims({ jti: `miss-${i}` })));
		await expectOurs(miss, ring[0]);
		const missResult = await measure(miss, (i) => ring[i % ring.length], samples, sampleMs);

		// Not ours: a Directus static token (any string) and a Directus session JWT pass through untouched.
		const other = instantiate(hook, env);
		const staticToken = `static-${randomUUID().replaceAll('-', '')}`;
		const directusJwt = jwt.sign({ id: randomUUID(), role: randomUUID(), app_access: true, admin_access: false }, 'k', {
			issuer: 'directus',
			expiresIn: '15m',
		});
		await expectPassthrough(other, staticToken);
		await expectPassthrough(other, directusJwt);
		const staticResult = await measure(other, () => staticToken, samples, sampleMs);
		const directusJwtResult = await measure(other, () => directusJwt, samples, sampleMs);

		const memory = await measureMemory(hook, issuer, ec, env, claims, memoryTokens);

		return {
			node: process.version,
			samples,
			sampleMs,
			cacheHit: hitResult,
			cacheHitDpop: dpopResult,
			cacheMiss: missResult,
			passthroughStatic: staticResult,
			passthroughDirectusJwt: directusJwtResult,
			jwksFetches: issuer.counters.jwks,
			memory,
		};
	} finally {
		await issuer.stop();
	}
}

/**
 * Registers the hook with a fake `register` and a stub context; returns its `authenticate` filter and query counter.
 * @param {Function} hook @param {Record<string, string>} env
 */
function instantiate(hook, env) {
	const database = createStubDatabase();
	/** @type {((accountability: object, meta: object) => Promise<object>) | undefined} */
	let authenticate;
	const quiet = () => undefined;
	/** @type {string[]} */
	const logs = [];
	const keep = (line) => void logs.push(String(line));

	hook(
		{
			filter: (event, handler) => {
				if (event === 'authenticate') authenticate = handler;
			},
			action: quiet,
			init: quiet,
			schedule: quiet,
			embed: quiet,
		},
		{
			env,
			logger: { info: quiet, warn: keep, error: keep, debug: quiet, trace: quiet },
			database: database.knex,
			getSchema: async () => ({ collections: {}, relations: [] }),
			services: { UsersService: database.UsersService },
		},
	);

	if (!authenticate) throw new Error('the hook registered no authenticate filter');
	return { authenticate, database, logs };
}

/** What Directus passes in before anyone answers (createDefaultAccountability). */
function defaultAccountability() {
	return { role: null, roles: [], user: null, admin: false, app: false, ip: '127.0.0.1' };
}

async function expectOurs(instance, token) {
	const result = await instance.authenticate(defaultAccountability(), { req: { token } }).catch((error) => {
		throw new Error(`the hook refused its own token (${error.message}): ${instance.logs.join(' | ')}`);
	});
	if (!result.user || result.roles?.length !== 1)
		throw new Error(`the hook did not accept its own token: ${JSON.stringify(result)}`);
}

async function expectPassthrough(instance, token) {
	const base = defaultAccountability();
	if ((await instance.authenticate(base, { req: { token } })) !== base)
		throw new Error('the hook answered for a token it does not own');
}

/**
 * Calls the filter back to back (each call awaited, as one request at a time would) for `samples` × `sampleMs`.
 * @param {{ authenticate: Function, database: { queries: () => number } }} instance
 * @param {(i: number) => string} tokenAt
 * @returns {Promise<OpsResult>}
 */
async function measure(instance, tokenAt, samples, sampleMs) {
	const { authenticate, database } = instance;
	let i = 0;

	const runFor = async (ms) => {
		let ops = 0;
		const start = performance.now();
		const cpuStart = process.cpuUsage();
		let elapsed = 0;

		// Batches of 256 between clock reads, so reading the clock is not what gets measured. Each batch ends with a
		// turn of the event loop, as requests would give it: awaiting settled promises alone never reaches I/O, and
		// sockets closed meanwhile (the JWKS client's keep-alive ones) would otherwise go unnoticed.
		while (elapsed < ms) {
			for (let j = 0; j < 256; j++) await authenticate(defaultAccountability(), { req: { token: tokenAt(i++) } });
			ops += 256;
			await nextTurn();
			elapsed = performance.now() - start;
		}

		const cpu = process.cpuUsage(cpuStart);
		// CPU time too: on a shared machine it shows what the hook costs apart from time spent waiting for the core.
		return { wall: (ops * 1000) / elapsed, cpu: (ops * 1e6) / (cpu.user + cpu.system) };
	};

	await runFor(Math.min(500, sampleMs)); // warm-up: let the JIT settle
	globalThis.gc();
	const queriesBefore = database.queries();
	const opsBefore = i;
	const rates = [];
	for (let s = 0; s < samples; s++) rates.push(await runFor(sampleMs));

	return {
		opsPerSecond: spread(rates.map((rate) => rate.wall)),
		opsPerCpuSecond: spread(rates.map((rate) => rate.cpu)),
		queriesPerOp: (database.queries() - queriesBefore) / (i - opsBefore),
	};
}

/** The URL the micro case's proofs name, as the request below shows it through PUBLIC_URL. */
const DPOP_PUBLIC_URL = 'https://cms.example.test';
const DPOP_PROOFS_PER_SAMPLE = 4000;

/**
 * The cache hit of a DPoP-bound token: every call verifies an ES256 proof (key import, signature, claims) and claims
 * its `jti`. The proofs, one per call and never reused, are signed before the clock starts, so `samples` samples
 * of a fixed number of calls each are timed rather than samples of fixed length.
 * @returns {Promise<OpsResult>}
 */
async function measureDpop(hook, issuer, env, claims, samples) {
	const instance = instantiate(hook, { ...env, PUBLIC_URL: DPOP_PUBLIC_URL });
	const { authenticate, database } = instance;
	const client = await createDpopClient();
	const token = issuer.mint(claims({ cnf: { jkt: client.jkt } }));
	const url = `${DPOP_PUBLIC_URL}/items/articles`;
	const call = (proof) =>
		authenticate(defaultAccountability(), {
			req: {
				method: 'GET',
				originalUrl: '/items/articles?limit=1',
				headers: { authorization: `DPoP ${token}` },
				headersDistinct: { dpop: [proof] },
			},
		});

	const first = await call(await client.proof(token, 'GET', url)).catch((error) => {
		throw new Error(`the hook refused a DPoP-bound token (${error.message}): ${instance.logs.join(' | ')}`);
	});
	if (!first.user) throw new Error('the hook passed a DPoP-bound token through');
	const warmUp = await client.pool(token, 'GET', url, 500);
	for (let proof = warmUp.next(); proof !== undefined; proof = warmUp.next()) await call(proof);

	const rates = [];
	let queries = 0;
	for (let s = 0; s < samples; s++) {
		const pool = await client.pool(token, 'GET', url, DPOP_PROOFS_PER_SAMPLE);
		globalThis.gc();
		const queriesBefore = database.queries();
		const start = performance.now();
		const cpuStart = process.cpuUsage();
		for (let proof = pool.next(); proof !== undefined; proof = pool.next()) await call(proof);
		const elapsed = performance.now() - start;
		const cpu = process.cpuUsage(cpuStart);
		queries += database.queries() - queriesBefore;
		rates.push({
			wall: (DPOP_PROOFS_PER_SAMPLE * 1000) / elapsed,
			cpu: (DPOP_PROOFS_PER_SAMPLE * 1e6) / (cpu.user + cpu.system),
		});
	}

	return {
		opsPerSecond: spread(rates.map((rate) => rate.wall)),
		opsPerCpuSecond: spread(rates.map((rate) => rate.cpu)),
		queriesPerOp: queries / (samples * DPOP_PROOFS_PER_SAMPLE),
	};
}

/**
 * Feeds `count` distinct valid ES256 tokens (one client) to a fresh instance with the default token cache bound,
 * reading heapUsed after a full GC at checkpoints. Each token is signed just before use and dropped after, so the
 * heap holds only what the hook keeps.
 * @returns {Promise<MemoryResult>}
 */
async function measureMemory(hook, issuer, key, env, claims, count) {
	const instance = instantiate(hook, { ...env, BCC_AUTH_ALGORITHMS: 'ES256' });
	const cacheMax = 10_000; // BCC_AUTH_TOKEN_CACHE_MAX's default, left unset above
	const marks = new Set([0, 1000, 5000, cacheMax, 2 * cacheMax, 5 * cacheMax, count].filter((n) => n <= count));
	const checkpoints = [];
	const heapUsed = () => {
		globalThis.gc();
		globalThis.gc();
		return process.memoryUsage().heapUsed;
	};

	// The first token pays for the JWKS fetch and the stub's one-time lookups, so the baseline excludes them.
	await expectOurs(instance, issuer.mint(claims({ jti: 'memory-first' }), { key }));
	const start = performance.now();

	for (let fed = 0; fed <= count; fed++) {
		if (marks.has(fed)) checkpoints.push({ fed, heapUsed: heapUsed() });
		if (fed === count) break;
		await instance.authenticate(defaultAccountability(), {
			req: { token: issuer.mint(claims({ jti: `memory-${fed}` }), { key }) },
		});
	}

	return { tokens: count, cacheMax, checkpoints, seconds: (performance.now() - start) / 1000 };
}

/**
 * An in-memory stand-in for Directus's knex and UsersService: just the queries the hook makes, each counted.
 * One role (`API Readers`, no parent), one read policy, and a users table the UsersService stub writes to.
 */
function createStubDatabase() {
	const roleId = randomUUID();
	/** @type {Map<string, Record<string, unknown>>} */
	const users = new Map();
	let queries = 0;

	const answer = (query) => {
		queries++;

		if (query.table === 'directus_roles') {
			const match = query.where?.id === roleId || query.where?.name === ROLE_NAME;
			const rows = match ? [{ id: roleId, parent: null }] : [];
			return query.first ? rows[0] : rows;
		}

		if (query.table === 'directus_users') {
			const row = users.get(String(query.where?.id));
			if (query.update) {
				if (row) Object.assign(row, query.update);
				return row ? 1 : 0;
			}
			return query.first ? row && { ...row } : row ? [{ ...row }] : [];
		}

		if (query.table === 'directus_access') return [{ admin_access: false, app_access: false, ip_access: null }];
		throw new Error(`the stub has no table ${query.table}`);
	};

	const builder = (table) => {
		const query = { table, where: undefined, update: undefined, first: false };
		const chain = {
			select: () => chain,
			from: (name) => ((query.table = name), chain),
			leftJoin: () => chain,
			where: (where) => ((query.where = typeof where === 'object' ? where : undefined), chain),
			limit: () => chain,
			update: (values) => ((query.update = values), chain),
			first: () => ((query.first = true), chain),
			then: (resolve, reject) => {
				try {
					return Promise.resolve(answer(query)).then(resolve, reject);
				} catch (error) {
					return Promise.reject(error).then(resolve, reject);
				}
			},
		};
		return chain;
	};

	const knex = Object.assign((table) => builder(table), { select: () => builder(undefined) });

	class UsersService {
		async createOne(data) {
			queries++;
			users.set(data.id, { status: 'active', ...data });
			return data.id;
		}

		async updateOne(key, data) {
			queries++;
			Object.assign(users.get(key) ?? {}, data);
			return key;
		}
	}

	return { knex, UsersService, queries: () => queries };
}

// Run directly (as the benchmark's child): measure, then hand the figures to the parent.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
	const options = JSON.parse(process.argv[2] ?? '{}');
	runMicro(options).then(
		(result) => {
			if (process.send) process.send({ result }, () => process.exit(0));
			else console.log(JSON.stringify(result, null, '\t'));
		},
		(error) => {
			console.error(error);
			process.exit(1);
		},
	);
}
