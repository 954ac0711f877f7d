/** Why a token that is ours was refused; stable strings, used in log lines and asserted by tests. */
export type RejectionCode =
	| 'malformed'
	| 'algorithm_not_allowed'
	| 'unknown_kid'
	| 'jwks_unavailable'
	| 'invalid_signature'
	| 'token_expired'
	| 'token_not_active'
	| 'missing_exp'
	| 'invalid_audience'
	| 'invalid_issuer'
	| 'invalid_claims'
	| 'invalid_token_type'
	| 'no_mapped_scope'
	| 'unknown_role'
	| 'client_not_allowed'
	| 'unknown_user'
	| 'user_suspended'
	| 'user_not_creatable'
	| DpopRejectionCode;

/** Why a DPoP-bound token, or its proof, was refused (RFC 9449). */
export type DpopRejectionCode =
	| 'dpop_proof_missing'
	| 'dpop_proof_malformed'
	| 'dpop_proof_type'
	| 'dpop_algorithm_not_allowed'
	| 'dpop_jwk_invalid'
	| 'dpop_jkt_mismatch'
	| 'dpop_invalid_signature'
	| 'dpop_htm_mismatch'
	| 'dpop_htu_mismatch'
	| 'dpop_ath_mismatch'
	| 'dpop_iat_out_of_window'
	| 'dpop_replayed'
	| 'dpop_bound_token_as_bearer'
	| 'dpop_token_not_bound'
	| 'dpop_required'
	| 'dpop_unsupported_confirmation'
	| 'dpop_websocket_unsupported';

/**
 * A refusal of a token the extension owns. The handler turns it into Directus's 401 and one log line;
 * `message` is for that log line and never holds the token or its claims beyond the client id.
 */
export class TokenRejectedError extends Error {
	constructor(
		readonly code: RejectionCode,
		message: string,
	) {
		super(message);
		this.name = 'TokenRejectedError';
	}
}
