/**
 * The Directus installer (`scripts/install-directus.sh`) against itself: two runs at once share one install, and a
 * killed run leaves nothing a later run mistakes for complete. The real script runs in a temporary cache; a small
 * stand-in package, packed at test time, replaces Directus (`BCC_DIRECTUS_PACKAGE`) so its lock, temporary folder
 * and rename are exercised in seconds. Node 22 is installed for real: it is the first step of every cold install,
 * and two installers started at once meet on its lock before they meet on the stand-in's.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { REPO_ROOT } from '../../dev/directus-instance.mjs';

const INSTALLER = join(REPO_ROOT, 'scripts/install-directus.sh');

/**
 * The stand-in's install script: with `BCC_TEST_HOLD` set it writes `<hold>.started` (its pid) and stays until
 * `<hold>.release` exists, which holds the installer inside its long step for as long as a test needs.
 */
const HOLD_SCRIPT = `const fs = require('node:fs');
const hold = process.env.BCC_TEST_HOLD;
if (hold) {
	fs.writeFileSync(hold + '.started', String(process.pid));
	const timer = setInterval(() => fs.existsSync(hold + '.release') && clearInterval(timer), 100);
	setTimeout(() => process.exit(1), 120000).unref();
}
`;

interface Run {
	pid: number;
	stdout: () => string;
	stderr: () => string;
	ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let work: string;
let cache: string;
let standIn: string;
const running = new Set<Run>();

beforeAll(async () => {
	work = await mkdtemp(join(tmpdir(), 'bcc-installer-'));
	cache = join(work, 'cache');
	const source = join(work, 'stand-in');
	await mkdir(source);
	await writeFile(
		join(source, 'package.json'),
		JSON.stringify({ name: 'directus-stand-in', version: '0.0.0', scripts: { postinstall: 'node hold.cjs' } }),
	);
	await writeFile(join(source, 'hold.cjs'), HOLD_SCRIPT);
	const { stdout } = await promisify(execFile)('npm', ['pack', '--silent', '--pack-destination', work], {
		cwd: source,
	});
	standIn = join(work, stdout.trim().split('\n').at(-1)!);
});

afterEach(() => {
	// A failed test must not leave an installer holding a lock in the background.
	for (const run of running) killGroup(run, 'SIGKILL');
	running.clear();
});

afterAll(async () => {
	if (work) await rm(work, { recursive: true, force: true });
});

/** Starts the installer in a process group of its own, as a terminal or a CI runner would. */
function install(version: string, hold?: string): Run {
	const child = spawn(INSTALLER, [version], {
		detached: true,
		stdio: ['ignore', 'pipe', 'pipe'],
		env: {
			...process.env,
			BCC_CACHE_DIR: cache,
			BCC_DIRECTUS_PACKAGE: standIn,
			...(hold ? { BCC_TEST_HOLD: hold } : {}),
		},
	});
	let stdout = '';
	let stderr = '';
	child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
	child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
	const run: Run = {
		pid: child.pid!,
		stdout: () => stdout,
		stderr: () => stderr,
		ended: new Promise((resolve, reject) => {
			child.on('error', reject);
			child.on('close', (code, signal) => {
				running.delete(run);
				resolve({ code, signal });
			});
		}),
	};
	running.add(run);
	return run;
}

function killGroup(run: Run, signal: NodeJS.Signals): void {
	try {
		process.kill(-run.pid, signal);
	} catch {
		// Already gone.
	}
}

/** Waits until `check` holds; the ceiling only turns a hang into a failure that says what never happened. */
async function until(what: string, check: () => boolean): Promise<void> {
	for (const started = Date.now(); !check();) {
		if (Date.now() - started > 90_000) throw new Error(`still waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}

/** The entries of the cache that belong to `version`'s folder, lock file aside. */
async function entriesOf(version: string): Promise<string[]> {
	const names = await readdir(cache).catch(() => []);
	return names.filter((name) => name.startsWith(`directus-${version}`) && !name.endsWith('.lock')).sort();
}

/** Whether `pid` still runs (a zombie, dead but not yet reaped, does not). Linux, as the installer itself. */
function isRunning(pid: number): boolean {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
		return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
	} catch {
		return false;
	}
}

function lastLine(text: string): string | undefined {
	return text.trim().split('\n').at(-1);
}

describe('scripts/install-directus.sh', () => {
	test('two installs of one version started at once both succeed and leave one complete install', async () => {
		const version = '0.0.0-together';
		const hold = join(work, 'together');
		const runs = [install(version, hold), install(version, hold)];

		// Both are under way before either ends: one builds (held in its long step), the other waits on the lock.
		await until('the stand-in install to start', () => existsSync(`${hold}.started`));
		await until('the second installer to wait', () =>
			runs.some((run) => run.stderr().includes(`another installer is building directus-${version}; waiting`)),
		);
		expect(await entriesOf(version)).toEqual([expect.stringMatching(new RegExp(`^directus-${version}\\.partial\\.`))]);
		await writeFile(`${hold}.release`, '');

		const ends = await Promise.all(runs.map((run) => run.ended));
		const folder = join(cache, `directus-${version}`);
		expect(ends).toEqual([
			{ code: 0, signal: null },
			{ code: 0, signal: null },
		]);
		expect(runs.map((run) => lastLine(run.stdout()))).toEqual([folder, folder]);
		expect(await entriesOf(version)).toEqual([`directus-${version}`]);
		expect(existsSync(join(folder, '.ready'))).toBe(true);
		expect(existsSync(join(folder, 'node_modules/directus-stand-in/package.json'))).toBe(true);

		// Exactly one of them installed it; the other reused it.
		const builders = runs.filter((run) => run.stderr().includes('(step 2/3'));
		const reusers = runs.filter((run) => run.stderr().includes(`directus-${version} was installed meanwhile`));
		expect([builders.length, reusers.length]).toEqual([1, 1]);
	});

	test('an install killed midway (SIGKILL of its process group) leaves nothing a later run takes for complete', async () => {
		const version = '0.0.0-killed';
		const hold = join(work, 'killed');
		const killed = install(version, hold);
		await until('the stand-in install to start', () => existsSync(`${hold}.started`));
		killGroup(killed, 'SIGKILL');
		expect(await killed.ended).toEqual({ code: null, signal: 'SIGKILL' });

		// What the crash leaves is a partial folder, never the install's own name and never a `.ready`.
		const left = await entriesOf(version);
		expect(left).toEqual([expect.stringMatching(new RegExp(`^directus-${version}\\.partial\\.`))]);
		expect(existsSync(join(cache, left[0]!, '.ready'))).toBe(false);

		const later = install(version);
		expect(await later.ended).toEqual({ code: 0, signal: null });
		const folder = join(cache, `directus-${version}`);
		expect(lastLine(later.stdout())).toBe(folder);
		expect(later.stderr()).toContain(`removing ${left[0]}, left by an installer that was killed`);
		expect(await entriesOf(version)).toEqual([`directus-${version}`]);
		expect(existsSync(join(folder, '.ready'))).toBe(true);

		// Once there, it is reused without a word on stderr.
		const warm = install(version);
		expect(await warm.ended).toEqual({ code: 0, signal: null });
		expect([lastLine(warm.stdout()), warm.stderr()]).toEqual([folder, '']);
	});

	test('installDirectus (npm test, npm start, the benchmark) passes the progress on, and is quiet once installed', async () => {
		const version = '0.0.0-progress';
		const script = `import(${JSON.stringify(join(REPO_ROOT, 'dev/directus-instance.mjs'))})
			.then((m) => m.installDirectus(${JSON.stringify(version)}))
			.then((installed) => console.log(installed.directusDir));`;
		const env = { ...process.env, BCC_CACHE_DIR: cache, BCC_DIRECTUS_PACKAGE: standIn };
		const call = () => promisify(execFile)(process.execPath, ['-e', script], { env });

		const cold = await call();
		expect(cold.stdout.trim()).toBe(join(cache, `directus-${version}`));
		expect(cold.stderr).toContain(`[install-directus] ${standIn} into ${join(cache, `directus-${version}`)} (step 2/3`);
		expect(cold.stderr).toMatch(new RegExp(`\\[install-directus\\] directus-${version} ready in \\d+ s\\n`));

		const warm = await call();
		expect([warm.stdout.trim(), warm.stderr]).toEqual([join(cache, `directus-${version}`), '']);
	});

	// SIGTERM to the installer alone is what a timeout sends (Node's spawn, CI); SIGINT to the group is a Ctrl-C.
	test.each([
		['SIGTERM', 'the installer alone'],
		['SIGINT', 'its process group'],
	] as const)('%s to %s stops the install and removes its temporary folder', async (signal, target) => {
		const version = `0.0.0-${signal.toLowerCase()}`;
		const hold = join(work, signal);
		const stopped = install(version, hold);
		await until('the stand-in install to start', () => existsSync(`${hold}.started`));
		const standInPid = Number(await readFile(`${hold}.started`, 'utf8'));
		expect(await entriesOf(version)).toHaveLength(1);

		if (target === 'the installer alone') process.kill(stopped.pid, signal);
		else killGroup(stopped, signal);

		expect(await stopped.ended).toEqual({ code: null, signal });
		expect(stopped.stderr()).toMatch(new RegExp(`stopped by ${signal}; removed directus-${version}\\.partial\\.`));
		expect(await entriesOf(version)).toEqual([]);
		// The step's own processes went with it: nothing writes into the removed folder afterwards.
		await until('the stand-in install script to end', () => !isRunning(standInPid));
	});
});
