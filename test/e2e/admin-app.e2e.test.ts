/**
 * An admin finds a machine client in the Directus app (issue 10, part 5), in a real browser: Debian's chromium
 * driven by playwright-core against the app Directus itself serves. Two clients make a request each; the admin
 * logs in, shows the column the extension fills with the client id, finds one client by its id, suspends it and
 * saves; that client is refused from its next request on, the other still reads. A screenshot of the users list is
 * kept in test/artifacts/.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { NIL, v5 } from 'uuid';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_EMAIL, ADMIN_PASSWORD, REPO_ROOT, startDirectus } from '../../dev/directus-instance.mjs';
import { startLocalIssuer } from '../../dev/local-issuer.mjs';
import { seedAccessModel, seededExtensionEnv } from '../../dev/seed.mjs';
import { browserUnavailableReason, launchBrowser, skipBrowserTests } from '../helpers/browser.js';
import { directusVersions } from './versions.js';

type Directus = Awaited<ReturnType<typeof startDirectus>>;
type Issuer = Awaited<ReturnType<typeof startLocalIssuer>>;
type Browser = Awaited<ReturnType<typeof launchBrowser>>;

const ARTIFACTS = join(REPO_ROOT, 'test/artifacts');

/** The user field the extension fills with the client id, and its label in the app. */
const CLIENT_ID_COLUMN = 'Title';

/** Long enough for a page that loads, searches or saves on a busy two-core machine. */
const UI_WAIT = { timeout: 30_000, interval: 200 };

/** A client id shaped like Auth0's (`<32 characters>@clients`), new for every run. */
const newClientId = () => `${randomBytes(16).toString('hex')}@clients`;

const skipped = skipBrowserTests();
if (skipped) console.warn(`admin-app: skipped, ${browserUnavailableReason()}; under CI=true this fails instead`);

describe.skipIf(skipped).each(directusVersions())('Directus %s app', (version) => {
	let issuer: Issuer;
	let directus: Directus;
	let browser: Browser;
	let page: Page;
	const suspended = newClientId();
	const other = newClientId();

	const read = (clientId: string) =>
		directus.request('/items/articles', { token: issuer.mint({ sub: clientId, scope: 'svc#read' }) });

	beforeAll(async () => {
		// The browser first: without one (CI=true makes that a failure) nothing else is worth starting.
		browser = await launchBrowser();
		issuer = await startLocalIssuer();
		directus = await startDirectus({ version, env: seededExtensionEnv(issuer) });
		await seedAccessModel(directus);
		page = browser.context.pages()[0] ?? (await browser.context.newPage());
		// Directus asks an admin, in a dialog over whatever page is open, for the project's owner (11) or licence key
		// (12); the admin puts it off, as one may.
		await page.addLocatorHandler(page.getByRole('button', { name: 'Remind Later' }), (button) => button.click());
		await page.addLocatorHandler(page.getByText('Have a license key?'), () =>
			page.getByRole('button', { name: 'Skip', exact: true }).click(),
		);
		await mkdir(ARTIFACTS, { recursive: true });
	});

	afterEach(async (context) => {
		// What the browser showed when a step failed says more than the step's message.
		if (context.task.result?.state === 'fail' && page) {
			await page.screenshot({ path: join(ARTIFACTS, `admin-app-${version}-failure.png`) }).catch(() => {});
		}
	});

	afterAll(async () => {
		await browser?.close();
		await directus?.stop();
		await issuer?.stop();
	});

	test('two clients are served, each with a service user of its own', async () => {
		for (const clientId of [suspended, other]) {
			expect((await read(clientId)).status).toBe(200);
			const user = await directus.admin(`/users/${v5(clientId, NIL)}?fields=external_identifier,status`);
			expect(user).toEqual({ external_identifier: clientId, status: 'active' });
		}
	});

	test('the users list shows each client id next to the guide names', async () => {
		await page.goto(`${directus.url}/admin/login`);
		await page.getByPlaceholder('Email').fill(ADMIN_EMAIL);
		await page.getByPlaceholder('Password').fill(ADMIN_PASSWORD);
		// Enter submits the form: no pointer over 12's animated login background, which a loaded machine renders late.
		await page.getByPlaceholder('Password').press('Enter');
		await page.waitForURL((url) => !url.pathname.endsWith('/login'));

		await page.goto(`${directus.url}/admin/users`);
		const table = page.getByRole('main').getByRole('table');
		await table.getByRole('row').filter({ hasText: 'External' }).first().waitFor();

		// The default columns (avatar, names, email, role) hold nothing that tells clients apart: the admin adds the
		// column once, from the table's own field picker, and the app keeps it in their preset.
		await table.getByRole('button', { name: 'add', exact: true }).click();
		await page.getByRole('button', { name: CLIENT_ID_COLUMN, exact: true }).click();
		const header = table.getByRole('columnheader', { name: CLIENT_ID_COLUMN });
		await header.waitFor();

		// The sidebar would hide the right-hand columns in the screenshot.
		const closeSidebar = page.getByRole('banner').getByRole('button', { name: 'right_panel_close' });
		if (await closeSidebar.isVisible()) await closeSidebar.click();

		// A new column is too narrow for an Auth0 client id (40 characters): widen it by its right edge, as the admin
		// would, so the screenshot shows whole ids.
		const box = await header.boundingBox();
		if (!box) throw new Error(`the ${CLIENT_ID_COLUMN} column header has no box`);
		await page.mouse.move(box.x + box.width - 2, box.y + box.height / 2);
		await page.mouse.down();
		await page.mouse.move(box.x + box.width + 240, box.y + box.height / 2, { steps: 10 });
		await page.mouse.up();

		for (const clientId of [suspended, other]) {
			const cell = page.getByRole('cell', { name: clientId, exact: true });
			const row = table.getByRole('row').filter({ has: cell });
			await row.waitFor();
			// Whole, not cut to "3285dfc8488e84…": no element of the cell hides part of its text.
			const clipped = await row
				.locator(cell)
				.evaluate((element) =>
					[element, ...element.querySelectorAll('*')].some((node) => node.scrollWidth > node.clientWidth + 1),
				);
			expect(clipped).toBe(false);
			await expect(row.getByRole('cell', { name: 'External', exact: true }).count()).resolves.toBe(1);
			await expect(row.getByRole('cell', { name: 'Client', exact: true }).count()).resolves.toBe(1);
		}

		const screenshot = join(ARTIFACTS, `admin-app-${version}.png`);
		await page.screenshot({ path: screenshot });
		console.log(`users list of Directus ${version}: ${screenshot}`);
	});

	test('the admin finds a client by its id, suspends it and saves; it is refused, the other is not', async () => {
		const table = page.getByRole('main').getByRole('table');
		const search = page.getByRole('search');
		// The search box opens from its icon.
		await search.getByRole('button', { name: 'search', exact: true }).click();
		await search.getByRole('searchbox').fill(suspended);

		const clientRows = table.getByRole('row').filter({ hasText: 'External' });
		await expect.poll(() => clientRows.allInnerTexts(), UI_WAIT).toEqual([expect.stringContaining(suspended)]);

		await clientRows.first().click();
		const userId = v5(suspended, NIL);
		await page.waitForURL((url) => url.pathname.endsWith(`/users/${userId}`));
		// The user page's header box: the name, then ", <title>".
		await page.getByRole('main').getByText(`, ${suspended}`, { exact: true }).waitFor();

		const status = page.locator('[data-collection="directus_users"][data-field="status"]');
		// The select's input lies under the element that takes the click, as a mouse would find it.
		await status.getByRole('textbox').click({ force: true });
		await page.getByRole('button', { name: 'Suspended', exact: true }).click();

		// Directus 11 saves from an icon button (named by its icon, "check"), 12 from a "Save" button.
		const [response] = await Promise.all([
			page.waitForResponse(
				(response) =>
					response.request().method() === 'PATCH' && new URL(response.url()).pathname === `/users/${userId}`,
			),
			page.getByRole('button', { name: /^(check|Save)$/ }).click(),
		]);
		expect(response.status()).toBe(200);
		expect((await response.json()).data).toMatchObject({ status: 'suspended', external_identifier: suspended });

		const refused = await read(suspended);
		expect(refused.status).toBe(401);
		expect(refused.json?.errors?.[0]?.extensions?.code).toBe('INVALID_CREDENTIALS');
		expect((await read(other)).status).toBe(200);
	});
});
