/**
 * A real `redis-server` of the test's own on a free 127.0.0.1 port, with nothing persisted, that the test can
 * kill (an outage), restart on the same port (the outage ends) and stop. It dies with the test process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from '../../dev/directus-instance.mjs';

/** A running (or killed) Redis server: `url` stays the same across `kill()` and `restart()`. */
export interface RedisServer {
	readonly port: number;
	/** `redis://127.0.0.1:<port>`, the form Directus's `REDIS` variable takes. */
	readonly url: string;
	/** SIGKILLs the server, as a crash would; resolves once the process is gone. */
	kill(): Promise<void>;
	/** Starts a fresh, empty server on the same port; resolves once it answers PING. */
	restart(): Promise<void>;
	/** Stops the server for good (SIGTERM, then SIGKILL after 5 s). */
	stop(): Promise<void>;
}

/** Starts `redis-server` on a free port; resolves once it answers PING. */
export async function startRedisServer(): Promise<RedisServer> {
	const port = await freePort();
	let child: ChildProcess | undefined = await spawnRedis(port);

	async function end(signal: NodeJS.Signals): Promise<void> {
		const running = child;
		child = undefined;
		if (!running || running.exitCode !== null || running.signalCode !== null) return;
		const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
		running.kill(signal);
		const timer = setTimeout(() => running.kill('SIGKILL'), 5000);
		await exited;
		clearTimeout(timer);
	}

	return {
		port,
		url: `redis://127.0.0.1:${port}`,
		kill: () => end('SIGKILL'),
		async restart() {
			await end('SIGKILL');
			child = await spawnRedis(port);
		},
		stop: () => end('SIGTERM'),
	};
}

async function spawnRedis(port: number): Promise<ChildProcess> {
	// Why these flags: no RDB snapshot and no AOF, so a restart comes back empty, as a crashed cache without
	// persistence does, and nothing is written to the working directory.
	const child = spawn(
		'redis-server',
		['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
		{ stdio: ['ignore', 'ignore', 'pipe'] },
	);
	let stderr = '';
	child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));

	// If the test process dies without cleaning up, the watchdog still stops this server.
	spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${child.pid} 2>/dev/null`], {
		detached: true,
		stdio: 'ignore',
	}).unref();

	const deadline = Date.now() + 10_000;

	while (!(await answersPing(port))) {
		if (child.exitCode !== null || child.signalCode !== null) {
			throw new Error(`redis-server on port ${port} exited (${child.exitCode ?? child.signalCode}): ${stderr}`);
		}
		if (Date.now() > deadline) {
			child.kill('SIGKILL');
			throw new Error(`redis-server on port ${port} did not answer PING within 10 s: ${stderr}`);
		}
		await new Promise((resolve) => setTimeout(resolve, 50));
	}

	return child;
}

/** Whether something on `port` answers the inline `PING` command with `+PONG`. */
function answersPing(port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = connect({ host: '127.0.0.1', port });
		let answer = '';
		const done = (result: boolean) => {
			socket.destroy();
			resolve(result);
		};
		socket.setTimeout(1000, () => done(false));
		socket.once('error', () => done(false));
		socket.once('connect', () => socket.write('PING\r\n'));
		socket.on('data', (chunk) => {
			answer += chunk.toString('utf8');
			if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
		});
	});
}
