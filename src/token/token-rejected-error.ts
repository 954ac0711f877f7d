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
	| 'no_mapped_scope'
	| 'unknown_role'
	| 'client_not_allowed'
	| 'unknown_user'
	| 'user_suspended';

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
