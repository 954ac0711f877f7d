/**
 * A missing or malformed required variable stops the extension from loading, with a message that names it;
 * with EXTENSIONS_MUST_LOAD=true Directus itself refuses to start.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { prepareDirectus, startPrepared } from '../../dev/directus-instance.mjs';
import { startLocalIssuer } from '../../dev/local-issuer.mjs';
import { directusVersions } from './versions.js';

describe.each(directusVersions())('Directus %s refuses to start when misconfigured', (version) => {
	let prepared: Awaited<ReturnType<typeof prepareDirectus>>;

	beforeAll(async () => {
		prepared = await prepareDirectus({ version });
	});

	afterAll(async () => {
		if (prepared) await rm(prepared.project, { recursive: true, force: true });
	});

	test.each([
		[
			'nothing configured',
			{},
			['BCC_AUTH_ISSUER is required', 'BCC_AUTH_AUDIENCE is required', 'BCC_AUTH_SCOPE_ROLES is required'],
		],
		[
			'HMAC allowed, issuer not a URL',
			{
				BCC_AUTH_ISSUER: 'tenant.auth0.com',
				BCC_AUTH_AUDIENCE: 'https://api',
				BCC_AUTH_SCOPE_ROLES: 'svc#read=Readers',
				BCC_AUTH_ALGORITHMS: 'RS256,HS256',
			},
			['BCC_AUTH_ISSUER must be an absolute http(s) URL', 'BCC_AUTH_ALGORITHMS accepts only asymmetric algorithms'],
		],
	])('%s', async (_, env, messages) => {
		const failure = await startPrepared(prepared, { env }).then(
			async (instance) => {
				await instance.stop();
				return undefined;
			},
			(error: Error & { lines?: string[] }) => error,
		);

		expect(failure, 'Directus started although the extension is misconfigured').toBeDefined();
		const output = failure!.lines!.join('\n');
		for (const message of messages) expect(output).toContain(message);
		expect(output).toContain('directus-extension-auth-client-credentials is not configured');
	});
});

describe.each(directusVersions())('Directus %s: the start-up check says what the extension loaded with', (version) => {
	let prepared: Awaited<ReturnType<typeof prepareDirectus>>;
	let issuer: Awaited<ReturnType<typeof startLocalIssuer>>;

	beforeAll(async () => {
		issuer = await startLocalIssuer();
		prepared = await prepareDirectus({ version });
	});

	afterAll(async () => {
		await issuer?.stop();
		if (prepared) await rm(prepared.project, { recursive: true, force: true });
	});

	/** Starts Directus with `env`, waits for the check's lines, and returns the extension's log lines. */
	async function startupLines(env: Record<string, string>, expected: number): Promise<string[]> {
		const directus = await startPrepared(prepared, { env });
		try {
			const deadline = Date.now() + 15_000;
			const lines = () =>
				directus
					.extensionLogs()
					.filter((line) => line.includes('start-up check') || line.includes('BCC_AUTH_SCOPE_ROLES names role'));
			while (lines().length < expected && Date.now() < deadline)
				await new Promise((resolve) => setTimeout(resolve, 100));
			// The check runs after the "accepting" line, in the background; the first request did not wait for it.
			const all = directus.extensionLogs();
			expect(all.findIndex((line) => line.includes('accepting client-credentials tokens'))).toBeLessThan(
				all.findIndex((line) => line.includes('start-up check') || line.includes('names role')),
			);
			return lines();
		} finally {
			await directus.stop();
		}
	}

	test('a reachable JWKS and roles that exist: one info line each', async () => {
		const lines = await startupLines(
			{
				BCC_AUTH_ISSUER: issuer.issuer,
				BCC_AUTH_AUDIENCE: issuer.audience,
				// Roles every fresh Directus has.
				BCC_AUTH_SCOPE_ROLES: 'svc#admin=Administrator',
			},
			2,
		);
		expect(lines).toHaveLength(2);
		expect(lines.join('\n')).toMatch(/"level":30.*answers with 1 signing key/);
		expect(lines.join('\n')).toMatch(/"level":30.*BCC_AUTH_SCOPE_ROLES names 1 role\(s\), all of which exist/);
	});

	test('an unreachable JWKS and a role that does not exist: one error line each, naming the variable', async () => {
		const lines = await startupLines(
			{
				BCC_AUTH_ISSUER: issuer.issuer,
				BCC_AUTH_AUDIENCE: issuer.audience,
				BCC_AUTH_JWKS_URI: 'http://127.0.0.1:9/jwks.json',
				BCC_AUTH_SCOPE_ROLES: 'svc#read=No Such Role',
			},
			2,
		);
		expect(lines).toHaveLength(2);
		expect(lines.join('\n')).toMatch(/"level":50.*BCC_AUTH_JWKS_URI.*could not be fetched/);
		expect(lines.join('\n')).toMatch(/"level":50.*BCC_AUTH_SCOPE_ROLES names role \\"No Such Role\\": no such role/);
	});
});
