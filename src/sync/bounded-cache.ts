/**
 * A Map bounded in entries, where every entry carries its own expiry time.
 *
 * Eviction is by insertion order (the oldest entry goes first), which for caches refilled on a miss is close
 * enough to least-recently-used and keeps a hit to one Map lookup and one comparison.
 */
export class BoundedCache<K, V> {
	// A TypeScript-private field, not `#entries`: the SDK's build turns `#` fields into WeakMap lookups on every access.
	private readonly entries = new Map<K, { value: V; expiresAt: number }>();

	constructor(
		readonly maxEntries: number,
		private readonly now: () => number = () => Date.now(),
	) {}

	get size(): number {
		return this.entries.size;
	}

	/** The value, or `undefined` when absent or expired (an expired entry is dropped). */
	get(key: K): V | undefined {
		const entry = this.entries.get(key);
		if (entry === undefined) return undefined;

		if (entry.expiresAt <= this.now()) {
			this.entries.delete(key);
			return undefined;
		}

		return entry.value;
	}

	/** Stores a value until `expiresAt` (epoch milliseconds), evicting the oldest entry when full. */
	set(key: K, value: V, expiresAt: number): void {
		this.entries.delete(key);

		if (this.entries.size >= this.maxEntries) {
			const oldest = this.entries.keys().next();
			if (!oldest.done) this.entries.delete(oldest.value);
		}

		this.entries.set(key, { value, expiresAt });
	}

	/** The cached value, or else `load()`'s, kept for `ttlMs`: negative answers too, so a miss costs one load a TTL. */
	async getOrLoad(key: K, ttlMs: number, load: () => Promise<V>): Promise<V> {
		const hit = this.get(key);
		if (hit !== undefined) return hit;

		const value = await load();
		this.set(key, value, this.now() + ttlMs);
		return value;
	}

	delete(key: K): void {
		this.entries.delete(key);
	}

	clear(): void {
		this.entries.clear();
	}
}
