/**
 * Seeds a Directus instance through its REST API with the access model the demo, the benchmark and the
 * end-to-end tests use. DEVELOPMENT ONLY.
 *
 * - `articles` (3 items) and `secrets` (1 item)
 * - `API Readers`: may read articles
 * - `API Writers`: child of API Readers (inherits reading), may also create and update articles
 * - `API Admins`: an admin-access policy
 */

/** @param {{ admin: (path: string, method?: string, body?: unknown) => Promise<any> }} directus */
export async function seedAccessModel(directus) {
	for (const collection of ['articles', 'secrets']) {
		await directus.admin('/collections', 'POST', {
			collection,
			schema: {},
			meta: { icon: 'article' },
			fields: [
				{
					field: 'id',
					type: 'integer',
					meta: { hidden: true },
					schema: { is_primary_key: true, has_auto_increment: true },
				},
				{ field: 'title', type: 'string', meta: {}, schema: {} },
			],
		});
	}

	await directus.admin('/items/articles', 'POST', [{ title: 'First' }, { title: 'Second' }, { title: 'Third' }]);
	await directus.admin('/items/secrets', 'POST', [{ title: 'Hidden' }]);

	const readArticles = await directus.admin('/policies', 'POST', {
		name: 'Read articles',
		icon: 'visibility',
		admin_access: false,
		app_access: false,
		permissions: [{ collection: 'articles', action: 'read', fields: ['*'] }],
	});

	const writeArticles = await directus.admin('/policies', 'POST', {
		name: 'Write articles',
		icon: 'edit',
		admin_access: false,
		app_access: false,
		permissions: ['create', 'update'].map((action) => ({ collection: 'articles', action, fields: ['*'] })),
	});

	const apiAdmin = await directus.admin('/policies', 'POST', {
		name: 'API admin',
		icon: 'shield',
		admin_access: true,
		app_access: true,
	});

	const readers = await directus.admin('/roles', 'POST', {
		name: 'API Readers',
		policies: [{ policy: readArticles.id }],
	});
	const writers = await directus.admin('/roles', 'POST', {
		name: 'API Writers',
		parent: readers.id,
		policies: [{ policy: writeArticles.id }],
	});
	const admins = await directus.admin('/roles', 'POST', { name: 'API Admins', policies: [{ policy: apiAdmin.id }] });

	return {
		roles: { readers: readers.id, writers: writers.id, admins: admins.id },
		policies: { readArticles: readArticles.id, writeArticles: writeArticles.id, apiAdmin: apiAdmin.id },
	};
}

/** The scope mapping the seeded roles go with, by role name (highest first: the first match wins). */
export const SEED_SCOPE_ROLES = 'svc#admin=API Admins,svc#write=API Writers,svc#read=API Readers';

/**
 * The extension's required variables for a local issuer and the seeded roles.
 * @param {{ issuer: string, audience: string }} issuer
 */
export function seededExtensionEnv(issuer) {
	return {
		BCC_AUTH_ISSUER: issuer.issuer,
		BCC_AUTH_AUDIENCE: issuer.audience,
		BCC_AUTH_SCOPE_ROLES: SEED_SCOPE_ROLES,
	};
}
