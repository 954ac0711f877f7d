/**
 * What the extension loaded with, checked once Directus is up: does the JWKS (or discovery) answer, and does every
 * role `BCC_AUTH_SCOPE_ROLES` names resolve. One log line each, so a wrong setting shows before the first client
 * calls. Runs in the background: no request waits for it.
 */
import type { Config } from './config.js';
import type { RoleResolver } from './directus/roles.js';
import type { KeyResolver } from './token/jwks.js';
import { describeError } from './token/printable.js';

export interface StartupReportOptions {
	config: Config;
	keys: KeyResolver;
	roles: RoleResolver;
	logger: { info(message: string): void; error(message: string): void };
}

/** Runs both checks; never throws. Role refusals are logged by the role resolver itself, naming the variable. */
export async function reportStartup({ config, keys, roles, logger }: StartupReportOptions): Promise<void> {
	const where = config.discovery
		? `the JWKS found by OpenID discovery (BCC_AUTH_DISCOVERY) from ${config.issuer}`
		: `the JWKS at ${config.jwksUri} (BCC_AUTH_JWKS_URI)`;

	const jwks = keys.preload().then(
		(count) =>
			count > 0
				? logger.info(`start-up check: ${where} answers with ${count} signing key${count === 1 ? '' : 's'}`)
				: logger.error(`start-up check: ${where} answers with no signing key; every token will be refused`),
		(error: unknown) =>
			logger.error(
				`start-up check: ${where} could not be fetched (${describeError(error)}); tokens are refused until it can`,
			),
	);

	const references = [...new Set(config.scopeRoles.map(({ role }) => role))];
	const resolved = Promise.allSettled(references.map((reference) => roles.resolve(reference))).then((results) => {
		const failed = results.filter((result) => result.status === 'rejected');
		const faults = failed.filter((result) => (result.reason as { code?: string }).code !== 'unknown_role');

		if (faults.length > 0) {
			logger.error(`start-up check: BCC_AUTH_SCOPE_ROLES could not be checked: ${describeError(faults[0]!.reason)}`);
		} else if (failed.length === 0 && references.length > 0) {
			logger.info(`start-up check: BCC_AUTH_SCOPE_ROLES names ${references.length} role(s), all of which exist`);
		}
	});

	await Promise.all([jwks, resolved]);
}
