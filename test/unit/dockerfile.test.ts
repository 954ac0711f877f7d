/**
 * The Dockerfile and the Compose example, checked without a Docker engine: pinned images, the guide's install
 * steps exactly, the image ending as `node`, and nothing secret or environment-specific baked in.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { REPO_ROOT } from '../../dev/directus-instance.mjs';
import { parseDockerfile, resolveImage, type Instruction } from '../helpers/dockerfile.js';

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

const dockerfile = parseDockerfile(read('Dockerfile'));
const [build, final] = [dockerfile.stages[0]!, dockerfile.stages.at(-1)!];
const runs = (instructions: readonly Instruction[]) =>
	instructions.filter((instruction) => instruction.keyword === 'RUN').map((instruction) => instruction.rest);

/** Names or values that look like credentials; none may be given a value in an image layer. */
const SECRET_LOOKING = /SECRET|KEY|PASSWORD|TOKEN/i;

describe('Dockerfile', () => {
	test('has a build stage and a Directus stage', () => {
		expect(dockerfile.stages).toHaveLength(2);
		expect(build.name).toBe('build');
	});

	test('pins Directus to an exact version through the ARG default, overridable with --build-arg', () => {
		expect(dockerfile.globalArgs.get('DIRECTUS_VERSION')).toMatch(/^\d+\.\d+\.\d+$/);
		expect(final.image).toBe('directus/directus:${DIRECTUS_VERSION}');
	});

	test('pins the build stage to an exact Node 22 release', () => {
		expect(build.image).toMatch(/^node:22\.\d+\.\d+(-[a-z0-9.-]+)?(@sha256:[0-9a-f]{64})?$/);
	});

	test('never uses a floating tag', () => {
		for (const stage of dockerfile.stages) {
			const image = resolveImage(stage.image, dockerfile.globalArgs);
			expect(image, stage.image).not.toMatch(/:latest\b|\$/);
			expect(image, stage.image).toMatch(/:[^/]*\d+\.\d+\.\d+/);
		}
	});

	test('the build stage installs, builds, packs and unpacks into the folder the Directus stage copies', () => {
		const commands = runs(build.instructions).join(' && ');
		for (const step of ['npm ci', 'npm run build', 'npm pack', 'tar -xzf']) expect(commands).toContain(step);

		const copy = final.instructions.find((instruction) => instruction.keyword === 'COPY');
		const [source] = copy?.rest.split(' ') ?? [];
		expect(source).toMatch(/^\//);
		expect(commands).toContain(`-C ${source}`);
	});

	test("installs exactly the guide's way, as root only for corepack", () => {
		expect(final.instructions.map(({ keyword, args }) => `${keyword} ${args}`)).toEqual([
			'USER root',
			'RUN corepack enable',
			'USER node',
			expect.stringMatching(/^COPY --from=build --chown=node:node \/\S+ \.\/auth-client-credentials$/),
			'RUN pnpm install ./auth-client-credentials',
		]);
	});

	test('ends running as node', () => {
		const users = dockerfile.instructions.filter((instruction) => instruction.keyword === 'USER');
		expect(users.at(-1)?.rest).toBe('node');
	});

	test('bakes in no secret and no BCC_AUTH_* value', () => {
		const variables = dockerfile.instructions.filter(({ keyword }) => keyword === 'ENV' || keyword === 'ARG');
		for (const { args, line } of variables) expect(args, `line ${line}`).not.toMatch(SECRET_LOOKING);

		for (const { args, line } of dockerfile.instructions) expect(args, `line ${line}`).not.toContain('BCC_AUTH_');
	});

	test('.dockerignore keeps local builds, installs and secrets out of the build context', () => {
		const ignored = read('.dockerignore')
			.split('\n')
			.map((line) => line.trim());
		for (const entry of ['node_modules', 'dist', 'coverage', '.git', '.env']) expect(ignored).toContain(entry);
	});
});

describe('examples/docker-compose.yml', () => {
	const compose = read('examples/docker-compose.yml');
	/** `NAME: value` lines of the file, comments dropped. */
	const settings = new Map(
		[...compose.matchAll(/^\s+([A-Z][A-Z0-9_]*):\s*(\S.*?)\s*$/gm)].map((match) => [match[1]!, match[2]!]),
	);

	test('sets the three required BCC_AUTH_ variables, quoted', () => {
		for (const name of ['BCC_AUTH_ISSUER', 'BCC_AUTH_AUDIENCE', 'BCC_AUTH_SCOPE_ROLES']) {
			expect(settings.get(name), name).toMatch(/^'[^']+'$|^"[^"]+"$/);
		}
		expect(settings.get('BCC_AUTH_SCOPE_ROLES')).toContain('#');
	});

	test('reads every secret from the environment and makes the extension mandatory', () => {
		for (const name of ['KEY', 'SECRET', 'ADMIN_PASSWORD', 'DB_PASSWORD', 'POSTGRES_PASSWORD']) {
			expect(settings.get(name), name).toMatch(/^\$\{\w+:\?[^}]*\}$/);
		}
		expect(settings.get('EXTENSIONS_MUST_LOAD')).toMatch(/^'true'$|^"true"$|^true$/);
	});

	test('builds Directus from the repository Dockerfile', () => {
		expect(compose).toMatch(/^\s+context: \.\.$/m);
		expect(compose).toMatch(/^\s+dockerfile: Dockerfile$/m);
	});
});
