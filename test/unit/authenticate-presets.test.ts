/**
 * The filter with the token profiles: RFC 9068's `typ` (the `rfc9068` preset and `BCC_AUTH_TOKEN_TYPE`) and the
 * Cognito case, where no `aud` is checked and a bound client must still show a scope of this API.
 * Real verification against a JWKS on 127.0.0.1; recording stubs for the database-backed parts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startLocalIssuer } from '../../dev/local-issuer.mjs';
import type { BoundUsers } from '../../src/directus/bound-users.js';
import { serviceUserId } from '../../src/directus/service-user.js';
import {
	authenticateHarness,
	base,
	type AuthenticateHarness,
	type LocalIssuer,
} from '../helpers/authenticate-harness.js';

const OPS = { id: '00000000-0000-4000-8000-0000000000b0', role: 'ops-role', status: 'active' };

let issuer: LocalIssuer;

beforeAll(async () => {
	issuer = await startLocalIssuer();
});

afterAll(() => issuer.stop());

/** A fresh filter with `env`, where every `BCC_AUTH_CLIENTS` binding resolves to the user {@link OPS}. */
function harnessFor(env: Record<string, unknown>): AuthenticateHarness {
	const boundUsers: BoundUsers = { resolve: async () => OPS, clear: () => undefined };
	return authenticateHarness(issuer, { env, boundUsers });
}

/**
 * What the filter made of a token: `accepted <user>`, `untouched` (left to Directus), or `<status> <Directus code>
 * <reason code>` for a refusal, the reason read from its one log line.
 */
async function outcome({ filter, logs }: AuthenticateHarness, token: string): Promise<string> {
	try {
		const result = await filter(base, { req: { token, headers: { authorization: `Bearer ${token}` } } });
		return result === base ? 'untouched' : `accepted ${result.user}`;
	} catch (error) {
		const { status, code } = error as { status?: number; code?: string };
		// A refusal is one log line; anything else (a fault of the test set-up) is shown as it is.
		if (logs.length !== 1) throw error;
		return `${status} ${code} ${/refused (\w+)/.exec(logs[0] ?? '')?.[1]}`;
	}
}

describe('BCC_AUTH_TOKEN_TYPE=at+jwt: a recognised token without typ at+jwt is refused, not left to Directus', () => {
	const client = 'svc@clients';
	const accepted = `accepted ${serviceUserId(client)}`;

	test.each<[string | undefined, string | undefined, string]>([
		[undefined, 'JWT', accepted],
		[undefined, 'at+jwt', accepted],
		['at+jwt', 'at+jwt', accepted],
		['at+jwt', 'application/AT+JWT', accepted],
		['at+jwt', 'JWT', '401 INVALID_CREDENTIALS invalid_token_type'],
		['at+jwt', undefined, '401 INVALID_CREDENTIALS invalid_token_type'],
		['at+jwt', 'dpop+jwt', '401 INVALID_CREDENTIALS invalid_token_type'],
	])('BCC_AUTH_TOKEN_TYPE %s, typ %s → %s', async (tokenType, typ, expected) => {
		const token = issuer.mint({ sub: client, scope: 'svc#read' }, { header: { typ } });
		const harness = harnessFor({ BCC_AUTH_TOKEN_TYPE: tokenType });
		expect(await outcome(harness, token)).toBe(expected);
		if (expected !== accepted) expect(harness.ensured).toEqual([]);
	});

	test('a token the preset does not recognise (a user token of the issuer) is still left to Directus', async () => {
		const token = issuer.mint({ sub: 'auth0|user', gty: undefined, scope: 'openid' }, { header: { typ: 'JWT' } });
		const harness = harnessFor({ BCC_AUTH_TOKEN_TYPE: 'at+jwt' });
		expect(await outcome(harness, token)).toBe('untouched');
		expect(harness.logs).toEqual([]);
	});
});

describe('BCC_AUTH_PRESET=rfc9068 (the shape oidc-provider issues)', () => {
	const accepted = `accepted ${serviceUserId('billing')}`;

	test.each<[string, string, Record<string, unknown>, string]>([
		['typ at+jwt, sub = client_id', accepted, { scope: 'svc#read' }, 'at+jwt'],
		['typ application/at+jwt', accepted, { scope: 'svc#read' }, 'application/at+jwt'],
		['no mapped scope', '401 INVALID_CREDENTIALS no_mapped_scope', { scope: 'svc#write' }, 'at+jwt'],
		['another audience', '401 INVALID_CREDENTIALS invalid_audience', { scope: 'svc#read', aud: 'https://x' }, 'at+jwt'],
		['typ JWT: not an access token', 'untouched', { scope: 'svc#read' }, 'JWT'],
		['a user access token', 'untouched', { sub: 'user-1', scope: 'svc#read' }, 'at+jwt'],
	])('%s → %s', async (_, expected, claims, typ) => {
		const token = issuer.mint({ sub: 'billing', client_id: 'billing', gty: undefined, ...claims }, { header: { typ } });
		expect(await outcome(harnessFor({ BCC_AUTH_PRESET: 'rfc9068' }), token)).toBe(expected);
	});
});

describe('Cognito without an audience: a bound client needs a mapped scope too', () => {
	/** Cognito's client-credentials access token: no aud, client_id, token_use, scopes `<resource server>/<scope>`. */
	const cognito = (clientId: string, scope: string | undefined, aud?: string) =>
		issuer.mint({ sub: clientId, client_id: clientId, token_use: 'access', gty: undefined, aud, scope });
	const env = (audience: string | undefined) => ({
		BCC_AUTH_PRESET: 'cognito',
		BCC_AUTH_AUDIENCE: audience,
		BCC_AUTH_CLIENTS: 'bound-client=ops@example.com,free-client=service-user',
	});
	const boundAccepted = `accepted ${OPS.id}`;

	test.each<[string | undefined, string]>([
		['svc#read', boundAccepted],
		['other-api/read svc#read', boundAccepted],
		// A token the client got for another resource server of the same pool: not for this API.
		['other-api/read', '401 INVALID_CREDENTIALS no_mapped_scope'],
		[undefined, '401 INVALID_CREDENTIALS no_mapped_scope'],
	])('no aud check, bound client with scope %s → %s', async (scope, expected) => {
		expect(await outcome(harnessFor(env(undefined)), cognito('bound-client', scope))).toBe(expected);
	});

	test('where the audience is checked, the binding alone authorises, as for every other preset', async () => {
		const token = cognito('bound-client', undefined, issuer.audience);
		expect(await outcome(harnessFor(env(issuer.audience)), token)).toBe(boundAccepted);
	});

	test.each([
		['free-client', 'other-api/read', '401 INVALID_CREDENTIALS no_mapped_scope'],
		['stranger', 'svc#read', '401 INVALID_CREDENTIALS client_not_allowed'],
	])('unbound client %s with %s → %s (as before)', async (clientId, scope, expected) => {
		expect(await outcome(harnessFor(env(undefined)), cognito(clientId, scope))).toBe(expected);
	});
});
