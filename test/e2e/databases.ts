/**
 * The databases the end-to-end suite runs against: `BCC_E2E_DATABASES` (comma-separated: sqlite3, pg, mysql) or
 * all three. PostgreSQL and MariaDB are the local servers dev/directus-instance.mjs expects on 127.0.0.1.
 */

/** A database client Directus can run on, as `startDirectus({ database: { client } })` takes it. */
export type DatabaseClient = 'sqlite3' | 'pg' | 'mysql';

const KNOWN: readonly DatabaseClient[] = ['sqlite3', 'pg', 'mysql'];

/** The database clients to test, in the order given; an unknown name fails loudly rather than testing less. */
export function databaseClients(): DatabaseClient[] {
	const list = process.env['BCC_E2E_DATABASES'] ?? KNOWN.join(',');
	const clients = list
		.split(',')
		.map((client) => client.trim())
		.filter(Boolean);

	for (const client of clients) {
		if (!(KNOWN as readonly string[]).includes(client)) {
			throw new Error(`BCC_E2E_DATABASES names "${client}"; known: ${KNOWN.join(', ')}`);
		}
	}

	return clients as DatabaseClient[];
}

/** Every (Directus version, database) pair, for `describe.each`. */
export function versionDatabasePairs(versions: readonly string[]): [version: string, database: DatabaseClient][] {
	return versions.flatMap((version) => databaseClients().map((client): [string, DatabaseClient] => [version, client]));
}
