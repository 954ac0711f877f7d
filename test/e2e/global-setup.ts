/**
 * Installs every Directus version the suite runs against before any test starts (cached outside the repo; a first
 * install prints its steps and elapsed time above vitest's summary, a warm cache prints nothing), and checks the
 * extension has been built: the suite tests the bundle users install, not the sources.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { installDirectus, REPO_ROOT } from '../../dev/directus-instance.mjs';
import { directusVersions } from './versions.js';

export default async function setup(): Promise<void> {
	if (!existsSync(join(REPO_ROOT, 'dist/index.js'))) {
		throw new Error('dist/index.js is missing: run `npm run build` first (npm test does)');
	}

	// One after the other: each install's native rebuild already uses both cores.
	for (const version of directusVersions()) await installDirectus(version);
}
