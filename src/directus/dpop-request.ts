/**
 * What a request presents: the token, the scheme it came in, the DPoP proofs, and the URL they must name.
 * Directus (11.17.4 and 12.4.0, `middleware/extract-token`) only knows `Bearer`: a `DPoP` token is read here.
 */

/** The part of Express's request this module reads. */
export interface RequestLike {
	token?: unknown;
	method?: string;
	originalUrl?: string;
	url?: string;
	protocol?: string;
	headers?: Record<string, string | string[] | undefined>;
	/** Node ≥ 18.3: each header's values, unjoined. */
	headersDistinct?: Record<string, string[] | undefined>;
	get?(name: string): string | undefined;
	/** Express sets it on every request: the response, where a challenge header goes. */
	res?: { setHeader(name: string, value: string): unknown; headersSent?: boolean };
}

/** How the token reached the extension. */
export type PresentedToken =
	| { readonly scheme: 'bearer' | 'websocket'; readonly token: string }
	| {
			readonly scheme: 'dpop';
			readonly token: string;
			readonly proofs: readonly string[];
			readonly method: string;
			/** Without query: `publicUrl` (or the request's own origin) plus the request path. */
			readonly url: string;
	  };

/** `Authorization: DPoP <token68>` (RFC 9449 §7.1); the scheme is case-insensitive (RFC 9110 §11.1). */
const DPOP_AUTHORIZATION = /^DPoP +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * The token a filter call carries: from the `Authorization: DPoP` header, else Directus's `req.token` (Bearer,
 * `access_token` query or session cookie), else a WebSocket auth message's `access_token`.
 */
export function readPresentedToken(
	meta: Record<string, unknown>,
	publicUrl: string | undefined,
): PresentedToken | undefined {
	const req = meta['req'] as RequestLike | undefined;

	if (req !== undefined) {
		const authorization = req.headers?.['authorization'];
		const dpop = typeof authorization === 'string' ? DPOP_AUTHORIZATION.exec(authorization) : null;

		if (dpop) {
			return {
				scheme: 'dpop',
				token: dpop[1]!,
				proofs: readProofs(req),
				method: req.method ?? '',
				url: requestUrl(req, publicUrl),
			};
		}

		return typeof req.token === 'string' && req.token !== '' ? { scheme: 'bearer', token: req.token } : undefined;
	}

	const accessToken = (meta['message'] as { access_token?: unknown } | undefined)?.access_token;
	return typeof accessToken === 'string' && accessToken !== ''
		? { scheme: 'websocket', token: accessToken }
		: undefined;
}

/** Sets a response header on a filter call's request, when it has one still unsent; says whether it did. */
export function setResponseHeader(meta: Record<string, unknown>, name: string, value: string): boolean {
	const res = (meta['req'] as RequestLike | undefined)?.res;
	if (!res || res.headersSent) return false;
	res.setHeader(name, value);
	return true;
}

function readProofs(req: RequestLike): string[] {
	// Why unjoined: Node joins repeated unknown headers with ", ", which would turn two proofs into one bad one
	// and hide that there were two.
	const distinct = req.headersDistinct?.['dpop'];
	if (distinct) return distinct;
	const value = req.headers?.['dpop'];
	return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function requestUrl(req: RequestLike, publicUrl: string | undefined): string {
	const target = req.originalUrl ?? req.url ?? '/';
	const query = target.indexOf('?');
	const path = query === -1 ? target : target.slice(0, query);

	// Why PUBLIC_URL: behind a proxy, the Host and protocol Directus sees are the proxy's, not what the client
	// addressed and signed. Directus serves at its root, so a path in PUBLIC_URL is one the proxy strips.
	if (publicUrl !== undefined) return `${publicUrl.replace(/\/+$/, '')}${path}`;
	return `${req.protocol ?? 'http'}://${req.get?.('host') ?? req.headers?.['host'] ?? ''}${path}`;
}
