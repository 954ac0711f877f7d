/**
 * The provider migration wired into Directus: which provider new service users get (decided while the extension
 * registers, before any user is created) and the `init('app.before')` handler that moves the old ones, which
 * Directus awaits before it serves a request.
 */
import type { Accountability, ExtensionsServices, SchemaOverview } from '@directus/types';
import type { Knex } from 'knex';
import { hostRefusesCustomProviders, migrateServiceUserProviders, resolveUserProvider } from './provider-migration.js';
import { describeError } from '../token/printable.js';
import { GUIDE_PROVIDER } from './service-user.js';

export interface UpgradeProvidersOptions {
	/** `BCC_AUTH_USER_PROVIDER`. */
	provider: string;
	knex: Knex;
	services: Pick<ExtensionsServices, 'UsersService' | 'UtilsService'>;
	getSchema: () => Promise<SchemaOverview>;
	logger: { info(line: string): void; warn(line: string): void; error(line: string): void };
	logPrefix: string;
}

export interface UpgradeProviders {
	/** The provider to create service users with: `default` where the host refuses custom providers. */
	readonly userProvider: string;
	/** Moves the service users made before the upgrade; logs, never throws. For `init('app.before')`. */
	readonly migrate: () => Promise<void>;
}

/** Decides the provider for new service users now, and returns the migration to run before the first request. */
export function upgradeServiceUserProviders(options: UpgradeProvidersOptions): UpgradeProviders {
	const { provider, knex, services, getSchema, logger, logPrefix } = options;

	let refusesCustomProviders = false;

	try {
		refusesCustomProviders = hostRefusesCustomProviders(services.UsersService);
	} catch (error) {
		// A Directus whose check works differently: new users still fall back to `default` on their first refusal.
		logger.warn(
			`${logPrefix} could not tell whether this Directus accepts custom user providers (${describeError(error)}); ` +
				`service users made before are left as they are`,
		);
	}

	const userProvider = resolveUserProvider(provider, refusesCustomProviders);

	if (userProvider !== provider) {
		logger.info(
			`${logPrefix} this Directus refuses custom user providers (its licence does not include SSO); ` +
				`service users get provider "default"`,
		);
	}

	// Directus 12 caches per process whether active users with a custom provider exist (its entitlement manager)
	// and derives the licence status from that. Clearing it the way `POST /utils/cache/clear?system` does also
	// reaches the instances already running (over the Redis bus), so none stays locked on a stale answer. It runs
	// once in a project's life: later starts find nothing to move.
	const clearLicenceCache = async (): Promise<void> => {
		try {
			const accountability = { admin: true } as Accountability;
			await new services.UtilsService({ knex, schema: await getSchema(), accountability }).clearCache({
				system: true,
			});
		} catch (error) {
			logger.warn(
				`${logPrefix} could not clear Directus's caches after moving service users (${describeError(error)}); ` +
					`instances already running may report the licence as locked until POST /utils/cache/clear?system`,
			);
		}
	};

	const migrate = async (): Promise<void> => {
		try {
			const result = await migrateServiceUserProviders({ knex, provider, refusesCustomProviders });
			if (result === null || result.moved === 0) return;

			const reason = refusesCustomProviders
				? 'Directus without an SSO licence locks the project while active users keep a custom provider'
				: 'BCC_AUTH_USER_PROVIDER is "default"';
			const statuses =
				result.reactivated + result.keptInactive === 0
					? ''
					: `; ${result.reactivated} of them back from "inactive-license" (the licence resolution) to "active"` +
						(result.keptInactive > 0 ? `, ${result.keptInactive} left inactive as suspended before it` : '');

			logger.info(
				`${logPrefix} moved ${result.moved} service users from provider "${GUIDE_PROVIDER}" to "default" ` +
					`(${reason})${statuses}`,
			);

			if (refusesCustomProviders) await clearLicenceCache();
		} catch (error) {
			logger.error(
				`${logPrefix} could not move service users to provider "default" (${describeError(error)}); without an SSO ` +
					`licence Directus 12 locks the project while they keep provider "${GUIDE_PROVIDER}"`,
			);
		}
	};

	return { userProvider, migrate };
}
