/**
 * A real Directus whose extension trusts a real `oidc-provider` (dev/authorization-server.mjs): the end-to-end set-up
 * of every suite whose tokens come from a token endpoint rather than from a key of the test's own.
 */
import { NIL, v5 } from 'uuid';
import { startAuthorizationServer } from '../../dev/authorization-server.mjs';
import { startDirectus } from '../../dev/directus-instance.mjs';
import { seedAccessModel, seededExtensionEnv } from '../../dev/seed.mjs';

type AuthorizationServerOptions = Parameters<typeof startAuthorizationServer>[0];

/** The running pair, the seeded access model, and a look-up of a client's service user. */
export interface AuthorizationServerStack {
	server: Awaited<ReturnType<typeof startAuthorizationServer>>;
	directus: Awaited<ReturnType<typeof startDirectus>>;
	/** The seeded roles' ids (`readers`, `writers`, `admins`). */
	roles: Awaited<ReturnType<typeof seedAccessModel>>['roles'];
	/** The service user (`id`, `role`) the extension keeps for `clientId`, or null where it made none. */
	userOf(clientId: string): Promise<{ id: string; role: string } | null>;
	/** Stops Directus (dropping its database), then the authorization server. */
	stop(): Promise<void>;
}

/**
 * Starts the authorization server with `clients`, `resource` and `scopes`, then Directus `version` with the extension
 * configured for it (preset `rfc9068`, keys by OpenID discovery, `env` on top) and the seeded access model.
 */
export async function startAuthorizationServerStack(
	version: string,
	options: Pick<AuthorizationServerOptions, 'clients' | 'resource' | 'scopes'> & { env?: Record<string, string> },
): Promise<AuthorizationServerStack> {
	const { clients, resource, scopes, env = {} } = options;
	const server = await startAuthorizationServer({ clients, resource, scopes });
	let directus: AuthorizationServerStack['directus'] | undefined;
	const stop = async () => {
		await directus?.stop();
		await server.stop();
	};

	try {
		directus = await startDirectus({
			version,
			env: {
				...seededExtensionEnv({ issuer: server.issuer, audience: resource }),
				BCC_AUTH_PRESET: 'rfc9068',
				BCC_AUTH_DISCOVERY: 'true',
				...env,
			},
		});
		const { roles } = await seedAccessModel(directus);
		const running = directus;
		return {
			server,
			directus: running,
			roles,
			userOf: async (clientId) =>
				(await running.request(`/users/${v5(clientId, NIL)}?fields=id,role`, { token: running.adminToken })).json
					?.data ?? null,
			stop,
		};
	} catch (error) {
		// Why: the suite's afterAll has nothing to stop when the start fails half-way.
		await stop();
		throw error;
	}
}
