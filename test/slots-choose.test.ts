import { describe, expect, it } from 'vitest';
import { choose, compileSlot, KeyBits, slotInputSchema, visitorBucketKey } from '../src/commerce/slots/index.ts';
import { bucketOf } from '../src/core/buckets.ts';

/** The in-memory decision and the slot schema, without a store. */
const NOW = Date.parse('2026-11-11T00:30:00Z');
const members = new Map<number, KeyBits>();
const segment = (id: number, keys: number[]) => {
  const bits = new KeyBits();
  for (const k of keys) bits.add(k);
  members.set(id, bits);
};
const lookup = (id: number) => members.get(id);
const person = (userKey: number) => ({ userKey, bucketKey: userKey });
const slot = (input: object) => compileSlot(slotInputSchema.parse({ name: 'home_banner', placement: 'home_banner', ...input }));

describe('KeyBits', () => {
  it('adds, deletes and counts keys, growing as needed', () => {
    const b = new KeyBits(10);
    for (const k of [1, 31, 32, 1_000_000, 31]) b.add(k);
    expect(b.size).toBe(4);
    expect([0, 1, 31, 32, 33, 1_000_000, 5_000_000].map((k) => b.has(k))).toEqual([false, true, true, true, false, true, false]);
    b.delete(31);
    b.delete(31);
    b.delete(9_999_999);
    expect(b.size).toBe(3);
    expect(b.has(31)).toBe(false);
    expect(b.bytes).toBeLessThan(300_000);
  });
});

describe('choose', () => {
  segment(1, [10, 11, 12]);
  segment(2, [11, 20]);

  it('gives the highest-priority eligible variant, then the default, then nothing', () => {
    const s = slot({
      defaultContent: { title: 'generic' },
      variants: [
        { id: 'low', segmentId: 2, priority: 1, content: { t: 'low' } },
        { id: 'high', segmentId: 1, priority: 9, content: { t: 'high' } },
      ],
    });
    expect(choose(s, person(11), lookup, NOW)).toEqual({ variant: 'high', content: { t: 'high' }, source: 'variant' });
    expect(choose(s, person(20), lookup, NOW).variant).toBe('low');
    expect(choose(s, person(99), lookup, NOW)).toEqual({ variant: 'default', content: { title: 'generic' }, source: 'default' });
    expect(choose(s, { userKey: null, bucketKey: 5 }, lookup, NOW).variant).toBe('default');
    const bare = slot({ variants: [{ id: 'x', segmentId: 1, content: {} }] });
    expect(choose(bare, person(99), lookup, NOW)).toEqual({ variant: null, content: null, source: 'none' });
  });

  it('excludes members of an excluded segment; an unknown visitor is nobody’s member', () => {
    const s = slot({ variants: [{ id: 'not-vip', excludeSegmentId: 1, content: {} }] });
    expect(choose(s, person(10), lookup, NOW).variant).toBe(null);
    expect(choose(s, person(20), lookup, NOW).variant).toBe('not-vip');
    expect(choose(s, { userKey: null, bucketKey: 10 }, lookup, NOW).variant).toBe('not-vip');
  });

  it('splits eligible variants of one priority by weight, stable per person, as the buckets say', () => {
    const s = slot({
      variants: [
        { id: 'a', weight: 1, content: {} },
        { id: 'b', weight: 3, content: {} },
        { id: 'off', weight: 0, content: {} },
      ],
    });
    const counts = { a: 0, b: 0 } as Record<string, number>;
    for (let k = 1; k <= 20_000; k++) {
      const v = choose(s, person(k), lookup, NOW).variant!;
      counts[v] = (counts[v] ?? 0) + 1;
      // The same rule SQL can apply: bucket < 25 → a.
      expect(v).toBe(bucketOf(k, 'slot:home_banner:split:0') < 25 ? 'a' : 'b');
    }
    expect(counts.off).toBeUndefined();
    expect(counts.a! / 20_000).toBeCloseTo(0.25, 1);
    // Only the eligible share the split: when one of two targets the person, no split happens.
    const t = slot({
      variants: [
        { id: 'seg', segmentId: 1, content: {} },
        { id: 'all', content: {} },
      ],
    });
    expect(choose(t, person(99), lookup, NOW).variant).toBe('all');
  });

  it('holds out a stable share of the people a variant would reach, with the default content', () => {
    const s = slot({ holdoutPercent: 20, defaultContent: { title: 'generic' }, variants: [{ id: 'v', segmentId: 1, content: {} }] });
    const everyone = new KeyBits();
    for (let k = 1; k <= 10_000; k++) everyone.add(k);
    let held = 0;
    for (let k = 1; k <= 10_000; k++) {
      const c = choose(s, person(k), (id) => (id === 1 ? everyone : undefined), NOW);
      if (c.source === 'holdout') {
        held++;
        expect(c).toEqual({ variant: 'holdout', content: { title: 'generic' }, source: 'holdout' });
      }
      expect(c.source === 'holdout').toBe(bucketOf(k, 'slot:home_banner:holdout') < 20);
    }
    expect(held / 10_000).toBeCloseTo(0.2, 1);
    // Nobody a variant would not reach is held out.
    expect(choose(s, person(99), lookup, NOW).source).toBe('default');
  });

  it('respects the schedule window and the paused status', () => {
    const s = slot({
      defaultContent: { title: 'generic' },
      variants: [{ id: 'burst', startAt: '2026-11-11T00:00:00+08:00', endAt: '2026-11-12T00:00:00+08:00', content: {} }],
    });
    expect(choose(s, person(1), lookup, Date.parse('2026-11-10T15:59:59Z')).variant).toBe('default');
    expect(choose(s, person(1), lookup, Date.parse('2026-11-10T16:00:00Z')).variant).toBe('burst');
    expect(choose(s, person(1), lookup, Date.parse('2026-11-11T16:00:00Z')).variant).toBe('default');
    const paused = slot({ status: 'paused', defaultContent: { title: 'generic' }, variants: [{ id: 'v', content: {} }] });
    expect(choose(paused, person(1), lookup, NOW)).toMatchObject({ variant: 'default', source: 'paused' });
  });

  it('gives an unknown visitor a stable bucket from their id', () => {
    expect(visitorBucketKey('anon-1')).toBe(visitorBucketKey('anon-1'));
    expect(visitorBucketKey('anon-1')).toBeLessThan(2 ** 31);
  });
});

describe('slot schema', () => {
  const parse = (input: object) => slotInputSchema.safeParse({ name: 'home_banner', placement: 'home_banner', ...input });
  const paths = (input: object) => parse(input).error?.issues.map((i) => i.path.join('.'));

  it('fills defaults and refuses reserved or repeated variant ids, bad windows and names', () => {
    expect(parse({}).data).toMatchObject({ status: 'active', holdoutPercent: 0, defaultContent: null, variants: [] });
    expect(paths({ variants: [{ id: 'default', content: {} }] })).toEqual(['variants.0.id']);
    expect(
      paths({
        variants: [
          { id: 'a', content: {} },
          { id: 'a', content: {} },
        ],
      }),
    ).toEqual(['variants.1.id']);
    expect(paths({ variants: [{ id: 'a', content: {}, startAt: '2026-11-11T00:00:00Z', endAt: '2026-11-10T00:00:00Z' }] })).toEqual([
      'variants.0.endAt',
    ]);
    expect(paths({ name: 'Home Banner' })).toEqual(['name']);
    expect(paths({ holdoutPercent: 60 })).toEqual(['holdoutPercent']);
    expect(paths({ variants: [{ id: 'big', content: { html: 'x'.repeat(20_000) } }] })).toEqual(['variants.0.content']);
  });
});
