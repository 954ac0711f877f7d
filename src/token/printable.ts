/**
 * How an unverified value (a header's `alg` or `kid`, the client claim, an issuer's error text) may appear in a log
 * line: quoted, one line, and never longer than a fixed bound, whatever the token or the issuer sent.
 */

/** The most characters of a value a log line shows; the rest is replaced by `…`. */
export const PRINTABLE_MAX_LENGTH = 80;

/** The value as a log line may show it: `-` when absent, else a JSON string of at most 80 characters plus `…`. */
export function printable(value: unknown): string {
	if (value === undefined || value === null) return '-';
	let text: string;

	try {
		text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
	} catch {
		// Why: these values may be unverified, and JSON.stringify of an array nested thousands deep overflows the
		// stack; a RangeError thrown while refusing a token would escape the filter, and Directus would answer 500.
		text = Array.isArray(value) ? '[…]' : typeof value === 'object' ? '{…}' : typeof value;
	}

	// Why a bound: a 10 KB `alg` would otherwise be copied into every refusal's log line, at the sender's choice.
	return JSON.stringify(text.length > PRINTABLE_MAX_LENGTH ? `${text.slice(0, PRINTABLE_MAX_LENGTH)}…` : text);
}

/**
 * An error's message for a log line. Node's `fetch` (and others) say only "fetch failed" and keep the reason, a
 * refused connection or redirect, in `cause`: it is added.
 */
export function describeError(error: unknown): string {
	if (!(error instanceof Error)) return String(error);
	const cause = error.cause instanceof Error ? error.cause.message : undefined;
	return cause && cause !== error.message ? `${error.message}: ${cause}` : error.message;
}
