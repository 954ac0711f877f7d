/** A JWT's header and payload, decoded but NOT verified: only good for deciding whether a token is ours. */
export interface UnverifiedJwt {
	readonly header: Record<string, unknown>;
	readonly payload: Record<string, unknown>;
}

/**
 * Decodes a compact JWS without verifying it; `undefined` for anything that is not one.
 * Hand-written rather than `jwt.decode` so that no input, however hostile, can make it throw.
 */
export function decodeUnverified(token: string): UnverifiedJwt | undefined {
	const first = token.indexOf('.');
	const second = token.indexOf('.', first + 1);
	if (first <= 0 || second <= first + 1 || token.indexOf('.', second + 1) !== -1) return undefined;

	const header = parseSegment(token.slice(0, first));
	const payload = header && parseSegment(token.slice(first + 1, second));
	if (!header || !payload) return undefined;

	return { header, payload };
}

function parseSegment(segment: string): Record<string, unknown> | undefined {
	if (!/^[A-Za-z0-9_-]+$/.test(segment)) return undefined;

	try {
		const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
		return typeof value === 'object' && value !== null && !Array.isArray(value)
			? (value as Record<string, unknown>)
			: undefined;
	} catch {
		return undefined;
	}
}
