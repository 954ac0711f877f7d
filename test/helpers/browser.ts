/**
 * A real browser for the end-to-end tests: Debian's `chromium` driven by `playwright-core` (which downloads
 * nothing), headless, with a fresh profile that is removed when the browser closes.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Where Debian's `chromium` package puts the browser (`apt-get install chromium`). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Why the browser tests cannot run here, or null when they can. Under `CI=true` a missing browser is a failure,
 * never a skip: a CI that silently skips the proof proves nothing.
 */
export function browserUnavailableReason(): string | null {
	return existsSync(CHROMIUM_PATH) ? null : `${CHROMIUM_PATH} is missing (apt-get install chromium)`;
}

/** True when the browser tests should be skipped (no browser, and not in CI). */
export function skipBrowserTests(): boolean {
	return browserUnavailableReason() !== null && process.env['CI'] !== 'true';
}

/** A headless browser context on an empty profile; `close()` also deletes the profile. */
export async function launchBrowser(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
	const reason = browserUnavailableReason();
	if (reason) throw new Error(`cannot run the browser tests: ${reason}`);

	const profile = await mkdtemp(join(tmpdir(), 'bcc-chromium-'));

	try {
		const context = await chromium.launchPersistentContext(profile, {
			executablePath: CHROMIUM_PATH,
			headless: true,
			// Wide enough for the users list's default columns plus one more.
			viewport: { width: 1920, height: 1080 },
			// Fewer animations to render on a loaded machine, for pages that honour the preference.
			reducedMotion: 'reduce',
			// No sandbox: tests may run as root in a container. The rest keeps the browser from calling home.
			args: [
				'--no-sandbox',
				'--disable-gpu',
				'--disable-quic',
				'--no-first-run',
				'--disable-background-networking',
				'--disable-component-update',
				'--disable-sync',
			],
		});

		return {
			context,
			close: async () => {
				await context.close();
				await rm(profile, { recursive: true, force: true });
			},
		};
	} catch (error) {
		await rm(profile, { recursive: true, force: true });
		throw error;
	}
}
