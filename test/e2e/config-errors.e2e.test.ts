/**
 * A missing or malformed required variable stops the extension from loading, with a message that names it;
 * with EXTENSIONS_MUST_LOAD=true Directus itself refuses to start.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { prepareDirectus, startPrepared } from '../../dev/directus-instance.mjs';
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
