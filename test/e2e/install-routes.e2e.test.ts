/**
 * Every install route, on each supported Directus version: copied into the extensions folder, the guide's Local
 * `npm install ./auth-client-credentials`, and the Dockerfile's own `pnpm install` line run verbatim on the
 * unpacked `npm pack` tarball. Each must load the bundle (EXTENSIONS_MUST_LOAD=true) and authenticate a client.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { NIL, v5 } from 'uuid';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EXTENSION_NAME, PACK_FOLDER, startDirectus } from '../../dev/directus-instance.mjs';
import { startLocalIssuer } from '../../dev/local-issuer.mjs';
import { seedAccessModel, seededExtensionEnv } from '../../dev/seed.mjs';
import { directusVersions } from './versions.js';

type Directus = Awaited<ReturnType<typeof startDirectus>>;
type Issuer = Awaited<ReturnType<typeof startLocalIssuer>>;

const ROUTES = ['folder', 'npm', 'pnpm'] as const;

let issuer: Issuer;

beforeAll(async () => {
	issuer = await startLocalIssuer();
});

afterAll(async () => {
	await issuer?.stop();
});

/** The `msg` of each JSON log line (LOG_STYLE=raw); plain lines as they are. */
function messages(lines: readonly string[]): string[] {
	return lines.map((line) => {
		try {
			return String((JSON.parse(line) as { msg?: unknown }).msg ?? line);
		} catch {
			return line;
		}
	});
}

// One instance at a time: each route's Directus is stopped before the next one boots.
describe.each(directusVersions())('Directus %s', (version) => {
	describe.each(ROUTES)('installed by route %s', (route) => {
		let directus: Directus;
		let seeded: Awaited<ReturnType<typeof seedAccessModel>>;
		const sub = `${route}-reader@clients`;

		beforeAll(async () => {
			directus = await startDirectus({
				version,
				route,
				env: {
					...seededExtensionEnv(issuer),
				},
			});
			seeded = await seedAccessModel(directus);
		});

		afterAll(async () => {
			await directus?.stop();
		});

		test('the extension is where the route puts it', async () => {
			const { project, env } = directus.prepared;

			if (route === 'folder') {
				expect((await stat(join(env.EXTENSIONS_PATH, EXTENSION_NAME, 'dist/index.js'))).isFile()).toBe(true);
				return;
			}

			// Both package managers record the unpacked folder and link the dependency to it.
			const manifest = JSON.parse(await readFile(join(project, 'package.json'), 'utf8'));
			expect(manifest.dependencies[EXTENSION_NAME]).toBe(`${route === 'npm' ? 'file' : 'link'}:${PACK_FOLDER}`);
			expect(await realpath(join(project, 'node_modules', EXTENSION_NAME))).toBe(
				await realpath(join(project, PACK_FOLDER)),
			);
		});

		test('Directus says it loaded the extension', () => {
			const logged = messages(directus.logs());
			const accepting = `[auth-client-credentials] accepting client-credentials tokens from ${issuer.issuer}`;
			expect(logged.filter((message) => message.startsWith(accepting))).toHaveLength(1);

			const loaded = logged.find((message) => message.startsWith('Loaded extensions: '));
			expect(loaded?.slice('Loaded extensions: '.length).split(', ')).toContain(EXTENSION_NAME);
		});

		test('a token with scope svc#read reads the articles', async () => {
			const token = issuer.mint({ sub, scope: 'svc#read' });
			const articles = await directus.request('/items/articles', { token });
			expect(articles.status).toBe(200);
			expect(articles.json.data).toHaveLength(3);
		});

		test('a token without a mapped scope is refused', async () => {
			const token = issuer.mint({ sub: `${route}-unmapped@clients`, scope: 'svc#delete' });
			const refused = await directus.request('/items/articles', { token });
			expect(refused.status).toBe(401);
			expect(refused.json.errors[0].extensions.code).toBe('INVALID_CREDENTIALS');
		});

		test('the client got its service user, with the mapped role', async () => {
			const user = await directus.admin(`/users/${v5(sub, NIL)}?fields=id,external_identifier,role,status`);
			expect(user).toEqual({
				id: v5(sub, NIL),
				external_identifier: sub,
				role: seeded.roles.readers,
				status: 'active',
			});
		});
	});
});
