/**
 * Signing-key lookup against the issuer's JWKS; the only importer of jwks-rsa.
 *
 * jwks-rsa fetches the key set and turns each JWK into a public key; this module owns the policy around it:
 * every key of a fetched set is kept (one fetch serves a whole rotation), an unknown `kid` is fetched on first
 * sight, concurrent lookups share one fetch, all fetches together stay within a rate limit (the guide's 10 a
 * minute), a fetch is abandoned after a timeout, and known keys keep working while the issuer is unreachable.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { JwksClient } from 'jwks-rsa';
import { describeError, printable } from './printable.js';
import { TokenRejectedError } from './token-rejected-error.js';

export interface SigningKey {
	readonly key: KeyObject;
	/** The JWK's `alg`, when the issuer pins one. */
	readonly alg: string | undefined;
}

export interface KeyResolver {
	/** The key for `kid`, fetching the JWKS when it is unknown (and the rate limit allows). */
	getKey(kid: string | undefined): Promise<SigningKey>;
	/** Fetches the key set now (within the rate limit, joining a fetch under way); resolves to how many keys it has. */
	preload(): Promise<number>;
	/** How many times the JWKS has been fetched (successfully or not). */
	readonly fetchCount: number;
}

export interface KeyResolverOptions {
	/** The JWKS address, or a function that finds it (OpenID discovery). */
	jwksUri: string | (() => Promise<string>);
	/** How long a fetch may take before it is abandoned, in milliseconds. */
	timeoutMs: number;
	/** At most this many JWKS fetches in any 60 seconds, whatever caused them. Default 10 (jwks-rsa's). */
	requestsPerMinute?: number;
	/** Known keys are refreshed in the background once the set is this old. Default 10 minutes. */
	maxAgeMs?: number;
	/** The clock, in epoch milliseconds. Default `Date.now`. */
	now?: () => number;
}

/** The rate limit's window. */
const MINUTE_MS = 60_000;

/** Creates a key resolver for one JWKS URI; throws at once when `requestsPerMinute` is not a positive integer. */
export function createKeyResolver(options: KeyResolverOptions): KeyResolver {
	const { jwksUri, timeoutMs, requestsPerMinute = 10, maxAgeMs = 600_000, now = Date.now } = options;

	if (!Number.isSafeInteger(requestsPerMinute) || requestsPerMinute < 1) {
		throw new TypeError(`requestsPerMinute must be a positive integer, got ${String(requestsPerMinute)}`);
	}

	let client: JwksClient | undefined;

	const getClient = async (): Promise<JwksClient> => {
		if (client) return client;

		// jwks-rsa's own cache and rate limiter are per-kid; the policy here is per key set.
		const uri = typeof jwksUri === 'string' ? jwksUri : await jwksUri();
		client = new JwksClient({
			jwksUri: uri,
			cache: false,
			rateLimit: false,
			timeout: timeoutMs,
			// A fresh connection per fetch: fetches are minutes apart, and a pooled keep-alive socket that the issuer
			// has closed in the meantime would fail the fetch with ECONNRESET.
			requestAgent: uri.startsWith('https:')
				? new HttpsAgent({ keepAlive: false })
				: new HttpAgent({ keepAlive: false }),
		});
		return client;
	};

	let keys = new Map<string | undefined, SigningKey>();
	let fetchedAt = -Infinity;
	let inFlight: Promise<void> | undefined;
	let fetchCount = 0;
	/** Why the last finished fetch failed; `undefined` once one succeeds. */
	let lastFailure: string | undefined;
	/**
	 * When each fetch of the last minute started, oldest first; never more than `requestsPerMinute` entries.
	 * Why not rate-limiter-flexible or limiter (both installed): neither takes a clock, so the limit could not be
	 * tested with frozen time, and a sliding window of at most 10 numbers is all an in-process counter needs. It
	 * is stricter than jwks-rsa's fixed minute, which allows 20 fetches across a minute boundary.
	 */
	const recentFetches: number[] = [];

	const underLimit = (): boolean => {
		const at = now();
		while (recentFetches.length > 0 && at - recentFetches[0]! >= MINUTE_MS) recentFetches.shift();
		return recentFetches.length < requestsPerMinute;
	};

	const fetchKeys = (): Promise<void> => {
		inFlight ??= (async () => {
			recentFetches.push(now());
			fetchCount++;

			try {
				const signingKeys = await withTimeout((await getClient()).getSigningKeys(), timeoutMs);
				const next = new Map<string | undefined, SigningKey>();

				for (const signingKey of signingKeys) {
					next.set(signingKey.kid, {
						key: createPublicKey(signingKey.getPublicKey()),
						alg: (signingKey as { alg?: string }).alg,
					});
				}

				keys = next;
				fetchedAt = now();
				lastFailure = undefined;
			} catch (error) {
				lastFailure = describeError(error);
				throw error;
			} finally {
				inFlight = undefined;
			}
		})();

		return inFlight;
	};

	const lookup = (kid: string | undefined): SigningKey | undefined => {
		if (kid !== undefined) return keys.get(kid);
		// A token without `kid` is only unambiguous when the issuer publishes a single key.
		return keys.size === 1 ? keys.values().next().value : undefined;
	};

	const unavailable = (reason: string, detail = '') =>
		new TokenRejectedError('jwks_unavailable', `the JWKS could not be fetched: ${printable(reason)}${detail}`);

	return {
		async preload() {
			await fetchKeys();
			return keys.size;
		},

		get fetchCount() {
			return fetchCount;
		},

		async getKey(kid) {
			const known = lookup(kid);

			if (known) {
				// Stale but known: answer now, refresh behind the request; an outage keeps the last good set. After a
				// failure, retries are spaced over the minute rather than spending the whole limit in one burst.
				const spacing = lastFailure === undefined ? 0 : MINUTE_MS / requestsPerMinute;
				const lastStart = recentFetches.at(-1) ?? -Infinity;

				if (now() - fetchedAt > maxAgeMs && !inFlight && now() - lastStart >= spacing && underLimit()) {
					fetchKeys().catch(() => undefined);
				}

				return known;
			}

			// An unknown kid is fetched on first sight, even right after another fetch: a rotated key must work at
			// once. Concurrent lookups join the fetch under way; only a new fetch counts against the limit.
			if (!inFlight && !underLimit()) {
				// Why a limit: a flood of random `kid`s would otherwise turn every request into a JWKS fetch. The last
				// fetch's outcome decides the reason: during an outage the refusal is the issuer's, not the token's.
				const limit = ` (the last attempt; ${requestsPerMinute} fetches in the last minute, the most allowed)`;
				if (lastFailure !== undefined) throw unavailable(lastFailure, limit);
				throw new TokenRejectedError(
					'unknown_kid',
					`the token's kid is not in the JWKS (not refetched: ${requestsPerMinute} fetches in the last minute, the most allowed)`,
				);
			}

			try {
				await fetchKeys();
			} catch (error) {
				throw unavailable(describeError(error));
			}

			const fetched = lookup(kid);
			if (!fetched) throw new TokenRejectedError('unknown_kid', "the token's kid is not in the JWKS");
			return fetched;
		},
	};
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
	let timer: NodeJS.Timeout | undefined;

	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
	});

	return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
