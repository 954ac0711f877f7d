/**
 * A Map bounded in entries, where every entry carries its own expiry time, and a generation that every
 * invalidation moves on.
 *
 * Eviction is by insertion order (the oldest entry goes first), which for caches refilled on a miss is close
 * enough to least-recently-used and keeps a hit to one Map lookup and one comparison.
 *
 * Why generations: a load that started before an admin's change may finish after the change cleared the cache;
 * storing its answer would bring the old state back for a whole TTL. `getOrLoad` (and `setIfCurrent` for loads
 * run elsewhere) store a value only if no `delete` or `clear` happened since the load began.
 */
export class BoundedCache<K, V> {
	// A TypeScript-private field, not `#entries`: the SDK's build turns `#` fields into WeakMap lookups on every access.
	private readonly entries = new Map<K, { value: V; expiresAt: number }>();
	private currentGeneration = 0;
	private readonly loading = new Map<K, Promise<V>>();

	constructor(
		readonly maxEntries: number,
		private readonly now: () => number = () => Date.now(),
	) {}

	get size(): number {
		return this.entries.size;
	}

	/** Moves on at every `delete` and `clear`; read it before a load, hand it to `setIfCurrent` after. */
	get generation(): number {
		return this.currentGeneration;
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

	/** Stores a value loaded since `generation` was read, unless the cache was invalidated in the meantime. */
	setIfCurrent(key: K, value: V, expiresAt: number, generation: number): boolean {
		if (generation !== this.currentGeneration) return false;
		this.set(key, value, expiresAt);
		return true;
	}

	/**
	 * The cached value, or else `load()`'s, kept for `ttlMs`: negative answers too, so a miss costs one load a TTL.
	 * Concurrent misses of a key share one load (when an entry expires under load, one query, not one per request
	 * in flight). A load overtaken by an invalidation is returned to its callers but not kept, nor joined by later ones.
	 */
	getOrLoad(key: K, ttlMs: number, load: () => Promise<V>): Promise<V> {
		const hit = this.get(key);
		if (hit !== undefined) return Promise.resolve(hit);

		const running = this.loading.get(key);
		if (running) return running;

		const generation = this.currentGeneration;
		const loaded: Promise<V> = load()
			.then((value) => {
				this.setIfCurrent(key, value, this.now() + ttlMs, generation);
				return value;
			})
			.finally(() => {
				if (this.loading.get(key) === loaded) this.loading.delete(key);
			});
		this.loading.set(key, loaded);
		return loaded;
	}

	delete(key: K): void {
		this.entries.delete(key);
		// Any load in flight may have read the row this key stood for: none of them may store its answer, and no
		// caller from now on may join one.
		this.currentGeneration++;
		this.loading.clear();
	}

	clear(): void {
		this.entries.clear();
		this.currentGeneration++;
		this.loading.clear();
	}
}
