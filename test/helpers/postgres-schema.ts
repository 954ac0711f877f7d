/**
 * A schema of its own on the local PostgreSQL (127.0.0.1:5432, user postgres, as the end-to-end suite uses), with a
 * `directus_users` table of the columns a unit test needs; dropped by `drop()`.
 */
import { randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';

export interface TestSchema {
	readonly knex: Knex;
	/** Another connection pool into the same schema (another "instance"); destroy it when done. */
	connect(): Knex;
	drop(): Promise<void>;
}

/** Creates the schema and the users table (`extra` adds columns); `knex` works inside it. */
export async function createUsersSchema(
	extra: (table: Knex.CreateTableBuilder) => void = () => undefined,
): Promise<TestSchema> {
	const schema = `bcc_unit_${randomBytes(6).toString('hex')}`;
	const connect = () =>
		knexFactory({
			client: 'pg',
			connection: { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' },
			searchPath: [schema],
			pool: { min: 0, max: 2 },
		});
	const knex = connect();

	await knex.raw('CREATE SCHEMA ??', [schema]);
	await knex.schema.createTable('directus_users', (table) => {
		table.uuid('id').primary();
		table.string('provider', 128).notNullable().defaultTo('default');
		table.string('status', 16).notNullable().defaultTo('active');
		table.string('external_identifier', 255).unique();
		extra(table);
	});
	await knex.schema.createTable('directus_revisions', (table) => {
		table.increments('id');
		table.string('collection', 64);
		table.string('item', 255);
		table.json('delta');
	});

	return {
		knex,
		connect,
		async drop() {
			await knex.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
			await knex.destroy();
		},
	};
}
