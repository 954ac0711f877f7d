import { expect, test } from 'vitest';
import { BoundedCache } from '../../../src/sync/bounded-cache.js';

test('entries expire at their own time, not later', () => {
	let now = 1000;
	const cache = new BoundedCache<string, number>(10, () => now);
	cache.set('a', 1, 2000);
	expect(cache.get('a')).toBe(1);
	now = 1999;
	expect(cache.get('a')).toBe(1);
	now = 2000;
	expect(cache.get('a')).toBeUndefined();
	expect(cache.size).toBe(0);
});

test('the oldest entry is evicted when full, so size never exceeds the bound', () => {
	const cache = new BoundedCache<number, number>(3);
	for (let i = 0; i < 100; i++) cache.set(i, i, Infinity);
	expect(cache.size).toBe(3);
	expect([cache.get(96), cache.get(97), cache.get(98), cache.get(99)]).toEqual([undefined, 97, 98, 99]);
});

test('re-setting a key refreshes its place', () => {
	const cache = new BoundedCache<string, number>(2);
	cache.set('a', 1, Infinity);
	cache.set('b', 2, Infinity);
	cache.set('a', 3, Infinity);
	cache.set('c', 4, Infinity);
	expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([3, undefined, 4]);
});

test('a load overtaken by a clear is returned but not stored: no stale refill', async () => {
	const cache = new BoundedCache<string, string>(10);
	let release!: (value: string) => void;
	const slow = cache.getOrLoad('user', 60_000, () => new Promise<string>((resolve) => (release = resolve)));

	cache.clear(); // the admin's change lands while the read is in flight
	release('active');

	await expect(slow).resolves.toBe('active');
	expect(cache.get('user')).toBeUndefined();
	await expect(cache.getOrLoad('user', 60_000, async () => 'suspended')).resolves.toBe('suspended');
	expect(cache.get('user')).toBe('suspended');
});

test('a delete of any key also invalidates loads in flight; setIfCurrent refuses an old generation', () => {
	const cache = new BoundedCache<string, number>(10);
	const generation = cache.generation;
	cache.delete('other');
	expect(cache.setIfCurrent('a', 1, Infinity, generation)).toBe(false);
	expect(cache.get('a')).toBeUndefined();
	expect(cache.setIfCurrent('a', 2, Infinity, cache.generation)).toBe(true);
	expect(cache.get('a')).toBe(2);
});

test('concurrent misses of a key share one load; after a clear, a new caller does not join the old one', async () => {
	const cache = new BoundedCache<string, number>(10);
	let loads = 0;
	const releases: ((value: number) => void)[] = [];
	const load = () => {
		loads++;
		return new Promise<number>((resolve) => releases.push(resolve));
	};

	const first = Array.from({ length: 10 }, () => cache.getOrLoad('role', 60_000, load));
	expect(loads).toBe(1);

	cache.clear();
	const after = cache.getOrLoad('role', 60_000, load);
	expect(loads).toBe(2);

	releases[0]!(1);
	releases[1]!(2);
	expect(await Promise.all(first)).toEqual(Array(10).fill(1));
	expect(await after).toBe(2);
	expect(cache.get('role')).toBe(2);
});

test('a failed load is shared by its callers and not kept', async () => {
	const cache = new BoundedCache<string, number>(10);
	let loads = 0;
	const failing = () => {
		loads++;
		return Promise.reject(new Error('database down'));
	};
	const results = await Promise.allSettled([cache.getOrLoad('a', 1000, failing), cache.getOrLoad('a', 1000, failing)]);
	expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
	expect(loads).toBe(1);
	await expect(cache.getOrLoad('a', 1000, async () => 7)).resolves.toBe(7);
});
