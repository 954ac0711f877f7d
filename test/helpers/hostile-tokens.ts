/**
 * Generators of hostile bearer tokens, shared by the property-based unit tests and the end-to-end flood.
 *
 * Every token `hostileToken` yields must be refused (or passed through as not ours): each one carries at least one
 * flaw the extension has to catch, and everything else about it is valid, so that only that flaw can refuse it.
 * All tokens are made of visible ASCII, since that is all an Authorization header can carry.
 */
import { createHmac, verify } from 'node:crypto';
import fc from 'fast-check';
import { makeKey, signJws, type IssuerKey } from '../../dev/local-issuer.mjs';

export type { IssuerKey };

/** What the generators need to know of the issuer under attack. */
export interface HostileTarget {
	/** The `iss` the extension is configured for. */
	readonly issuer: string;
	readonly audience: string;
	/** A mapped scope: every token carries it, so a missing scope never hides the flaw under test. */
	readonly scope: string;
	/** The issuer's published keys: one RS256 and one ES256 key. */
	readonly keys: readonly IssuerKey[];
}

/** One generated token and how it was made (for counting, and to read a shrunk counterexample). */
export interface HostileToken {
	readonly label: string;
	readonly token: string;
}

/** Algorithms the generators' targets accept: the extension is configured with exactly these. */
export const TARGET_ALGORITHMS = ['RS256', 'ES256'] as const;

/** Depth at which `JSON.stringify` of `[[[…]]]` overflows the stack on Node 20 and 22 (about 4,200). */
const STACK_BREAKING_DEPTH = { min: 4_500, max: 5_400 };

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** Visible ASCII outside the base64url alphabet: what a careless decoder might skip or mistranslate. */
const FOREIGN = '+/=.!~*$%&#@;:,?()[]{}<>|^`\'"\\';

// Why module-level: RSA key generation takes tens of milliseconds, far too slow to do per generated token.
const attacker = {
	rsa: makeKey('RS256', 'attacker-rsa'),
	ec: makeKey('ES256', 'attacker-ec'),
};
const impostors = new Map<string, IssuerKey>();

/** An attacker key that claims the `kid` (and `alg`) of `key`: same name, different key. */
function impostorOf(key: IssuerKey): IssuerKey {
	let impostor = impostors.get(key.kid);
	if (!impostor) impostors.set(key.kid, (impostor = makeKey(key.alg, key.kid)));
	return impostor;
}

const encode = (value: unknown): string =>
	Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** An array nested `depth` deep, as JSON text (JSON.stringify itself cannot make it). */
export const deepJson = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

/**
 * JSON text of `claims` plus members given as raw JSON text (deep nesting, `1e400`): raw members come last, so
 * they win over a claim of the same name as JSON.parse keeps the last duplicate.
 */
function jsonWith(claims: Record<string, unknown>, raw: Record<string, string> = {}): string {
	const text = JSON.stringify(claims);
	const extra = Object.entries(raw).map(([name, value]) => `${JSON.stringify(name)}:${value}`);
	if (extra.length === 0) return text;
	return `${text.slice(0, -1)}${text === '{}' ? '' : ','}${extra.join(',')}}`;
}

/** Claims of a token the target would accept; an `undefined` override removes the claim. */
export function validClaims(target: HostileTarget, overrides: Record<string, unknown> = {}): Record<string, unknown> {
	const now = Math.floor(Date.now() / 1000);
	const claims: Record<string, unknown> = {
		iss: target.issuer,
		sub: 'fuzz@clients',
		aud: target.audience,
		iat: now,
		exp: now + 3600,
		gty: 'client-credentials',
		scope: target.scope,
		...overrides,
	};
	for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
	return claims;
}

/** Signs a header given as JSON text (nested deep, or with a non-string `kid`), which signJws encodes as it is. */
const signRawHeader = (header: string, payload: Record<string, unknown>, key: IssuerKey): string =>
	signJws(header as unknown as Record<string, unknown>, payload, key);

/** Signs with `key` under its own `alg` and `kid`, with header members added or (`undefined`) removed. */
function sign(key: IssuerKey, payload: string | Record<string, unknown>, header: Record<string, unknown> = {}): string {
	const full: Record<string, unknown> = { alg: key.alg, typ: 'JWT', kid: key.kid, ...header };
	for (const [name, value] of Object.entries(full)) if (value === undefined) delete full[name];
	return signJws(full, payload, key);
}

/** A token the target accepts, signed by its key `index`. */
export function validToken(target: HostileTarget, sub = 'fuzz@clients', index = 0): string {
	return sign(target.keys[index]!, validClaims(target, { sub }));
}

/**
 * Whether `token` carries a signature the issuer's key made over its first two segments, under an algorithm the
 * target allows, decoded as leniently as jws decodes it. The oracle for "was this token forged?".
 */
export function signedByIssuer(token: string, target: HostileTarget): boolean {
	const parts = token.split('.');
	if (parts.length !== 3) return false;
	const data = Buffer.from(`${parts[0]}.${parts[1]}`);
	// jwa pads and translates to standard base64, then lets Buffer skip whatever is not base64.
	const signature = Buffer.from(parts[2]!.replace(/-/g, '+').replace(/_/g, '/'), 'base64');

	return target.keys.some((key) => {
		try {
			return key.alg.startsWith('ES')
				? verify('sha256', data, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, signature)
				: verify('sha256', data, key.publicKey, signature);
		} catch {
			return false;
		}
	});
}

const subArb = fc.stringMatching(/^[a-z0-9]{1,12}$/).map((name) => `fuzz-${name}@clients`);
const issuerKeyIndex = fc.constantFrom(0, 1);

type Mutation = (token: string) => string;

/** A mutation that cannot apply (a second one after the first removed a segment) leaves the token as it is. */
const safely =
	(mutate: Mutation): Mutation =>
	(token) => {
		try {
			return mutate(token);
		} catch {
			return token;
		}
	};

/** Replaces the character at `position` (taken modulo the length) of segment `index`. */
const atSegment =
	(index: number, edit: (segment: string, position: number) => string, position: number): Mutation =>
	(token) => {
		const parts = token.split('.');
		const segment = parts[index] ?? '';
		parts[index] = edit(segment, segment.length === 0 ? 0 : position % segment.length);
		return parts.join('.');
	};

const mutation: fc.Arbitrary<[label: string, mutate: Mutation]> = fc.oneof(
	fc
		.tuple(fc.nat(2), fc.nat(), fc.constantFrom(...BASE64URL))
		.map(([index, position, char]): [string, Mutation] => [
			`flip char in segment ${index}`,
			atSegment(
				index,
				(s, p) => s.slice(0, p) + (s[p] === char ? (char === 'A' ? 'B' : 'A') : char) + s.slice(p + 1),
				position,
			),
		]),
	fc
		.tuple(fc.nat(2), fc.nat(), fc.constantFrom(...FOREIGN))
		.map(([index, position, char]): [string, Mutation] => [
			`foreign char ${char} in segment ${index}`,
			atSegment(index, (s, p) => s.slice(0, p) + char + s.slice(p), position),
		]),
	fc
		.tuple(fc.nat(2), fc.nat())
		.map(([index, position]): [string, Mutation] => [
			`delete char in segment ${index}`,
			atSegment(index, (s, p) => s.slice(0, p) + s.slice(p + 1), position),
		]),
	fc.nat().map((position): [string, Mutation] => ['truncate', (t) => t.slice(0, position % t.length)]),
	fc.constantFrom<[string, Mutation]>(
		['drop signature', (t) => t.split('.').slice(0, 2).join('.') + '.'],
		['two segments', (t) => t.split('.').slice(0, 2).join('.')],
		['one segment', (t) => t.split('.')[1]!],
		['four segments', (t) => `${t}.${t.split('.')[2]}`],
		['five segments', (t) => `${t}.e30.e30`],
		['empty payload', (t) => t.replace(/\.[^.]*\./, '..')],
		['swap header and payload', (t) => ((p) => `${p[1]}.${p[0]}.${p[2]}`)(t.split('.'))],
		['doubled dots', (t) => t.replace(/\./g, '..')],
		['standard base64', (t) => t.replace(/-/g, '+').replace(/_/g, '/')],
		[
			'padded segments',
			(t) =>
				t
					.split('.')
					.map((s) => s + '='.repeat((4 - (s.length % 4)) % 4 || 2))
					.join('.'),
		],
		['leading dot', (t) => `.${t}`],
		['trailing dot', (t) => `${t}.`],
		['bearer prefix inside the token', (t) => `Bearer${t}`],
	),
	fc.tuple(fc.nat(), fc.nat(7)).map(([byte, bit]): [string, Mutation] => [
		`flip signature bit ${bit}`,
		(t) => {
			const [h, p, s] = t.split('.') as [string, string, string];
			const bytes = Buffer.from(s, 'base64url');
			bytes[byte % bytes.length]! ^= 1 << bit;
			return `${h}.${p}.${bytes.toString('base64url')}`;
		},
	]),
	fc
		.constantFrom<[string, (claims: Record<string, unknown>) => Record<string, unknown>]>(
			['widen scope', (c) => ({ ...c, scope: `${c['scope']} svc#admin` })],
			['other sub', (c) => ({ ...c, sub: 'someone-else@clients' })],
			['extend exp', (c) => ({ ...c, exp: Number(c['exp']) + 86_400 * 365 })],
			['drop exp', ({ exp: _exp, ...c }) => c],
			['other aud', (c) => ({ ...c, aud: 'https://elsewhere.test' })],
			['same claims, reordered', (c) => Object.fromEntries(Object.entries(c).reverse())],
			['same claims, spaced', (c) => c],
		)
		.map(([label, edit]): [string, Mutation] => [
			`payload: ${label}, old signature`,
			(t) => {
				const [h, p, s] = t.split('.') as [string, string, string];
				const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
				const text = label.endsWith('spaced') ? JSON.stringify(edit(claims), null, 1) : JSON.stringify(edit(claims));
				return `${h}.${encode(text)}.${s}`;
			},
		]),
	fc
		.constantFrom<[string, Record<string, unknown>]>(
			['alg none', { alg: 'none' }],
			['alg HS256', { alg: 'HS256' }],
			['alg RS384', { alg: 'RS384' }],
			['alg ES256', { alg: 'ES256' }],
			['kid dropped', { kid: undefined }],
			['kid a number', { kid: 1 }],
			['typ changed', { typ: 'at+jwt' }],
		)
		.map(([label, change]): [string, Mutation] => [
			`header: ${label}, old signature`,
			(t) => {
				const [h, p, s] = t.split('.') as [string, string, string];
				const header = { ...(JSON.parse(Buffer.from(h, 'base64url').toString()) as object), ...change };
				return `${encode(header)}.${p}.${s}`;
			},
		]),
);

/**
 * A valid token with one random mutation, NOT filtered: a mutation may leave it validly signed (the last base64url
 * character carries spare bits). For the "only what the issuer signed is accepted" property, with `signedByIssuer`.
 */
export function mutatedToken(target: HostileTarget): fc.Arbitrary<HostileToken> {
	return fc
		.tuple(subArb, issuerKeyIndex, mutation, fc.option(mutation, { nil: undefined }))
		.map(([sub, index, [label, mutate], second]) => {
			let token = safely(mutate)(validToken(target, sub, index));
			if (second) token = safely(second[1])(token);
			return { label: `mutated: ${label}${second ? ` + ${second[0]}` : ''}`, token };
		});
}

/** One broken claim: a label, the claim's name, and a JSON text value that makes the token unacceptable on its own. */
type BrokenClaim = [label: string, claim: string, json: (target: HostileTarget) => string];

/** Broken claims of a few bytes: up to three of them fit in one token. */
const smallBrokenClaim: fc.Arbitrary<BrokenClaim> = fc.constantFrom<BrokenClaim>(
	['aud a number', 'aud', () => '42'],
	['aud an object', 'aud', (t) => JSON.stringify({ aud: t.audience })],
	['aud nested', 'aud', (t) => JSON.stringify([[t.audience]])],
	['aud empty list', 'aud', () => '[]'],
	['aud null', 'aud', () => 'null'],
	['aud true', 'aud', () => 'true'],
	['aud of another API', 'aud', () => '"https://elsewhere.test"'],
	['aud with a trailing slash', 'aud', (t) => JSON.stringify(`${t.audience}/`)],
	['scope an object', 'scope', (t) => JSON.stringify({ [t.scope]: true })],
	['scope a number', 'scope', () => '7'],
	['scope nested', 'scope', (t) => JSON.stringify([[t.scope]])],
	['scope empty', 'scope', () => '""'],
	['scope unmapped', 'scope', (t) => JSON.stringify(`${t.scope}x openid`)],
	['scope with a different case', 'scope', (t) => JSON.stringify(t.scope.toUpperCase())],
	['scope null', 'scope', () => 'null'],
	['exp a string', 'exp', () => JSON.stringify(String(Math.floor(Date.now() / 1000) + 3600))],
	['exp null', 'exp', () => 'null'],
	['exp an object', 'exp', () => '{"value":9999999999}'],
	['exp an array', 'exp', () => '[9999999999]'],
	['exp true', 'exp', () => 'true'],
	['exp in the past', 'exp', () => String(Math.floor(Date.now() / 1000) - 3600)],
	['exp zero', 'exp', () => '0'],
	['exp negative', 'exp', () => '-1e300'],
	['nbf in the future', 'nbf', () => String(Math.floor(Date.now() / 1000) + 3600)],
	['nbf a string', 'nbf', () => '"0"'],
	['iat a string', 'iat', () => '"1700000000"'],
	['iat an object', 'iat', () => '{}'],
	['iat null', 'iat', () => 'null'],
	['sub empty', 'sub', () => '""'],
	['sub of 256 characters', 'sub', () => JSON.stringify('s'.repeat(256))],
	['sub a number', 'sub', () => '12345'],
	['sub an object', 'sub', () => '{"id":"x"}'],
	['sub null', 'sub', () => 'null'],
	['sub a list', 'sub', () => '["a@clients"]'],
	['gty password', 'gty', () => '"password"'],
	['gty with an underscore', 'gty', () => '"client_credentials"'],
	['gty a list', 'gty', () => '["client-credentials"]'],
	['iss without its slash', 'iss', (t) => JSON.stringify(t.issuer.replace(/\/$/, ''))],
	['iss of Directus', 'iss', () => '"directus"'],
	['iss a list', 'iss', (t) => JSON.stringify([t.issuer])],
);

/** Broken claims of 10 KB or more: one per token, so that the token stays under Node's 16 KB header limit. */
const largeBrokenClaim: fc.Arbitrary<BrokenClaim> = fc.oneof(
	fc.constant<BrokenClaim>(['sub of 10 KB', 'sub', () => JSON.stringify('x'.repeat(10_240))]),
	fc
		.tuple(fc.constantFrom('sub', 'scope', 'aud', 'exp', 'iat'), fc.integer(STACK_BREAKING_DEPTH))
		.map(([claim, depth]): BrokenClaim => [`${claim} nested ${depth} deep`, claim, () => deepJson(depth)]),
);

/** One to three broken claims, at most one of them large, never two for the same claim. */
const brokenClaims: fc.Arbitrary<BrokenClaim[]> = fc.oneof(
	{
		weight: 3,
		arbitrary: fc.uniqueArray(smallBrokenClaim, { minLength: 1, maxLength: 3, selector: ([, claim]) => claim }),
	},
	{
		weight: 1,
		arbitrary: fc
			.tuple(largeBrokenClaim, smallBrokenClaim)
			.map(([large, small]) => (large[1] === small[1] ? [large] : [large, small])),
	},
);

/** Tokens the issuer itself signed, with valid structure but at least one claim of the wrong type or value. */
export function wrongClaimToken(target: HostileTarget): fc.Arbitrary<HostileToken> {
	return fc.tuple(subArb, issuerKeyIndex, brokenClaims).map(([sub, index, broken]) => {
		const raw = Object.fromEntries(broken.map(([, claim, json]) => [claim, json(target)]));
		const claims = validClaims(target, { sub });
		for (const claim of Object.keys(raw)) delete claims[claim];
		return {
			label: `claims: ${broken.map(([label]) => label).join(' + ')}`,
			token: sign(target.keys[index]!, jsonWith(claims, raw)),
		};
	});
}

/** HS256 (or HS384/512) keyed with a rendering of the issuer's public key: the classic key-confusion attack. */
function hmacToken(
	target: HostileTarget,
	alg: 'HS256' | 'HS384' | 'HS512',
	secret: 'pem' | 'der' | 'jwk',
	sub: string,
) {
	const key = target.keys[0]!;
	const material =
		secret === 'pem'
			? (key.publicKey.export({ format: 'pem', type: 'spki' }) as string)
			: secret === 'der'
				? key.publicKey.export({ format: 'der', type: 'spki' })
				: JSON.stringify(key.publicJwk);
	const input = `${encode({ alg, typ: 'JWT', kid: key.kid })}.${encode(validClaims(target, { sub }))}`;
	return `${input}.${createHmac(`sha${alg.slice(2)}`, material)
		.update(input)
		.digest('base64url')}`;
}

/** Algorithm confusion: `none`, HMAC, algorithms outside the allow-list or not the key's, non-string `alg`. */
export function algorithmToken(target: HostileTarget): fc.Arbitrary<HostileToken> {
	const [rsa, ec] = target.keys as [IssuerKey, IssuerKey];

	// Weighted so that the one stack-breaking game does not crowd out the twenty-odd others.
	const games: fc.Arbitrary<[string, (sub: string) => string]> = fc.oneof(
		{
			weight: 6,
			arbitrary: fc.constantFrom<[string, (sub: string) => string]>(
				[
					'alg none, no signature',
					(sub) => `${encode({ alg: 'none', kid: rsa.kid })}.${encode(validClaims(target, { sub }))}.`,
				],
				['alg None, signature kept', (sub) => resign(validToken(target, sub), { alg: 'None' })],
				['alg NONE, no kid', (sub) => `${encode({ alg: 'NONE' })}.${encode(validClaims(target, { sub }))}.`],
				['HS256 keyed with the PEM', (sub) => hmacToken(target, 'HS256', 'pem', sub)],
				['HS384 keyed with the DER', (sub) => hmacToken(target, 'HS384', 'der', sub)],
				['HS512 keyed with the JWK', (sub) => hmacToken(target, 'HS512', 'jwk', sub)],
				['RS384 by the issuer key', (sub) => sign({ ...rsa, alg: 'RS384' }, validClaims(target, { sub }))],
				['RS512 by the issuer key', (sub) => sign({ ...rsa, alg: 'RS512' }, validClaims(target, { sub }))],
				['PS256 by the issuer key', (sub) => sign({ ...rsa, alg: 'PS256' }, validClaims(target, { sub }))],
				['ES384 by the issuer EC key', (sub) => sign({ ...ec, alg: 'ES384' }, validClaims(target, { sub }))],
				['ES256 header on the RSA kid', (sub) => sign(attacker.ec, validClaims(target, { sub }), { kid: rsa.kid })],
				['RS256 header on the EC kid', (sub) => sign(attacker.rsa, validClaims(target, { sub }), { kid: ec.kid })],
				[
					'RS256 header on the EC kid, issuer RSA key',
					(sub) => sign(rsa, validClaims(target, { sub }), { kid: ec.kid }),
				],
				['ES256 on the EC kid, attacker key', (sub) => sign(impostorOf(ec), validClaims(target, { sub }))],
				['rs256 lower case', (sub) => sign(rsa, validClaims(target, { sub }), { alg: 'rs256' })],
				['RS256 with a trailing space', (sub) => sign(rsa, validClaims(target, { sub }), { alg: 'RS256 ' })],
				['alg missing', (sub) => sign(rsa, validClaims(target, { sub }), { alg: undefined })],
				['alg null', (sub) => sign(rsa, validClaims(target, { sub }), { alg: null })],
				['alg a list', (sub) => sign(rsa, validClaims(target, { sub }), { alg: ['RS256'] })],
				['alg an object', (sub) => sign(rsa, validClaims(target, { sub }), { alg: { name: 'RS256' } })],
				['alg a number', (sub) => sign(rsa, validClaims(target, { sub }), { alg: 256 })],
				[
					'embedded attacker jwk',
					(sub) => sign(attacker.rsa, validClaims(target, { sub }), { kid: rsa.kid, jwk: attacker.rsa.publicJwk }),
				],
				[
					'jku to the attacker',
					(sub) =>
						sign(attacker.rsa, validClaims(target, { sub }), { kid: rsa.kid, jku: 'http://127.0.0.1:9/jwks.json' }),
				],
				[
					'x5u to the attacker',
					(sub) =>
						sign(attacker.rsa, validClaims(target, { sub }), { kid: rsa.kid, x5u: 'http://127.0.0.1:9/cert.pem' }),
				],
				[
					'crit b64 false',
					(sub) => sign(attacker.rsa, validClaims(target, { sub }), { kid: rsa.kid, b64: false, crit: ['b64'] }),
				],
			),
		},
		{
			weight: 1,
			arbitrary: fc
				.integer(STACK_BREAKING_DEPTH)
				.map((depth): [string, (sub: string) => string] => [
					`alg nested ${depth} deep`,
					(sub) =>
						signRawHeader(
							`{"typ":"JWT","kid":${JSON.stringify(rsa.kid)},"alg":${deepJson(depth)}}`,
							validClaims(target, { sub }),
							rsa,
						),
				]),
		},
	);

	return fc.tuple(subArb, games).map(([sub, [label, make]]) => ({ label: `algorithm: ${label}`, token: make(sub) }));
}

/** `kid` games: wrong types, unknown, another key's, missing (the issuer has two keys), an impostor's. */
export function kidToken(target: HostileTarget): fc.Arbitrary<HostileToken> {
	const [rsa, ec] = target.keys as [IssuerKey, IssuerKey];
	const kidValue: fc.Arbitrary<[string, string]> = fc.oneof(
		{
			weight: 4,
			arbitrary: fc.constantFrom<[string, string]>(
				['a number', '7'],
				['zero', '0'],
				['a huge number', '1e400'],
				['the RSA kid in a list', JSON.stringify([rsa.kid])],
				['an object', JSON.stringify({ kid: rsa.kid })],
				['null', 'null'],
				['true', 'true'],
				['empty', '""'],
				['__proto__', '"__proto__"'],
				['constructor', '"constructor"'],
				['toString', '"toString"'],
				['5 KB long', JSON.stringify('k'.repeat(5_000))],
				['the RSA kid with a NUL', JSON.stringify(`${rsa.kid}\u0000`)],
				['the RSA kid, different case', JSON.stringify(rsa.kid.toUpperCase())],
			),
		},
		{
			weight: 2,
			arbitrary: fc
				.stringMatching(/^[A-Za-z0-9._-]{1,40}$/)
				.map((kid): [string, string] => ['random', JSON.stringify(kid)]),
		},
		{
			weight: 1,
			arbitrary: fc
				.integer(STACK_BREAKING_DEPTH)
				.map((depth): [string, string] => [`nested ${depth} deep`, deepJson(depth)]),
		},
	);

	const games: fc.Arbitrary<[string, (sub: string) => string]> = fc.oneof(
		fc
			.tuple(kidValue, fc.constantFrom('issuer', 'attacker'))
			.map(([[label, kid], signer]): [string, (sub: string) => string] => [
				`kid ${label}, signed by the ${signer} key`,
				(sub) =>
					signRawHeader(
						`{"alg":"RS256","typ":"JWT","kid":${kid}}`,
						validClaims(target, { sub }),
						signer === 'issuer' ? rsa : attacker.rsa,
					),
			]),
		fc.constantFrom<[string, (sub: string) => string]>(
			['kid missing, attacker key', (sub) => sign(attacker.rsa, validClaims(target, { sub }), { kid: undefined })],
			['kid missing, issuer key (two published)', (sub) => sign(rsa, validClaims(target, { sub }), { kid: undefined })],
			['kid of the other issuer key', (sub) => sign(ec, validClaims(target, { sub }), { kid: rsa.kid, alg: 'ES256' })],
			['kid of the RSA key, impostor', (sub) => sign(impostorOf(rsa), validClaims(target, { sub }))],
			['kid of the EC key, impostor', (sub) => sign(impostorOf(ec), validClaims(target, { sub }))],
			['kid of the attacker', (sub) => sign(attacker.rsa, validClaims(target, { sub }))],
		),
	);

	return fc.tuple(subArb, games).map(([sub, [label, make]]) => ({ label: `kid: ${label}`, token: make(sub) }));
}

/** Tokens from 2 KB up to about 16 KB (Node's default limit for all headers together). */
export function oversizedToken(target: HostileTarget): fc.Arbitrary<HostileToken> {
	const [rsa] = target.keys as [IssuerKey];
	// Characters of JSON to add for a token of about `size` characters: base64url makes 4 of every 3, and the
	// rest of the token (claims, header, an RSA signature) takes about 700.
	const room = (size: number) => Math.max(0, Math.floor((size - 700) * 0.75));
	const kinds: fc.Arbitrary<[string, (size: number, sub: string) => string]> = fc.constantFrom(
		[
			'padding claim, impostor signature',
			(size, sub) => sign(impostorOf(rsa), validClaims(target, { sub, pad: 'p'.repeat(room(size)) })),
		],
		[
			'padding header member, attacker key',
			(size, sub) => sign(attacker.rsa, validClaims(target, { sub }), { kid: rsa.kid, pad: 'h'.repeat(room(size)) }),
		],
		[
			'many scopes, none mapped, issuer key',
			(size, sub) =>
				sign(
					rsa,
					validClaims(target, {
						sub,
						scope: Array.from({ length: Math.floor(room(size) / 11) }, (_, i) => `scope:${i}`).join(' '),
					}),
				),
		],
		[
			'thousands of claims, tampered',
			(size, sub) => {
				const claims = validClaims(target, { sub });
				for (let i = 0; i < room(size) / 12; i++) claims[`c${i}`] = i;
				return resign(sign(rsa, claims), {}, { scope: `${target.scope} svc#admin` });
			},
		],
		[
			'base64url junk in three segments',
			(size, sub) =>
				`${encode({ alg: 'RS256', kid: rsa.kid })}.${encode(validClaims(target, { sub }))}.${'A'.repeat(Math.max(1, size - 500))}`,
		],
		['one long segment', (size) => 'e'.repeat(size)],
	);

	return fc
		.tuple(subArb, fc.integer({ min: 2_048, max: 16_000 }), kinds)
		.map(([sub, size, [label, make]]) => ({ label: `oversized: ${label}`, token: make(size, sub) }));
}

/** Junk shaped more or less like a JWT: random visible ASCII, random segments, JSON that is not an object. */
export function junkToken(target: HostileTarget): fc.Arbitrary<HostileToken> {
	const visible = fc.string({
		unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)),
		minLength: 1,
		maxLength: 300,
	});
	const segment = fc.string({ unit: fc.constantFrom(...BASE64URL), maxLength: 200 });
	const notAnObject = fc.constantFrom(
		'[]',
		'[1]',
		'"text"',
		'42',
		'null',
		'true',
		'{',
		'{"a":',
		'',
		'\u0000',
		'{"iss":',
	);
	const ours = encode({ iss: target.issuer, gty: 'client-credentials', sub: 'x' });

	return fc.oneof(
		visible.map((token) => ({ label: 'junk: visible ASCII', token })),
		fc
			.array(segment, { minLength: 1, maxLength: 6 })
			.map((parts) => ({ label: `junk: ${parts.length} random segments`, token: parts.join('.') })),
		fc
			.tuple(notAnObject, segment)
			.map(([json, sig]) => ({ label: `junk: header ${json}`, token: `${encode(json)}.${ours}.${sig}` })),
		fc.tuple(notAnObject, segment).map(([json, sig]) => ({
			label: `junk: payload ${json}`,
			token: `${encode({ alg: 'RS256', kid: target.keys[0]!.kid })}.${encode(json)}.${sig}`,
		})),
		fc.tuple(fc.integer(STACK_BREAKING_DEPTH), segment).map(([depth, sig]) => ({
			label: `junk: header nested ${depth} deep`,
			token: `${encode(`{"alg":"RS256","x":${deepJson(depth)}}`)}.${ours}.${sig}`,
		})),
	);
}

/** Every kind of hostile token; each must be refused or passed through, never accepted. */
export function hostileToken(target: HostileTarget): fc.Arbitrary<HostileToken> {
	return fc.oneof(
		// A mutation that leaves the issuer's signature intact is the issuer's token, not a hostile one.
		mutatedToken(target).filter(({ token }) => !signedByIssuer(token, target)),
		wrongClaimToken(target),
		algorithmToken(target),
		kidToken(target),
		oversizedToken(target),
		junkToken(target),
	);
}

/** Replaces the header and/or some claims of a signed token, keeping its signature. */
function resign(token: string, header: Record<string, unknown>, claims: Record<string, unknown> = {}): string {
	const [h, p, s] = token.split('.') as [string, string, string];
	const decode = (segment: string) => JSON.parse(Buffer.from(segment, 'base64url').toString()) as object;
	return `${encode({ ...decode(h), ...header })}.${encode({ ...decode(p), ...claims })}.${s}`;
}

/**
 * Runs `task` over `items` with at most `limit` running at once, in order of start; resolves with the results in
 * the order of `items`. Used to send floods of tokens without opening thousands of sockets at once.
 */
export async function mapWithConcurrency<T, R>(
	items: readonly T[],
	limit: number,
	task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
	const results = new Array<R>(items.length);
	let next = 0;

	const worker = async () => {
		while (next < items.length) {
			const index = next++;
			results[index] = await task(items[index]!, index);
		}
	};

	await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
	return results;
}
