/**
 * The `WWW-Authenticate` challenge of a refusal (RFC 6750 §3, RFC 9449 §7.1): what an OAuth client reads to tell
 * an expired or refused token, and a bad DPoP proof, from other failures.
 */
import type { RejectionCode } from './token-rejected-error.js';

export type ChallengeScheme = 'Bearer' | 'DPoP';

/** Short, fixed descriptions: never a claim or a message built from client input. */
const DESCRIPTIONS: Partial<Record<RejectionCode, string>> = {
	token_expired: 'The access token expired',
	token_not_active: 'The access token is not valid yet',
	jwks_unavailable: 'The access token could not be verified',
	no_mapped_scope: 'The access token carries no scope this API accepts',
	client_not_allowed: 'The client is not allowed',
	unknown_user: 'The client is not allowed',
	user_suspended: 'The client is not allowed',
	unknown_role: 'The client is not allowed',
	dpop_proof_missing: 'A DPoP proof is required',
	dpop_proof_malformed: 'The DPoP proof is malformed',
	dpop_proof_type: 'The DPoP proof is not typed dpop+jwt',
	dpop_algorithm_not_allowed: 'The DPoP proof algorithm is not allowed',
	dpop_jwk_invalid: 'The DPoP proof key is not a usable public key',
	dpop_jkt_mismatch: 'The DPoP proof key is not the one the token is bound to',
	dpop_invalid_signature: 'The DPoP proof signature is invalid',
	dpop_htm_mismatch: 'The DPoP proof htm does not match the request method',
	dpop_htu_mismatch: 'The DPoP proof htu does not match the request URL',
	dpop_ath_mismatch: 'The DPoP proof ath does not match the access token',
	dpop_iat_out_of_window: 'The DPoP proof is stale or from the future',
	dpop_replayed: 'The DPoP proof was already used',
	dpop_bound_token_as_bearer: 'A DPoP-bound token must be sent with the DPoP scheme',
	dpop_token_not_bound: 'The access token is not DPoP-bound',
	dpop_required: 'A DPoP-bound access token is required',
	dpop_unsupported_confirmation: 'The access token is bound in a way this API cannot check',
};

/** Codes that say the proof is at fault, not the token: RFC 9449 §7.1 and §12.2 name them `invalid_dpop_proof`. */
const PROOF_CODES: ReadonlySet<RejectionCode> = new Set([
	'dpop_proof_missing',
	'dpop_proof_malformed',
	'dpop_proof_type',
	'dpop_algorithm_not_allowed',
	'dpop_jwk_invalid',
	'dpop_jkt_mismatch',
	'dpop_invalid_signature',
	'dpop_htm_mismatch',
	'dpop_htu_mismatch',
	'dpop_ath_mismatch',
	'dpop_iat_out_of_window',
	'dpop_replayed',
]);

/**
 * The challenge for a refusal with `code` (`undefined`: a token refused for a reason not told to clients).
 * The DPoP challenge names the proof algorithms accepted, so a client can pick one (RFC 9449 §7.1).
 */
export function formatChallenge(
	scheme: ChallengeScheme,
	code: RejectionCode | undefined,
	dpopAlgorithms: readonly string[],
): string {
	const error = code !== undefined && PROOF_CODES.has(code) ? 'invalid_dpop_proof' : 'invalid_token';
	const description = (code !== undefined && DESCRIPTIONS[code]) || 'The access token is invalid';
	const parameters = [`error="${error}"`, `error_description="${description}"`];
	if (scheme === 'DPoP') parameters.push(`algs="${dpopAlgorithms.join(' ')}"`);
	return `${scheme} ${parameters.join(', ')}`;
}
