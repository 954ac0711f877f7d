/**
 * `npm run token -- --scope "svc#read svc#write" [--client demo-cli]`: asks the running demo's authorization server
 * (`npm start`) for a client-credentials token, the standard way, and prints it. Development only.
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

// Without --scope, every scope the client is registered with: oidc-provider grants only the scopes requested.
const form = new URLSearchParams({
	grant_type: 'client_credentials',
	resource: state.resource,
	scope: values.scope ?? client.scopes.join(' '),
});

// HTTP Basic client authentication (RFC 6749 §2.3.1: id and secret form-encoded first), as the server expects.
const basic = Buffer.from(`${encodeURIComponent(values.client)}:${encodeURIComponent(client.secret)}`).toString(
	'base64',
);
const response = await fetch(state.tokenEndpoint, {
	method: 'POST',
	headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
	body: form,
}).catch(() => undefined);

if (!response) {
	console.error(`The authorization server at ${state.tokenEndpoint} does not answer: is \`npm start\` still running?`);
	process.exit(1);
}

const body = await response.json();

if (!response.ok) {
	console.error(`The authorization server refused: ${response.status} ${JSON.stringify(body)}`);
	process.exit(1);
}

console.log(body.access_token);
