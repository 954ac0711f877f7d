/**
 * Signature and claim verification; the only importer of jsonwebtoken.
 */
import jwt from 'jsonwebtoken';
import type { UnverifiedJwt } from './decode-jwt.js';
import type { KeyResolver } from './jwks.js';
import { printable } from './printable.js';
import { TokenRejectedError, type RejectionCode } from './token-rejected-error.js';

/** Asymmetric JWS algorithms jsonwebtoken can verify with a public key. `none` and HMAC are never allowed. */
export const ASYMMETRIC_ALGORITHMS = [
	'RS256',
	'RS384',
	'RS512',
	'PS256',
	'PS384',
	'PS512',
	'ES256',
	'ES384',
	'ES512',
] as const;

export type Algorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

/** The longest client id kept: `directus_users.external_identifier` holds 255 characters. */
const MAX_CLIENT_ID_LENGTH = 255;

export interface VerifiedToken {
	/** The client's identifier (the configured client claim, `sub` for Auth0). */
	readonly clientId: string;
	/** The verified claim set, for scope lookup. */
	readonly claims: Readonly<Record<string, unknown>>;
	/** Issued-at, epoch seconds, when the token carries one. */
	readonly issuedAt: number | undefined;
	/** Expiry, epoch seconds; always present on a verified token. */
	readonly expiresAt: number;
}

export interface TokenVerifierOptions {
	issuer: string;
	/** Empty only where a client allow-list replaces the audience check (see `Config.audiences`). */
	audiences: readonly string[];
	/** The claim naming the client. Default `sub`. */
	clientClaim?: string;
	algorithms: readonly Algorithm[];
	/** Seconds. */
	clockTolerance: number;
	keys: KeyResolver;
}

export type TokenVerifier = (token: string, decoded: UnverifiedJwt) => Promise<VerifiedToken>;

/** Creates the verifier: algorithm allow-list, issuer, audience, `exp` required, `nbf` honoured. */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
	const { issuer, audiences, clientClaim = 'sub', algorithms, clockTolerance, keys } = options;
	const verifyOptions: jwt.VerifyOptions = {
		algorithms: [...algorithms],
		issuer,
		clockTolerance,
		...(audiences.length > 0 && { audience: [...audiences] as [string, ...string[]] }),
	};

	return async (token, { header }) => {
		// Checked before any key lookup, so `alg: none` or HS256 never even costs a JWKS fetch.
		if (typeof header.alg !== 'string' || !(algorithms as readonly string[]).includes(header.alg)) {
			// Why not JSON.stringify for any alg: the header is unverified, and an alg nested thousands deep would make
			// it throw a RangeError, which the filter takes for a host fault (503) instead of a refusal (401). Why
			// `printable`: the alg's length is the sender's choice, and the log line must stay bounded.
			const alg = typeof header.alg === 'string' ? printable(header.alg) : `of type ${typeOf(header.alg)}`;
			throw new TokenRejectedError('algorithm_not_allowed', `alg ${alg} is not allowed`);
		}

		if (header.kid !== undefined && typeof header.kid !== 'string') {
			throw new TokenRejectedError('malformed', 'kid is not a string');
		}

		const signingKey = await keys.getKey(header.kid);

		// Why: a JWK that names its algorithm may only verify that algorithm (no cross-algorithm confusion).
		if (signingKey.alg !== undefined && signingKey.alg !== header.alg) {
			throw new TokenRejectedError(
				'algorithm_not_allowed',
				`alg ${header.alg} does not match the key's ${signingKey.alg}`,
			);
		}

		let claims: jwt.JwtPayload;

		try {
			claims = jwt.verify(token, signingKey.key, verifyOptions) as jwt.JwtPayload;
		} catch (error) {
			throw toRejection(error);
		}

		if (typeof claims.exp !== 'number') {
			throw new TokenRejectedError('missing_exp', 'the token has no exp claim');
		}

		const clientId = claims[clientClaim];

		if (typeof clientId !== 'string' || clientId === '' || clientId.length > MAX_CLIENT_ID_LENGTH) {
			throw new TokenRejectedError(
				'invalid_claims',
				`${clientClaim} must be a string of 1 to ${MAX_CLIENT_ID_LENGTH} characters`,
			);
		}

		// `exp` of 1e400 parses as Infinity and would never expire.
		if (!Number.isFinite(claims.exp)) throw new TokenRejectedError('invalid_claims', 'exp is not a finite number');

		if (claims.iat !== undefined && typeof claims.iat !== 'number') {
			throw new TokenRejectedError('invalid_claims', 'iat is not a number');
		}

		// Why: `iat` becomes the service user's last_access; one from the future would pin it there (or, far enough
		// out, make the user impossible to write), and no honest issuer dates a token ahead of its own clock.
		if (claims.iat !== undefined && claims.iat > Date.now() / 1000 + clockTolerance) {
			throw new TokenRejectedError('invalid_claims', 'iat is in the future');
		}

		return { clientId, claims, issuedAt: claims.iat, expiresAt: claims.exp };
	};
}

/** A JSON value's type, as a log line names it. */
function typeOf(value: unknown): string {
	return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

function toRejection(error: unknown): TokenRejectedError {
	if (error instanceof jwt.TokenExpiredError) return new TokenRejectedError('token_expired', 'the token has expired');
	if (error instanceof jwt.NotBeforeError)
		return new TokenRejectedError('token_not_active', 'the token is not valid yet (nbf)');

	const message = error instanceof Error ? error.message : String(error);
	return new TokenRejectedError(classify(message), message);
}

/** jsonwebtoken reports every other failure as a JsonWebTokenError that differs only by message. */
function classify(message: string): RejectionCode {
	if (message.startsWith('invalid signature')) return 'invalid_signature';
	if (message.startsWith('jwt audience invalid')) return 'invalid_audience';
	if (message.startsWith('jwt issuer invalid')) return 'invalid_issuer';
	if (message.startsWith('invalid algorithm')) return 'algorithm_not_allowed';
	if (/^invalid (exp|nbf|iat) value/.test(message)) return 'invalid_claims';
	return 'malformed';
}
