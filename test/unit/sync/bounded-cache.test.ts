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
