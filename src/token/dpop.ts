/**
 * DPoP proof verification (RFC 9449 §4.3 and §7.1): the proof a client sends beside a sender-constrained token.
 * Pure of Directus; the only importer of `jose`. The replay store is injected.
 */
import {
	calculateJwkThumbprint,
	decodeProtectedHeader,
	EmbeddedJWK,
	errors,
	jwtVerify,
	type CryptoKey,
	type FlattenedJWSInput,
	type GetKeyFunction,
	type JWK,
	type JWSHeaderParameters,
} from 'jose';
import { TokenRejectedError } from './token-rejected-error.js';

/** Asymmetric JWS algorithms a proof may use. `none` and HMAC never: the proof's key is public by design. */
export const DPOP_ALGORITHMS = [
	'ES256',
	'ES384',
	'ES512',
	'EdDSA',
	'Ed25519',
	'PS256',
	'PS384',
	'PS512',
	'RS256',
	'RS384',
	'RS512',
] as const;

export type DpopAlgorithm = (typeof DPOP_ALGORITHMS)[number];

/** Remembers the proofs already used; `claim` is atomic, so two instances never both accept one proof. */
export interface ReplayStore {
	/** `true` the first time `key` is claimed, `false` while an earlier claim lives; kept until `expiresAt` (ms). */
	claim(key: string, expiresAt: number): Promise<boolean>;
}

export interface DpopVerifierOptions {
	/** Allowed proof algorithms. Default in `config.ts`: ES256, EdDSA, PS256, RS256. */
	algorithms: readonly DpopAlgorithm[];
	/** How far, in seconds, a proof's `iat` may be from now, before clock tolerance. */
	iatWindow: number;
	/** Seconds of leeway added to the `iat` window. */
	clockTolerance: number;
	replay: ReplayStore;
	/** Epoch milliseconds; tests freeze it. */
	now?: () => number;
}

/** What one request presents: its proofs and what they must match. */
export interface DpopRequest {
	/** Every `DPoP` header value of the request; exactly one is valid. */
	readonly proofs: readonly string[];
	/** The HTTP method, as received. */
	readonly method: string;
	/** The URL the client addressed, as the server's public address plus the request path. */
	readonly url: string;
	/** base64url(SHA-256(access token)): what the proof's `ath` must equal. */
	readonly accessTokenHash: string;
	/** The token's `cnf.jkt`: the RFC 7638 SHA-256 thumbprint of the key the proof must be signed with. */
	readonly jkt: string;
}

export type DpopVerifier = (request: DpopRequest) => Promise<void>;

/** Longest proof read: a proof carries one public key; an RSA-4096 JWK and its claims fit well within this. */
const MAX_PROOF_LENGTH = 8192;
/** Longest `jti` kept: the store holds a hash, but a megabyte of `jti` would still be hashed on every request. */
const MAX_JTI_LENGTH = 256;
/** Proof keys remembered, imported, with their thumbprints: more than the clients one instance serves at once. */
const KNOWN_KEYS_MAX = 1000;

/** JWK members that only a private or symmetric key has (RFC 7517 §9.3, RFC 7518 §6). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/**
 * Creates the verifier. It throws a `TokenRejectedError` with a `dpop_*` code for a bad proof, and lets a replay
 * store failure through as it is (the handler answers 503: the proof may be good, the store could not say).
 */
export function createDpopVerifier(options: DpopVerifierOptions): DpopVerifier {
	const { algorithms, iatWindow, clockTolerance, replay, now = Date.now } = options;
	const window = iatWindow + clockTolerance;
	const knownKeys = new KnownKeys();

	return async ({ proofs, method, url, accessTokenHash, jkt }) => {
		if (proofs.length === 0) throw reject('dpop_proof_missing', 'the request carries no DPoP proof');
		// Why (RFC 9449 §4.3 step 1): with two proofs, which one was checked would be up to the parser.
		if (proofs.length > 1) throw reject('dpop_proof_malformed', 'the request carries more than one DPoP header');

		const proof = proofs[0]!;
		if (proof.length > MAX_PROOF_LENGTH) throw reject('dpop_proof_malformed', 'the DPoP proof is too long');

		let header;
		try {
			header = decodeProtectedHeader(proof);
		} catch {
			throw reject('dpop_proof_malformed', 'the DPoP proof is not a JWS');
		}

		if (proof.split('.').length !== 3) throw reject('dpop_proof_malformed', 'the DPoP proof is not a compact JWS');

		// Checked before any key import or signature, so a wrong proof costs nothing but a header parse.
		// A media type: case-insensitive, and `application/` may be left out (RFC 7515 §4.1.9).
		if (typeof header.typ !== 'string' || header.typ.toLowerCase().replace(/^application\//, '') !== 'dpop+jwt') {
			throw reject('dpop_proof_type', 'the DPoP proof is not typed dpop+jwt');
		}

		if (typeof header.alg !== 'string' || !(algorithms as readonly string[]).includes(header.alg)) {
			throw reject('dpop_algorithm_not_allowed', `the DPoP proof's alg ${printableAlg(header.alg)} is not allowed`);
		}

		const jwk = header.jwk as JWK | undefined;
		if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
			throw reject('dpop_jwk_invalid', 'the DPoP proof carries no jwk');
		}

		// Why: a private key in a header is a leaked key, and a symmetric one would let anyone who reads it sign.
		if (PRIVATE_MEMBERS.some((member) => member in jwk)) {
			throw reject('dpop_jwk_invalid', 'the DPoP proof carries a private or symmetric key');
		}

		const keyId = keyIdOf(header.alg, jwk);
		if (keyId === undefined) throw reject('dpop_jwk_invalid', 'the DPoP proof carries a jwk that is not plain JSON');
		const known = knownKeys.get(keyId);

		let thumbprint = known?.thumbprint;
		try {
			thumbprint ??= await calculateJwkThumbprint(jwk, 'sha256');
		} catch {
			throw reject('dpop_jwk_invalid', 'the DPoP proof carries a jwk without the members of its key type');
		}

		// The binding itself (RFC 9449 §6.1): the token was issued for this key and no other.
		if (thumbprint !== jkt)
			throw reject('dpop_jkt_mismatch', "the DPoP proof's key is not the one the token is bound to");

		let payload;
		try {
			// Why a cache: importing the JWK costs more than verifying the signature, and a client signs every proof
			// with the same key. Keyed by the jwk's exact text and alg, filled only by jose's own import.
			const key: CryptoKey | GetKeyFunction<JWSHeaderParameters, FlattenedJWSInput> =
				known?.key ??
				(async (protectedHeader, token) => {
					const imported = await EmbeddedJWK(protectedHeader, token);
					knownKeys.set(keyId, { thumbprint, key: imported });
					return imported;
				});
			({ payload } = await jwtVerify(proof, key, {
				typ: 'dpop+jwt',
				algorithms: [...algorithms],
				clockTolerance,
				currentDate: new Date(now()),
			}));
		} catch (error) {
			throw fromJose(error);
		}

		if (payload.htm !== method) throw reject('dpop_htm_mismatch', "the DPoP proof's htm is not the request method");

		// Compared after normalisation (RFC 9449 §4.3 step 9), never as raw strings.
		const htu = typeof payload.htu === 'string' ? normalizeHtu(payload.htu) : undefined;
		if (htu === undefined || htu !== normalizeHtu(url)) {
			throw reject('dpop_htu_mismatch', "the DPoP proof's htu is not the request URL");
		}

		if (payload.ath !== accessTokenHash)
			throw reject('dpop_ath_mismatch', "the DPoP proof's ath is not the token's hash");

		const iat = payload.iat;
		const nowSeconds = now() / 1000;
		if (typeof iat !== 'number' || !Number.isFinite(iat))
			throw reject('dpop_proof_malformed', 'the DPoP proof has no iat');
		if (Math.abs(nowSeconds - iat) > window) {
			throw reject('dpop_iat_out_of_window', `the DPoP proof's iat is more than ${window} s from now`);
		}

		const jti = payload.jti;
		if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH) {
			throw reject('dpop_proof_malformed', 'the DPoP proof has no usable jti');
		}

		// Last, so that a proof refused for another reason does not use up its jti. Kept until the proof is stale
		// anyway; keyed with the key's thumbprint, so one client cannot use up another's jti.
		if (!(await replay.claim(`${jkt}.${jti}`, (iat + window) * 1000))) {
			throw reject('dpop_replayed', 'the DPoP proof was already used');
		}
	};
}

/** How long a replay store must keep a claim from the moment it is made, whatever the proof's `iat`. */
export function replayRetentionMs(iatWindow: number, clockTolerance: number): number {
	// A proof is first seen at the earliest `window` before its iat and is stale `window` after it.
	return 2 * (iatWindow + clockTolerance) * 1000;
}

/**
 * The URL without query and fragment, normalised by RFC 3986 §6.2.2 and §6.2.3: scheme and host lower-cased,
 * default port and dot segments dropped, empty path as `/`, percent-encoding upper-cased, unreserved characters
 * decoded. `undefined` for anything that is not an absolute http(s) URL.
 */
export function normalizeHtu(value: string): string | undefined {
	let url: URL;
	try {
		url = new URL(value);
	} catch {
		return undefined;
	}

	if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;

	const path = url.pathname.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
		const character = String.fromCharCode(parseInt(hex, 16));
		return /^[A-Za-z0-9\-._~]$/.test(character) ? character : `%${hex.toUpperCase()}`;
	});

	return `${url.protocol}//${url.host}${path}`;
}

/** Imported proof keys by alg and exact JWK text, bounded: the oldest goes first. */
class KnownKeys {
	private readonly entries = new Map<string, { thumbprint: string; key: CryptoKey }>();

	get(id: string) {
		return this.entries.get(id);
	}

	set(id: string, entry: { thumbprint: string; key: CryptoKey }): void {
		if (this.entries.size >= KNOWN_KEYS_MAX) this.entries.delete(this.entries.keys().next().value!);
		this.entries.set(id, entry);
	}
}

/** The cache key of a proof key: its alg and exact JSON; `undefined` for a jwk JSON.stringify cannot print. */
function keyIdOf(alg: string, jwk: JWK): string | undefined {
	try {
		// Why the try: the header is unverified, and a jwk nested thousands deep makes JSON.stringify throw.
		return `${alg}.${JSON.stringify(jwk)}`;
	} catch {
		return undefined;
	}
}

function reject(code: ConstructorParameters<typeof TokenRejectedError>[0], message: string): TokenRejectedError {
	return new TokenRejectedError(code, message);
}

/** Maps jose's stable error codes to ours; anything else is a proof jose could not read. */
function fromJose(error: unknown): TokenRejectedError {
	if (error instanceof errors.JWSSignatureVerificationFailed) {
		return reject('dpop_invalid_signature', "the DPoP proof's signature does not verify");
	}
	if (error instanceof errors.JOSEAlgNotAllowed) {
		return reject('dpop_algorithm_not_allowed', "the DPoP proof's alg is not allowed");
	}
	if (error instanceof errors.JWTExpired) return reject('dpop_iat_out_of_window', 'the DPoP proof has expired');
	if (error instanceof errors.JWTClaimValidationFailed) {
		return error.claim === 'typ'
			? reject('dpop_proof_type', 'the DPoP proof is not typed dpop+jwt')
			: reject('dpop_proof_malformed', `the DPoP proof's ${error.claim} claim is invalid`);
	}
	if (error instanceof errors.JOSENotSupported) {
		return reject('dpop_jwk_invalid', "the DPoP proof's key or alg is not supported");
	}
	if (error instanceof errors.JWSInvalid && /jwk|key/i.test(error.message)) {
		return reject('dpop_jwk_invalid', "the DPoP proof's jwk is not a public key for its alg");
	}
	return reject('dpop_proof_malformed', 'the DPoP proof could not be read');
}

function printableAlg(alg: unknown): string {
	// The header is unverified: never stringify a value of unknown shape (it may be nested thousands deep).
	return typeof alg === 'string' ? JSON.stringify(alg.slice(0, 20)) : `of type ${alg === null ? 'null' : typeof alg}`;
}
