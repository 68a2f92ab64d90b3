import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reserveKeys, type Store, takeKeys } from '../src/store/index.ts';
import { engines, freshStore } from './engines.ts';

describe.each(engines)('key ranges (%s)', (engine) => {
  let store: Store;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    ({ store, dispose } = await freshStore(engine));
  });
  afterAll(() => dispose());

  const counter = async () =>
    Number((await store.query<{ v: number }>("SELECT next_value AS v FROM key_ranges WHERE name = 'user_key'"))[0]?.v);

  it('hands out keys from blocks reserved ahead: one counter move per block, no key twice, even when callers race', async () => {
    const before = await counter();
    const taken: number[][] = [];
    // Racing callers (one reserves a block, the others wait for it), then sequential ones.
    const race = await Promise.all([3, 1, 2].map((n) => takeKeys(store, 'user_key', n, 10).then((first) => [first, n] as const)));
    for (const [first, n] of race) taken.push(Array.from({ length: n }, (_, i) => first + i));
    for (const n of [4, 4, 4, 30]) {
      const first = await takeKeys(store, 'user_key', n, 10);
      taken.push(Array.from({ length: n }, (_, i) => first + i));
    }
    const all = taken.flat();
    expect(new Set(all).size).toBe(all.length);
    expect(Math.min(...all)).toBeGreaterThanOrEqual(before);
    // Keys reserved the ordinary way never collide with a block.
    const other = await reserveKeys(store, 'user_key', 5);
    expect(all.filter((k) => k >= other && k < other + 5)).toEqual([]);
    // One block of 10 for 3 + 1 + 2 + 4 keys, another for 4 + 4, one of 30 for 30 keys, and the 5.
    expect((await counter()) - before).toBe(10 + 10 + 30 + 5);
  });
});
