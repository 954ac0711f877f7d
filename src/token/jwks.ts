/**
 * Signing-key lookup against the issuer's JWKS; the only importer of jwks-rsa.
 *
 * jwks-rsa fetches the key set and turns each JWK into a public key; this module owns the policy around it:
 * every key of a fetched set is kept (one fetch serves a whole rotation), concurrent lookups share one fetch,
 * unknown `kid`s can trigger a fetch at most once per cooldown, a fetch is abandoned after a timeout, and known
 * keys keep working while the issuer is unreachable.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { JwksClient } from 'jwks-rsa';
import { TokenRejectedError } from './token-rejected-error.js';

export interface SigningKey {
	readonly key: KeyObject;
	/** The JWK's `alg`, when the issuer pins one. */
	readonly alg: string | undefined;
}

export interface KeyResolver {
	/** The key for `kid`, fetching the JWKS when it is unknown (and the cooldown allows). */
	getKey(kid: string | undefined): Promise<SigningKey>;
	/** How many times the JWKS has been fetched (successfully or not). */
	readonly fetchCount: number;
}

export interface KeyResolverOptions {
	/** The JWKS address, or a function that finds it (OpenID discovery). */
	jwksUri: string | (() => Promise<string>);
	timeoutMs: number;
	/** Minimum time between two fetches caused by unknown `kid`s. */
	cooldownMs: number;
	/** Known keys are refreshed in the background once the set is this old. Default 10 minutes. */
	maxAgeMs?: number;
	now?: () => number;
}

/** Creates a key resolver for one JWKS URI. */
export function createKeyResolver(options: KeyResolverOptions): KeyResolver {
	const { jwksUri, timeoutMs, cooldownMs, maxAgeMs = 600_000, now = Date.now } = options;
	let client: JwksClient | undefined;

	const getClient = async (): Promise<JwksClient> => {
		if (client) return client;

		// jwks-rsa's own cache and rate limiter are per-kid and per-minute; the policy here is per key set.
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
	let attemptedAt = -Infinity;
	let inFlight: Promise<void> | undefined;
	let fetchCount = 0;

	const fetchKeys = (): Promise<void> => {
		inFlight ??= (async () => {
			attemptedAt = now();
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

	return {
		get fetchCount() {
			return fetchCount;
		},

		async getKey(kid) {
			const known = lookup(kid);

			if (known) {
				// Stale but known: answer now, refresh behind the request; an outage keeps the last good set.
				if (now() - fetchedAt > maxAgeMs && !inFlight && now() - attemptedAt > cooldownMs) {
					fetchKeys().catch(() => undefined);
				}

				return known;
			}

			if (!inFlight && now() - attemptedAt < cooldownMs) {
				// Why: without a cooldown, a flood of random `kid`s would turn every request into a JWKS fetch.
				throw new TokenRejectedError('unknown_kid', "the token's kid is not in the JWKS (refetch cooling down)");
			}

			try {
				await fetchKeys();
			} catch (error) {
				throw new TokenRejectedError('jwks_unavailable', `the JWKS could not be fetched: ${describe(error)}`);
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

function describe(error: unknown): string {
	return error instanceof Error ? error.message : String(error);
}
