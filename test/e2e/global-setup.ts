/**
 * Installs every Directus version the suite runs against before any test starts (cached outside the repo),
 * and checks the extension has been built: the suite tests the bundle users install, not the sources.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { installDirectus, REPO_ROOT } from '../../dev/directus-instance.mjs';
import { directusVersions } from './versions.js';

export default async function setup(): Promise<void> {
	if (!existsSync(join(REPO_ROOT, 'dist/index.js'))) {
		throw new Error('dist/index.js is missing: run `npm run build` first (npm test does)');
	}

	for (const version of directusVersions()) await installDirectus(version);
}
