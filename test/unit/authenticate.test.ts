/**
 * The filter's edge cases: real verification against a JWKS on 127.0.0.1, recording stubs for the database-backed
 * parts (the end-to-end suite proves those against a real Directus).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { startLocalIssuer } from '../../dev/local-issuer.mjs';
import { hashToken } from '../../src/authenticate.js';
import type { BoundUsers } from '../../src/directus/bound-users.js';
import { serviceUserId } from '../../src/directus/service-user.js';
import { TokenRejectedError } from '../../src/token/token-rejected-error.js';
import { authenticateHarness, base, ROLE, type LocalIssuer } from '../helpers/authenticate-harness.js';

let issuer: LocalIssuer;

beforeAll(async () => {
	issuer = await startLocalIssuer();
});

afterAll(() => issuer.stop());

afterEach(() => {
	vi.useRealTimers();
});

const request = (token?: string) => ({ req: { token } });

async function codeOf(promise: Promise<unknown>): Promise<string> {
	const error = (await promise.then(
		() => undefined,
		(e: unknown) => e,
	)) as { code?: string; status?: number } | undefined;
	expect(error, 'expected a refusal').toBeDefined();
	return `${error!.status} ${error!.code}`;
}

describe('not ours: the very same object comes back and nothing is verified', () => {
	test.each([
		['no token', undefined],
		['an empty token', ''],
		['a static token', 'K3yStAtIc-token'],
		['three dots of garbage', 'a.b.c'],
	])('%s', async (_, token) => {
		const harness = authenticateHarness(issuer);
		expect(await harness.filter(base, request(token))).toBe(base);
		expect(harness.verifyCalls).toBe(0);
	});

	test.each([
		['another issuer', { iss: 'https://elsewhere.test/' }],
		['no gty', { gty: undefined }],
		['another grant', { gty: 'password' }],
	])('a JWT from %s', async (_, claims) => {
		const harness = authenticateHarness(issuer);
		expect(await harness.filter(base, request(issuer.mint({ scope: 'svc#read', ...claims })))).toBe(base);
		expect(harness.verifyCalls).toBe(0);
	});
});

test('an accepted token gets a new accountability and is verified once for its lifetime', async () => {
	const harness = authenticateHarness(issuer);
	const { filter, ensured, logs } = harness;
	const token = issuer.mint({ sub: 'svc@clients', scope: 'openid svc#read' });

	const first = await filter(base, request(token));
	const second = await filter(base, request(token));

	expect(first).toMatchObject({ user: serviceUserId('svc@clients'), role: ROLE, roles: [ROLE], ip: '127.0.0.1' });
	expect(second).not.toBe(base);
	expect(harness.verifyCalls).toBe(1);
	expect(ensured).toHaveLength(2);
	expect(logs).toEqual([]);
});

test('the token cache never outlives exp: once expired the token is verified again and refused', async () => {
	vi.useFakeTimers({ toFake: ['Date'] });
	const harness = authenticateHarness(issuer, { env: { BCC_AUTH_CLOCK_TOLERANCE: 0 } });
	const { filter } = harness;
	const token = issuer.mint({ scope: 'svc#read' }, { expiresIn: 60 });

	await filter(base, request(token));
	vi.setSystemTime(Date.now() + 59_000);
	await filter(base, request(token));
	expect(harness.verifyCalls).toBe(1);

	vi.setSystemTime(Date.now() + 2_000);
	expect(await codeOf(filter(base, request(token)))).toBe('401 TOKEN_EXPIRED');
	expect(harness.verifyCalls).toBe(2);
	expect(harness.verifiedTokens.get(hashToken(token))).toBeUndefined();
});

test('WebSocket auth messages carry the token in access_token', async () => {
	const result = await authenticateHarness(issuer).filter(base, {
		message: { type: 'auth', access_token: issuer.mint({ scope: 'svc#read' }) },
	});
	expect(result.role).toBe(ROLE);
});

test('a suspended service user is a 401 with one warning line', async () => {
	const { filter, logs } = authenticateHarness(issuer, {
		onEnsure: async () => {
			throw new TokenRejectedError('user_suspended', 'the service user\'s status is "suspended"');
		},
	});
	const token = issuer.mint({ sub: 'gone@clients', scope: 'svc#read' });
	expect(await codeOf(filter(base, request(token)))).toBe('401 INVALID_CREDENTIALS');
	expect(logs).toEqual([
		expect.stringMatching(/^warn \[auth-client-credentials\] refused user_suspended: .*"gone@clients"/),
	]);
});

test('a database fault is a 503, logged as an error without the token', async () => {
	const { filter, logs } = authenticateHarness(issuer, {
		onEnsure: async () => {
			throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
		},
	});
	const token = issuer.mint({ scope: 'svc#read' });
	expect(await codeOf(filter(base, request(token)))).toBe('503 SERVICE_UNAVAILABLE');
	expect(logs).toHaveLength(1);
	expect(logs[0]).toMatch(/^error .*could not authenticate.*ECONNREFUSED/);
	for (const part of token.split('.')) expect(logs[0]).not.toContain(part);
});

test('refusals never reach the service user', async () => {
	const { filter, ensured } = authenticateHarness(issuer);
	for (const token of [
		issuer.mint({ scope: 'svc#write' }),
		issuer.mint({ scope: 'svc#read', aud: 'https://other.test' }),
		issuer.mint({ scope: 'svc#read', exp: 1 }),
	]) {
		await codeOf(filter(base, request(token)));
	}
	expect(ensured).toEqual([]);
});

describe('client bindings', () => {
	const ops = { id: '00000000-0000-4000-8000-0000000000b0', role: 'writers-role', status: 'active' };
	const boundUsers: BoundUsers = { resolve: async () => ops, clear: () => undefined };
	const bound = () =>
		authenticateHarness(issuer, {
			env: {
				BCC_AUTH_CLIENTS: 'bound@clients=ops@example.com,free@clients=service-user',
				BCC_AUTH_CLIENTS_ONLY: true,
			},
			boundUsers,
		});

	test('a bound client acts as its user, whatever its scopes; no service user', async () => {
		const { filter, ensured } = bound();
		const result = await filter(base, request(issuer.mint({ sub: 'bound@clients', scope: undefined })));
		expect(result).toMatchObject({ user: ops.id, role: 'writers-role' });
		expect(ensured).toEqual([]);
	});

	test('a client listed as service-user keeps the scope mapping', async () => {
		const result = await bound().filter(base, request(issuer.mint({ sub: 'free@clients', scope: 'svc#read' })));
		expect(result.user).toBe(serviceUserId('free@clients'));
	});

	test('an unlisted client is refused when only listed clients are allowed', async () => {
		const { filter, logs } = bound();
		const token = issuer.mint({ sub: 'stranger@clients', scope: 'svc#read' });
		expect(await codeOf(filter(base, request(token)))).toBe('401 INVALID_CREDENTIALS');
		expect(logs.at(-1)).toMatch(/refused client_not_allowed/);
	});
});
