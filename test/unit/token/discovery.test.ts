/**
 * OpenID discovery against a real HTTP server on 127.0.0.1: the document is fetched once and kept, refused when it
 * names another issuer or no usable jwks_uri, when it is missing, slow or redirected, and fetched again after a failure.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { createJwksUriDiscovery, joinUrl } from '../../../src/token/discovery.js';

const DOCUMENT_PATH = '/tenant/.well-known/openid-configuration';

let server: Server;
let origin: string;
/** The issuer the tests configure; the server answers under its path. */
let issuer: string;
/** Requests by path. */
let hits: Map<string, number>;
let respond: (request: IncomingMessage, response: ServerResponse) => void;
let errors: string[];

beforeEach(async () => {
	hits = new Map();
	errors = [];
	respond = (_, response) => sendJson(response, 200, { issuer, jwks_uri: `${origin}/tenant/jwks.json` });
	server = createServer((request, response) => {
		hits.set(request.url ?? '', (hits.get(request.url ?? '') ?? 0) + 1);
		respond(request, response);
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	issuer = `${origin}/tenant/`;
});

afterEach(async () => {
	// A test's server may hold a request it never answers.
	if (!server.listening) return;
	server.closeAllConnections();
	await new Promise((resolve) => server.close(resolve));
});

function sendJson(response: ServerResponse, status: number, body: unknown): void {
	response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function discovery(timeoutMs = 2000) {
	return createJwksUriDiscovery({ issuer, timeoutMs, onError: (message) => errors.push(message) });
}

async function failureOf(promise: Promise<unknown>): Promise<string> {
	const error = await promise.then(
		() => undefined,
		(e: unknown) => e,
	);
	expect(error).toBeInstanceOf(Error);
	return (error as Error).message;
}

test('the jwks_uri is fetched once and kept, whoever asks and however often', async () => {
	const discover = discovery();
	const answers = await Promise.all([discover(), discover(), discover()]);
	expect(answers).toEqual(Array(3).fill(`${origin}/tenant/jwks.json`));
	await expect(discover()).resolves.toBe(`${origin}/tenant/jwks.json`);
	expect(hits.get(DOCUMENT_PATH)).toBe(1);
	expect(errors).toEqual([]);
});

test('an issuer without a trailing slash gets the same document address', async () => {
	issuer = `${origin}/tenant`;
	await expect(discovery()()).resolves.toBe(`${origin}/tenant/jwks.json`);
	expect(hits.get(DOCUMENT_PATH)).toBe(1);
});

test.each<[string, (issuer: string) => unknown, RegExp]>([
	[
		'names another issuer',
		() => ({ issuer: 'https://evil.example/', jwks_uri: 'https://evil.example/jwks' }),
		/names issuer "https:\/\/evil\.example\/"/,
	],
	[
		'names the issuer without its trailing slash',
		(iss) => ({ issuer: iss.slice(0, -1), jwks_uri: `${iss}jwks.json` }),
		/names issuer/,
	],
	['names no issuer', (iss) => ({ jwks_uri: `${iss}jwks.json` }), /names issuer -/],
	['has no jwks_uri', (iss) => ({ issuer: iss }), /no usable jwks_uri/],
	['has a jwks_uri that is not a string', (iss) => ({ issuer: iss, jwks_uri: 42 }), /no usable jwks_uri/],
	['has a relative jwks_uri', (iss) => ({ issuer: iss, jwks_uri: '/tenant/jwks.json' }), /no usable jwks_uri/],
	[
		'has a jwks_uri that is not http(s)',
		(iss) => ({ issuer: iss, jwks_uri: 'file:///etc/passwd' }),
		/no usable jwks_uri/,
	],
])('a document that %s is refused', async (_, document, reason) => {
	respond = (__, response) => sendJson(response, 200, document(issuer));
	const message = await failureOf(discovery()());
	expect(message).toMatch(/^BCC_AUTH_DISCOVERY: /);
	expect(message).toMatch(reason);
	expect(errors).toEqual([message]);
});

test.each([404, 500, 503])('a document answered with %i is refused', async (status) => {
	respond = (__, response) => sendJson(response, status, { issuer, jwks_uri: `${origin}/tenant/jwks.json` });
	const message = await failureOf(discovery()());
	expect(message).toBe(`BCC_AUTH_DISCOVERY: ${origin}${DOCUMENT_PATH} answered ${status}`);
	expect(errors).toEqual([message]);
});

test('a document that is not JSON is refused', async () => {
	respond = (__, response) => response.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
	expect(await failureOf(discovery()())).toMatch(/^BCC_AUTH_DISCOVERY: /);
	expect(errors).toHaveLength(1);
});

test('a server that never answers is abandoned after timeoutMs', async () => {
	respond = () => undefined;
	const started = performance.now();
	const message = await failureOf(discovery(200)());
	const elapsed = performance.now() - started;
	console.log(`discovery timeout of 200 ms gave up after ${elapsed.toFixed(0)} ms`);
	expect(message).toMatch(/^BCC_AUTH_DISCOVERY: .*timeout/i);
	expect(errors).toEqual([message]);
});

test('an issuer that refuses connections is reported, and tried again on the next call', async () => {
	const discover = discovery();
	server.closeAllConnections();
	await new Promise((resolve) => server.close(resolve));

	expect(await failureOf(discover())).toMatch(/^BCC_AUTH_DISCOVERY: /);
	expect(await failureOf(discover())).toMatch(/^BCC_AUTH_DISCOVERY: /);
	expect(errors).toHaveLength(2);
});

test('a redirect is refused, not followed', async () => {
	respond = (request, response) => {
		if (request.url === DOCUMENT_PATH) response.writeHead(302, { location: '/elsewhere' }).end();
		else sendJson(response, 200, { issuer, jwks_uri: `${origin}/tenant/jwks.json` });
	};
	// The reason is named, not only Node's bare "fetch failed".
	expect(await failureOf(discovery()())).toMatch(/^BCC_AUTH_DISCOVERY: fetch failed: .*redirect/);
	expect(hits.get('/elsewhere')).toBeUndefined();
	expect(errors).toHaveLength(1);
});

test('a failure is not kept: the next call fetches again, and a success is then kept', async () => {
	let down = true;
	respond = (__, response) =>
		down ? sendJson(response, 503, {}) : sendJson(response, 200, { issuer, jwks_uri: `${origin}/tenant/jwks.json` });
	const discover = discovery();

	await failureOf(discover());
	await failureOf(discover());
	expect(hits.get(DOCUMENT_PATH)).toBe(2);
	expect(errors).toHaveLength(2);
	expect(errors.every((message) => message.startsWith('BCC_AUTH_DISCOVERY: '))).toBe(true);

	down = false;
	await expect(discover()).resolves.toBe(`${origin}/tenant/jwks.json`);
	await expect(discover()).resolves.toBe(`${origin}/tenant/jwks.json`);
	expect(hits.get(DOCUMENT_PATH)).toBe(3);
	expect(errors).toHaveLength(2);
});

test('callers waiting on one failed fetch share it and its single report', async () => {
	respond = (__, response) => sendJson(response, 500, {});
	const discover = discovery();
	const messages = await Promise.all([failureOf(discover()), failureOf(discover())]);
	expect(new Set(messages).size).toBe(1);
	expect(hits.get(DOCUMENT_PATH)).toBe(1);
	expect(errors).toHaveLength(1);
});

test.each([
	['https://tenant.example.com/', 'https://tenant.example.com/.well-known/openid-configuration'],
	['https://tenant.example.com', 'https://tenant.example.com/.well-known/openid-configuration'],
	['https://example.com/realms/one//', 'https://example.com/realms/one/.well-known/openid-configuration'],
])('joinUrl(%s) puts exactly one slash before the path', (base, joined) => {
	expect(joinUrl(base, '/.well-known/openid-configuration')).toBe(joined);
	expect(joinUrl(base, '.well-known/openid-configuration')).toBe(joined);
});
