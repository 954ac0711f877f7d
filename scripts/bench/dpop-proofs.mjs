/**
 * The benchmark's DPoP client: a proof key made at start, and proofs (RFC 9449 §4.2) made ahead of a measurement,
 * so that signing them costs the load generator nothing while Directus is timed. Signing is `jose`'s.
 */
import { hash, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';

/**
 * A DPoP client for one URL origin: `jkt` (for the token's `cnf`), `proof(token, method, url)` for one request, and
 * `pool(token, method, url, count)` for many, taken in order by `next()`, which signs one more if the pool runs dry.
 */
export async function createDpopClient() {
	const { privateKey, publicKey } = await generateKeyPair('ES256');
	const jwk = await exportJWK(publicKey);

	const proof = (token, method, url) =>
		new SignJWT({
			jti: randomUUID(),
			iat: Math.floor(Date.now() / 1000),
			htm: method,
			htu: url.split('?')[0],
			ath: hash('sha256', token, 'base64url'),
		})
			.setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
			.sign(privateKey);

	return {
		jkt: await calculateJwkThumbprint(jwk),
		proof,
		/** `count` proofs made now; every one is used at most once. */
		async pool(token, method, url, count) {
			const proofs = await Promise.all(Array.from({ length: count }, () => proof(token, method, url)));
			let used = 0;
			return {
				/** The next unused proof, or `undefined` once all are used (the caller must not reuse one). */
				next: () => (used < proofs.length ? proofs[used++] : undefined),
				get used() {
					return used;
				},
			};
		},
	};
}
