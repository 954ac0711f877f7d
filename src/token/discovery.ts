/**
 * OpenID discovery: the JWKS URI from `<issuer>/.well-known/openid-configuration`, fetched once and kept.
 */
import { describeError, printable } from './printable.js';

/**
 * Returns a function that resolves the JWKS URI, fetching the discovery document on first use and again after a
 * failure; how often a failed one is retried is the key resolver's rate limit, which gates every fetch attempt.
 * The document's `issuer` must equal the configured one exactly, as OpenID Connect Discovery requires; anything
 * else would let a misconfigured server vouch for another.
 */
export function createJwksUriDiscovery(options: {
	issuer: string;
	timeoutMs: number;
	onError: (message: string) => void;
}): () => Promise<string> {
	const { issuer, timeoutMs, onError } = options;
	const address = joinUrl(issuer, '.well-known/openid-configuration');
	let discovered: Promise<string> | undefined;

	const discover = async (): Promise<string> => {
		const response = await fetch(address, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
		if (!response.ok) throw new Error(`${address} answered ${response.status}`);

		const document = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };

		if (document.issuer !== issuer) {
			throw new Error(`${address} names issuer ${printable(document.issuer)}, not ${JSON.stringify(issuer)}`);
		}

		if (typeof document.jwks_uri !== 'string' || !/^https?:\/\//.test(document.jwks_uri)) {
			throw new Error(`${address} has no usable jwks_uri`);
		}

		return document.jwks_uri;
	};

	return () => {
		discovered ??= discover().catch((error: unknown) => {
			discovered = undefined;
			const message = `BCC_AUTH_DISCOVERY: ${describeError(error)}`;
			onError(message);
			throw new Error(message);
		});

		return discovered;
	};
}

/** Joins a base URL and a path with exactly one `/`, whether or not the base ends with one. */
export function joinUrl(base: string, path: string): string {
	return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}
