/**
 * A real authorization server in the loop: `oidc-provider` (dev/authorization-server.mjs) issues every token here
 * from its token endpoint, to clients authenticating with their secrets, and a real Directus with the built extension
 * (preset `rfc9068`, OpenID discovery) decides. The tests never sign a token themselves.
 */
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startAuthorizationServerStack, type AuthorizationServerStack } from '../helpers/authorization-server-stack.js';
import { directusVersions } from './versions.js';

const RESOURCE = 'https://orders-api.example.test';
// `svc#audit` is a scope of the API that no role is mapped to (SEED_SCOPE_ROLES maps read, write and admin).
const SCOPES = ['svc#read', 'svc#write', 'svc#admin', 'svc#audit'];
const secret = () => `secret-${crypto.randomUUID()}`;
const clients = {
	reader: { secret: secret(), scopes: ['svc#read'] },
	writer: { secret: secret(), scopes: ['svc#read', 'svc#write'] },
	auditor: { secret: secret(), scopes: ['svc#audit'] },
};

describe.each(directusVersions())('Directus %s with oidc-provider as the issuer', (version) => {
	let stack: AuthorizationServerStack;
	let server: AuthorizationServerStack['server'];
	let directus: AuthorizationServerStack['directus'];
	let readers: string;

	beforeAll(async () => {
		stack = await startAuthorizationServerStack(version, { clients, resource: RESOURCE, scopes: SCOPES });
		({ server, directus } = stack);
		readers = stack.roles.readers;
	});

	afterAll(() => stack?.stop());

	test('the keys are found by discovery: the start-up line says so, and the JWKS comes from <issuer>/jwks', async () => {
		expect(directus.extensionLogs().join('\n')).toContain(
			`accepting client-credentials tokens from ${server.issuer} (preset rfc9068, keys by OpenID discovery`,
		);
		expect(server.hits('/.well-known/openid-configuration')).toBeGreaterThan(0);

		// The start-up check fetched the discovered JWKS once Directus was up, so the first token waits for nothing.
		const deadline = Date.now() + 10_000;
		while (
			!directus.extensionLogs().some((line) => line.includes('start-up check: the JWKS')) &&
			Date.now() < deadline
		) {
			await new Promise((resolve) => setTimeout(resolve, 100));
		}
		expect(directus.extensionLogs().join('\n')).toMatch(
			/start-up check: the JWKS found by OpenID discovery .* answers with 1 signing key/,
		);
		expect(server.hits('/jwks')).toBe(1);

		const { access_token: token } = await server.getToken({ clientId: 'reader', scope: 'svc#read' });
		expect((await directus.request('/items/articles', { token })).status).toBe(200);
		expect(server.hits('/jwks')).toBe(1);
	});

	test('a client granted a mapped scope reads articles as its service user, with the mapped role', async () => {
		// Asking for more than it is registered for: the server grants only svc#read.
		const answer = await server.getToken({ clientId: 'reader', scope: 'svc#read svc#write' });
		expect(answer.scope).toBe('svc#read');
		// What is under test is an RFC 9068 token as oidc-provider shapes it, not one of ours.
		expect(decodeProtectedHeader(answer.access_token)).toMatchObject({ typ: 'at+jwt', alg: 'RS256' });
		expect(decodeJwt(answer.access_token)).toMatchObject({ client_id: 'reader', sub: 'reader', aud: RESOURCE });

		const articles = await directus.request('/items/articles', { token: answer.access_token });
		expect(articles.status).toBe(200);
		expect(articles.json.data).toHaveLength(3);
		expect(await stack.userOf('reader')).toMatchObject({ role: readers });
		expect((await directus.request('/items/secrets', { token: answer.access_token })).status).toBe(403);
	});

	test('a client granted only an unmapped scope is refused with 401 and gets no user', async () => {
		const { access_token: token, scope } = await server.getToken({ clientId: 'auditor', scope: 'svc#audit' });
		expect(scope).toBe('svc#audit');

		const mark = directus.logs().length;
		expect((await directus.request('/items/articles', { token })).status).toBe(401);
		expect(directus.extensionLogs(mark).join('\n')).toContain('refused no_mapped_scope');
		expect(await stack.userOf('auditor')).toBeNull();
	});

	test('a wrong secret gets the server its own 401 and no token', async () => {
		const answer = await server.requestToken({ clientId: 'reader', clientSecret: 'not-the-secret' });
		expect(answer.status).toBe(401);
		expect(answer.body).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
		expect(answer.body).not.toHaveProperty('access_token');
	});

	test('rotation the server way: a new-key token works on first use, an old-key token while its key is published', async () => {
		// Issued before the rotation and not used yet, so no cache of the extension has seen it.
		const old = (await server.getToken({ clientId: 'writer' })).access_token;
		const oldKid = decodeProtectedHeader(old).kid;

		const newKid = await server.rotate();
		expect(newKid).not.toBe(oldKid);
		expect(server.kids).toEqual([newKid, oldKid]);

		// Right after the last JWKS fetch: a published key is fetched on first sight, no cooldown to wait out.
		const jwksBefore = server.hits('/jwks');
		const fresh = (await server.getToken({ clientId: 'writer' })).access_token;
		expect(decodeProtectedHeader(fresh).kid).toBe(newKid);

		expect((await directus.request('/items/articles', { token: fresh })).status).toBe(200);
		expect((await directus.request('/items/articles', { token: old })).status).toBe(200);
		expect(server.hits('/jwks') - jwksBefore).toBe(1);
	});
});
