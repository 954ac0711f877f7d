/**
 * `npm run token -- --scope "svc#read svc#write" [--client demo-cli]`: asks the running demo issuer
 * (`npm start`) for a client-credentials token and prints it. Development only.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../dev/directus-instance.mjs';

const { values } = parseArgs({
	options: {
		scope: { type: 'string' },
		client: { type: 'string', default: 'demo-cli' },
	},
});

let state;

try {
	state = JSON.parse(await readFile(join(REPO_ROOT, '.demo/state.json'), 'utf8'));
} catch {
	console.error('No running demo found: start it with `npm start` first.');
	process.exit(1);
}

const client = state.clients[values.client];

if (!client) {
	console.error(`Unknown demo client "${values.client}"; known: ${Object.keys(state.clients).join(', ')}`);
	process.exit(1);
}

const response = await fetch(`${state.issuer}/oauth/token`, {
	method: 'POST',
	headers: { 'content-type': 'application/json' },
	body: JSON.stringify({
		grant_type: 'client_credentials',
		client_id: values.client,
		client_secret: client.secret,
		audience: state.audience,
		...(values.scope === undefined ? {} : { scope: values.scope }),
	}),
});

const body = await response.json();

if (!response.ok) {
	console.error(`The demo issuer refused: ${response.status} ${JSON.stringify(body)}`);
	process.exit(1);
}

console.log(body.access_token);
