import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketOf, bucketSql, saltHash } from '../src/core/buckets.ts';
import { DAY, HOUR, MINUTE } from '../src/core/clock.ts';
import {
  compileSegment,
  createSegment,
  refreshSegment,
  type SegmentDefinition,
  segmentDefinitionSchema,
  segmentInputSchema,
} from '../src/segments/index.ts';
import { engines } from './engines.ts';
import { daysAgo, hoursAgo, NOW, openTestStore, putComputedTraits, putPrediction, type TestStore, type World } from './segment-fixtures.ts';

type Case = [label: string, definition: SegmentDefinition, expected: string[]];

const trait = (name: string, cmp: object) => ({ type: 'trait', trait: name, ...cmp }) as SegmentDefinition;
/** A sequence node; its `then` is plain data, never awaited. */
const sequence = (first: object, then: object, thenPerformed: boolean, within: string, extra: object = {}) =>
  ({
    type: 'sequence',
    first,
    then,
    thenPerformed,
    within,
    ...extra,
  }) as SegmentDefinition;
const computed = (name: string, cmp: object) => ({ type: 'computed', trait: name, ...cmp }) as SegmentDefinition;
const compile = (definition: SegmentDefinition, dialect: 'duckdb' | 'postgres') =>
  compileSegment(segmentDefinitionSchema.parse(definition), { dialect, workspaceId: 7, now: NOW });

describe('SQL per dialect', () => {
  it('a nested trait: constant JSON path, value bound', () => {
    const def = trait('address.city', { op: 'eq', value: 'Berlin' });
    expect(compile(def, 'duckdb')).toMatchInlineSnapshot(`
      {
        "params": [
          7,
          "Berlin",
        ],
        "sql": "SELECT u.user_key FROM users u
      WHERE u.workspace_id = $1 AND u.merged_into IS NULL
        AND (u.traits ->> '$."address"."city"') = $2",
      }
    `);
    expect(compile(def, 'postgres')).toMatchInlineSnapshot(`
      {
        "params": [
          7,
          "Berlin",
        ],
        "sql": "SELECT u.user_key FROM users u
      WHERE u.workspace_id = $1 AND u.merged_into IS NULL
        AND (u.traits #>> '{"address","city"}') = $2",
      }
    `);
  });

  it('numeric trait and computed/prediction joins', () => {
    const def: SegmentDefinition = {
      type: 'and',
      conditions: [
        trait('age', { op: 'gte', value: 18 }),
        computed('lifecycle', { op: 'eq', value: 'loyal' }),
        computed('p_alive', { op: 'gt', value: 0.5 }),
      ],
    };
    expect(compile(def, 'duckdb')).toMatchInlineSnapshot(`
      {
        "params": [
          7,
          18,
          "loyal",
          0.5,
        ],
        "sql": "SELECT u.user_key FROM users u
      LEFT JOIN computed_traits ct ON ct.workspace_id = u.workspace_id AND ct.user_key = u.user_key
      LEFT JOIN customer_predictions cp ON cp.workspace_id = u.workspace_id AND cp.user_key = u.user_key
      WHERE u.workspace_id = $1 AND u.merged_into IS NULL
        AND (TRY_CAST((u.traits ->> '$."age"') AS DOUBLE) >= $2
        AND ct.lifecycle = $3
        AND cp.p_alive > $4)",
      }
    `);
    expect(compile(def, 'postgres')).toMatchInlineSnapshot(`
      {
        "params": [
          7,
          18,
          "loyal",
          0.5,
        ],
        "sql": "SELECT u.user_key FROM users u
      LEFT JOIN computed_traits ct ON ct.workspace_id = u.workspace_id AND ct.user_key = u.user_key
      LEFT JOIN customer_predictions cp ON cp.workspace_id = u.workspace_id AND cp.user_key = u.user_key
      WHERE u.workspace_id = $1 AND u.merged_into IS NULL
        AND ((CASE WHEN pg_input_is_valid((u.traits #>> '{"age"}'), 'double precision') THEN CAST((u.traits #>> '{"age"}') AS DOUBLE PRECISION) END) >= $2
        AND ct.lifecycle = $3
        AND cp.p_alive > $4)",
      }
    `);
  });

  it('performed: count, window, JSON property and a product-line filter', () => {
    const def: SegmentDefinition = {
      type: 'performed',
      event: 'Order Completed',
      window: { last: '30d' },
      count: { op: 'at_least', value: 2 },
      where: [
        { property: 'coupon', op: 'exists' },
        { property: 'category', op: 'in_category', value: 'Phones' },
      ],
    };
    expect(compile(def, 'duckdb')).toMatchInlineSnapshot(`
      {
        "params": [
          7,
          "Order Completed",
          1769774400000,
          1772366400000,
          "Order Completed",
          1769774400000,
          1772366400000,
          " > Phones > ",
          2,
        ],
        "sql": "SELECT u.user_key FROM users u
      WHERE u.workspace_id = $1 AND u.merged_into IS NULL
        AND u.user_key IN (SELECT e.user_key FROM events e WHERE e.workspace_id = $1 AND e.event IN ($2) AND e.ts >= $3 AND e.ts <= $4 AND (e.properties ->> '$."coupon"') IS NOT NULL AND e.message_id IN (SELECT i.message_id FROM event_items i WHERE i.workspace_id = $1 AND i.event IN ($5) AND i.ts >= $6 AND i.ts <= $7 AND strpos(' > ' || i.category || ' > ', $8) > 0) GROUP BY e.user_key HAVING count(*) >= $9)",
      }
    `);
    expect(compile(def, 'postgres')).toMatchInlineSnapshot(`
      {
        "params": [
          7,
          "Order Completed",
          1769774400000,
          1772366400000,
          "Order Completed",
          1769774400000,
          1772366400000,
          " > Phones > ",
          2,
        ],
        "sql": "SELECT u.user_key FROM users u
      WHERE u.workspace_id = $1 AND u.merged_into IS NULL
        AND u.user_key IN (SELECT e.user_key FROM events e WHERE e.workspace_id = $1 AND e.event IN ($2) AND e.ts >= $3 AND e.ts <= $4 AND (e.properties #>> '{"coupon"}') IS NOT NULL AND e.message_id IN (SELECT i.message_id FROM event_items i WHERE i.workspace_id = $1 AND i.event IN ($5) AND i.ts >= $6 AND i.ts <= $7 AND strpos(' > ' || i.category || ' > ', $8) > 0) GROUP BY e.user_key HAVING count(*) >= $9)",
      }
    `);
  });

  it('aggregate over a JSON property, at most, not_performed', () => {
    const def: SegmentDefinition = {
      type: 'or',
      conditions: [
        { type: 'performed', event: 'Order Completed', aggregate: { fn: 'sum', property: 'points', op: 'gt', value: 100 } },
        { type: 'performed', event: 'Order Completed', count: { op: 'at_most', value: 1 } },
        { type: 'not_performed', event: ['Product Viewed', 'Product Added'], window: { from: '10d', to: '3d' } },
      ],
    };
    expect(compile(def, 'postgres')).toMatchInlineSnapshot(`
      {
        "params": [
          7,
          "Order Completed",
          100,
          "Order Completed",
          2,
          "Product Viewed",
          "Product Added",
          1771502400000,
          1772107200000,
        ],
        "sql": "SELECT u.user_key FROM users u
      WHERE u.workspace_id = $1 AND u.merged_into IS NULL
        AND (u.user_key IN (SELECT e.user_key FROM events e WHERE e.workspace_id = $1 AND e.event IN ($2) GROUP BY e.user_key HAVING sum((CASE WHEN pg_input_is_valid((e.properties #>> '{"points"}'), 'double precision') THEN CAST((e.properties #>> '{"points"}') AS DOUBLE PRECISION) END)) > $3)
        OR NOT u.user_key IN (SELECT e.user_key FROM events e WHERE e.workspace_id = $1 AND e.event IN ($4) GROUP BY e.user_key HAVING count(*) >= $5)
        OR NOT u.user_key IN (SELECT e.user_key FROM events e WHERE e.workspace_id = $1 AND e.event IN ($6, $7) AND e.ts >= $8 AND e.ts <= $9))",
      }
    `);
  });

  it('did A and not B (the interest group): one grouped scan of the events, no pass over everyone', () => {
    const def: SegmentDefinition = {
      type: 'and',
      conditions: [
        { type: 'performed', event: ['Product Added', 'Product Added to Wishlist'], window: { from: '10d', to: '3d' } },
        { type: 'not_performed', event: 'Order Completed', window: { last: '10d' } },
      ],
    };
    for (const dialect of ['duckdb', 'postgres'] as const) {
      expect(compile(def, dialect).sql).toBe(
        `SELECT s.user_key FROM (SELECT e.user_key FROM events e WHERE e.workspace_id = $1 AND e.event IN ($2, $3, $4) AND e.ts >= $5 AND e.ts <= $6 GROUP BY e.user_key HAVING count(*) FILTER (WHERE e.event IN ($7, $8) AND e.ts >= $9 AND e.ts <= $10) >= $11 AND count(*) FILTER (WHERE e.event IN ($12) AND e.ts >= $13 AND e.ts <= $14) = 0) s
WHERE s.user_key NOT IN (SELECT m.user_key FROM users m WHERE m.workspace_id = $1 AND m.merged_into IS NOT NULL)`,
      );
    }
    // With a trait next to it, people are read from users as usual.
    const withTrait = { type: 'and', conditions: [...def.conditions, trait('plan', { op: 'eq', value: 'gold' })] } as SegmentDefinition;
    expect(compile(withTrait, 'duckdb').sql).toMatch(/^SELECT u\.user_key FROM users u/);
  });

  it('sequence and random bucket', () => {
    const def: SegmentDefinition = {
      type: 'and',
      conditions: [
        sequence({ event: 'Product Added' }, { event: 'Order Completed' }, false, '1d', { window: { last: '7d' } }),
        { type: 'random_bucket', salt: 'exp-1', from: 0, to: 50 },
      ],
    };
    expect(compile(def, 'duckdb')).toMatchInlineSnapshot(`
      {
        "params": [
          7,
          "Product Added",
          "Order Completed",
          "Product Added",
          "Order Completed",
          1771761600000,
          1771761600000,
          1772366400000,
          86400000,
          1772366400000,
          1034934954,
          0,
          50,
        ],
        "sql": "SELECT u.user_key FROM users u
      WHERE u.workspace_id = $1 AND u.merged_into IS NULL
        AND (u.user_key IN (SELECT s.user_key FROM (
            SELECT e.user_key, e.ts, (e.event IN ($2)) AS is_first,
              min(CASE WHEN e.event IN ($3) THEN e.ts END) OVER (PARTITION BY e.user_key ORDER BY e.ts RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING EXCLUDE CURRENT ROW) AS next_then
            FROM events e WHERE e.workspace_id = $1 AND e.event IN ($4, $5) AND e.ts >= $6) s
          WHERE s.is_first AND s.ts >= $7 AND s.ts <= $8 AND s.ts + $9 <= $10 AND (s.next_then IS NULL OR s.next_then > s.ts + $9))
        AND (CAST(floor(((u.user_key * 2654435761 + $11) % 4294967296) * 100 / 4294967296.0) AS INTEGER) >= $12 AND CAST(floor(((u.user_key * 2654435761 + $11) % 4294967296) * 100 / 4294967296.0) AS INTEGER) < $13))",
      }
    `);
  });

  it('long IN lists become one array parameter, typed per dialect', () => {
    const values = Array.from({ length: 60 }, (_, i) => `v${i}`);
    const def = trait('plan', { op: 'in', value: values });
    expect(compile(def, 'duckdb').sql).toContain(`(u.traits ->> '$."plan"') IN (SELECT unnest($2::TEXT[]))`);
    expect(compile(def, 'postgres').sql).toContain(`(u.traits #>> '{"plan"}') IN (SELECT unnest($2::TEXT[]))`);
    expect(compile(def, 'postgres').params[1]).toEqual(values);
    const nums = trait('age', { op: 'in', value: Array.from({ length: 60 }, (_, i) => i) });
    expect(compile(nums, 'duckdb').sql).toContain('::DOUBLE[]');
    expect(compile(nums, 'postgres').sql).toContain('::DOUBLE PRECISION[]');
  });

  it('values are always bound parameters, never SQL text', () => {
    const evil = `x'); DROP TABLE users; --`;
    const def: SegmentDefinition = {
      type: 'and',
      conditions: [
        trait('plan', { op: 'eq', value: evil }),
        trait('plan', { op: 'in', value: [evil, 'b'] }),
        trait('plan', { op: 'contains', value: evil }),
        trait('plan', { op: 'in_category', value: evil }),
        { type: 'performed', event: evil, where: [{ property: 'coupon', op: 'eq', value: evil }] },
        { type: 'engagement', action: 'clicked', channel: evil, journeyId: evil },
        { type: 'random_bucket', salt: evil, from: 0, to: 10 },
      ],
    };
    for (const dialect of ['duckdb', 'postgres'] as const) {
      const { sql, params } = compile(def, dialect);
      expect(sql).not.toContain('DROP');
      expect(sql).not.toContain(`x')`);
      expect(params).toContain(evil);
      expect(params.filter((p) => typeof p === 'string' && p.includes('DROP TABLE')).length).toBeGreaterThanOrEqual(7);
    }
  });

  it('trait and property names cannot leave their quoted JSON path', () => {
    // The schema refuses quotes and backslashes…
    for (const bad of [`a'b`, `a"b`, `a\\b`]) {
      expect(segmentDefinitionSchema.safeParse(trait(bad, { op: 'exists' })).success).toBe(false);
      const where = [{ property: bad, op: 'exists' }];
      expect(segmentDefinitionSchema.safeParse({ type: 'performed', event: 'X', where }).success).toBe(false);
    }
    // …and names it accepts stay inside the literal: SQL-looking text is only a key.
    const odd = `x) OR 1=1; DROP TABLE users; -- ]}, $.y`;
    expect(segmentDefinitionSchema.safeParse(trait(odd, { op: 'exists' })).success).toBe(true);
    expect(compile(trait(odd, { op: 'exists' }), 'duckdb').sql).toContain(
      `(u.traits ->> '$."x) OR 1=1; DROP TABLE users; -- ]}, $"."y"') IS NOT NULL`,
    );
    expect(compile(trait(odd, { op: 'exists' }), 'postgres').sql).toContain(
      `(u.traits #>> '{"x) OR 1=1; DROP TABLE users; -- ]}, $","y"}') IS NOT NULL`,
    );
    // Even unvalidated input (a quote that bypassed the schema) is stripped, never closing the literal.
    const raw = compileSegment({ type: 'trait', trait: `p' OR '1'='1`, op: 'exists' }, { dialect: 'postgres', workspaceId: 1, now: NOW });
    expect(raw.sql).toContain(`(u.traits #>> '{"p OR 1=1"}') IS NOT NULL`);
  });
});

describe('validation names the bad node', () => {
  const pathsOf = (input: unknown) => segmentDefinitionSchema.safeParse(input).error?.issues.map((i) => i.path.join('.'));
  it.each([
    [{ type: 'and', conditions: [trait('a', { op: 'eq', value: 1 }), trait('b', { op: 'gt', value: 'x' })] }, 'conditions.1.value'],
    [
      {
        type: 'or',
        conditions: [{ type: 'not', condition: { type: 'performed', event: 'X', where: [{ property: 'p', op: 'between', value: [1] }] } }],
      },
      'conditions.0.condition.where.0.value',
    ],
    [{ type: 'and', conditions: [{ type: 'trait', trait: `a'b`, op: 'exists' }] }, 'conditions.0.trait'],
    [{ type: 'random_bucket', from: 50, to: 10 }, 'to'],
    [{ type: 'performed', event: 'X', window: { last: '7 days' } }, 'window'],
    [{ type: 'performed', event: 'X', count: { op: 'at_least', value: -1 } }, 'count.value'],
    [{ type: 'performed', event: 'X', aggregate: { fn: 'sum', property: 'total', op: 'gt' } }, 'aggregate.value'],
    [{ type: 'computed', trait: 'shoe_size', op: 'exists' }, 'trait'],
    [{ type: 'event_time', event: 'X', which: 'first', op: 'after', value: 'yesterday' }, 'value'],
    [sequence({ event: 'A' }, { event: '' }, true, '1d'), 'then.event'],
    [{ type: 'engagement', action: 'opened' }, 'action'],
    [{ type: 'not', condition: { type: 'in_segment', segmentId: 0 } }, 'condition.segmentId'],
    [{ type: 'and', conditions: [] }, 'conditions'],
    [{ type: 'bogus' }, 'type'],
    // Operators that do not fit a typed field are refused here, not left to fail in SQL.
    [{ type: 'computed', trait: 'lifecycle', op: 'gt', value: 5 }, 'op'],
    [{ type: 'computed', trait: 'order_count', op: 'contains', value: '1' }, 'op'],
    [{ type: 'computed', trait: 'order_count', op: 'eq', value: 'two' }, 'value'],
    [{ type: 'computed', trait: 'last_order_at', op: 'gt', value: 5 }, 'op'],
    [{ type: 'performed', event: 'X', where: [{ property: 'total', op: 'contains', value: '1' }] }, 'where.0.op'],
    [{ type: 'performed', event: 'X', aggregate: { fn: 'sum', property: 'order_id', op: 'gt', value: 1 } }, 'aggregate.property'],
    [{ type: 'trait', trait: 'a..b', op: 'exists' }, 'trait'],
    [{ type: 'performed', event: 'X', window: { from: '3d', to: '10d' } }, 'window'],
  ])('%j → %s', (input, path) => {
    expect(pathsOf(input)).toContain(path);
  });

  it('the segment input names the path from `definition`', () => {
    const r = segmentInputSchema.safeParse({ name: 'x', definition: { type: 'and', conditions: [trait('a', { op: 'lt', value: 'x' })] } });
    expect(r.error?.issues.map((i) => i.path.join('.'))).toEqual(['definition.conditions.0.value']);
    expect(segmentInputSchema.safeParse({ name: ' ', definition: trait('a', { op: 'exists' }) }).error?.issues[0]?.path).toEqual(['name']);
  });
});

describe.each(engines)('segment scenarios on %s', (engine) => {
  let t: TestStore;
  let traits: World;
  let comp: World;
  let orders: World;
  let windows: World;
  let lifetimes: World;
  let filters: World;
  let seqs: World;
  let engage: World;
  let crowd: World;
  let merged: World;

  beforeAll(async () => {
    t = await openTestStore(engine);
    traits = await t.world('traits');
    comp = await t.world('computed');
    orders = await t.world('orders');
    windows = await t.world('windows');
    lifetimes = await t.world('lifetimes');
    filters = await t.world('filters');
    seqs = await t.world('sequences');
    engage = await t.world('engagement');
    crowd = await t.world('crowd');
    merged = await t.world('merged');

    await traits.identify({
      A: {
        plan: 'gold',
        age: 34,
        vip: true,
        birthday: '1990-05-01',
        signed_up_at: '2026-02-20T08:00:00Z',
        address: { city: 'Berlin', zip: '10115' },
        fav: 'Electronics > Phones > Smartphones',
      },
      B: { plan: 'silver', age: 25, vip: false, birthday: '2001-02-03T10:00:00Z', address: { city: 'Shanghai' }, score: 7.5 },
      C: { plan: 'gold', age: 41, vip: true, birthday: '1985-12-24', address: { city: 'berlin' } },
      D: { plan: 'bronze', age: 'unknown', birthday: 'not a date' },
      E: { nickname: 'e' },
    });

    await comp.identify({ P: {}, Q: {}, R: {}, S: {} });
    await putComputedTraits(comp, 'P', {
      order_count: 5,
      total_spend: 500,
      first_order_at: daysAgo(400),
      last_order_at: daysAgo(3),
      lifecycle: 'loyal',
      rfm_score: '555',
      favourite_category: 'Electronics > Phones > Smartphones',
      avg_days_between_orders: 30,
    });
    await putComputedTraits(comp, 'Q', {
      order_count: 1,
      total_spend: 40,
      first_order_at: daysAgo(100),
      last_order_at: daysAgo(100),
      lifecycle: 'at_risk',
      rfm_score: '211',
      favourite_category: 'Apparel > Tops > T-shirts',
    });
    await putComputedTraits(comp, 'R', {
      order_count: 2,
      total_spend: 90,
      first_order_at: daysAgo(20),
      last_order_at: daysAgo(5),
      lifecycle: 'new',
      avg_days_between_orders: 15,
    });
    await putPrediction(comp, 'P', { p_alive: 0.9, expected_next_order_at: NOW + 10 * DAY });
    await putPrediction(comp, 'Q', { p_alive: 0.2 });
    await putPrediction(comp, 'R', { p_alive: 0.5 });

    const order = (id: string, total: number, extra: Record<string, unknown> = {}) => ({ order_id: id, total, ...extra });
    await orders.identify({ D: {} });
    await orders.track(
      ['A', 'Order Completed', order('a1', 100, { points: 10 }), daysAgo(2)],
      ['A', 'Order Completed', order('a2', 50, { points: 5 }), daysAgo(20)],
      ['A', 'Order Completed', order('a3', 30, { points: 'lots' }), daysAgo(40)],
      ['B', 'Order Completed', order('b1', 200, { points: 20 }), daysAgo(5)],
      ['C', 'Order Completed', order('c1', 10, { points: 1 }), daysAgo(1)],
      ['C', 'Order Completed', order('c2', 20, { points: 2 }), daysAgo(2)],
      ['E', 'Product Viewed', { product_id: 'p1' }, daysAgo(1)],
    );

    await windows.track(
      ['P01', 'Ping', {}, NOW],
      ['P02', 'Ping', {}, daysAgo(7)],
      ['P03', 'Ping', {}, daysAgo(7) - 1],
      ['P04', 'Ping', {}, daysAgo(3)],
      ['P05', 'Ping', {}, daysAgo(3) + 1],
      ['P06', 'Ping', {}, daysAgo(10)],
      ['P07', 'Ping', {}, daysAgo(10) - 1],
      ['P08', 'Ping', {}, NOW + HOUR],
      ['P09', 'Ping', {}, Date.parse('2026-02-25T00:00:00Z')],
      ['P10', 'Ping', {}, Date.parse('2026-02-20T00:00:00Z')],
    );

    await lifetimes.identify({ L4: {} });
    await lifetimes.track(
      ['L1', 'Visit', {}, daysAgo(30)],
      ['L1', 'Visit', {}, daysAgo(2)],
      ['L2', 'Visit', {}, daysAgo(5)],
      ['L3', 'Visit', {}, daysAgo(40)],
      ['L3', 'Visit', {}, daysAgo(20)],
    );

    await filters.track(
      [
        'F1',
        'Order Completed',
        order('o1', 120, {
          currency: 'eur',
          coupon: 'SPRING',
          gift: true,
          products: [
            { product_id: 'p1', category: 'Electronics > Phones > Smartphones', price: 100, quantity: 1 },
            { product_id: 'p2', category: 'Apparel > Tops > T-shirts', price: 20, quantity: 1 },
          ],
        }),
        daysAgo(2),
      ],
      [
        'F2',
        'Order Completed',
        order('o2', 15, {
          currency: 'USD',
          coupon: 'summer',
          gift: false,
          products: [{ product_id: 'p2', category: 'Apparel > Tops > T-shirts', price: 5, quantity: 3 }],
        }),
        daysAgo(3),
      ],
      ['F3', 'Product Viewed', { product_id: 'p1', category: 'Electronics > Phones > Smartphones', price: 100 }, daysAgo(1)],
      [
        'F4',
        'Order Completed',
        order('o4', 60, {
          note: 'a VIP customer',
          products: [{ product_id: 'p3', category: 'Electronics > Accessories > Earphones', price: 60 }],
        }),
        daysAgo(40),
      ],
    );

    const cart = daysAgo(5);
    await seqs.track(
      ['S01', 'Cart', {}, cart],
      ['S01', 'Buy', { total: 50 }, cart + 2 * HOUR],
      ['S02', 'Cart', {}, cart],
      ['S02', 'Buy', { total: 50 }, cart + 2 * DAY],
      ['S03', 'Cart', {}, cart],
      ['S04', 'Cart', {}, hoursAgo(2)],
      ['S05', 'Cart', {}, daysAgo(3)],
      ['S05', 'Buy', { total: 500 }, daysAgo(3)],
      ['S06', 'Buy', { total: 50 }, daysAgo(6)],
      ['S06', 'Cart', {}, cart],
      ['S07', 'Cart', {}, cart],
      ['S07', 'Buy', { total: 50 }, cart + 2 * HOUR],
      ['S07', 'Cart', {}, daysAgo(3)],
      ['S08', 'Cart', {}, daysAgo(1)],
      ['S09', 'Cart', {}, daysAgo(20)],
      ['S10', 'Buy', { total: 50 }, daysAgo(10)],
      ['S10', 'Buy', { total: 50 }, daysAgo(9)],
      ['S11', 'Cart', {}, cart],
      ['S11', 'Buy', { total: 50 }, cart + DAY],
      ['S12', 'Product Viewed', { product_id: 'p1' }, cart],
      ['S12', 'Order Completed', { order_id: 'o12', total: 9, products: [{ product_id: 'p2' }] }, cart + HOUR],
      ['S13', 'Product Viewed', { product_id: 'p1' }, cart],
      ['S13', 'Order Completed', { order_id: 'o13', total: 9, products: [{ product_id: 'p2' }, { product_id: 'p1' }] }, cart + HOUR],
    );

    await engage.identify({ G4: {} });
    await engage.track(
      ['G1', 'Message Delivered', { channel: 'email', journey_id: 'j1' }, daysAgo(2)],
      ['G1', 'Message Clicked', { channel: 'email', journey_id: 'j1' }, daysAgo(2)],
      ['G2', 'Message Delivered', { channel: 'sms', journey_id: 'j2' }, daysAgo(1)],
      ['G2', 'Message Delivered', { channel: 'sms', journey_id: 'j2' }, daysAgo(1) + MINUTE],
      ['G2', 'Message Delivered', { channel: 'sms', journey_id: 'j2' }, daysAgo(1) + 2 * MINUTE],
      ['G3', 'Message Delivered', { channel: 'email', journey_id: 'j2' }, daysAgo(40)],
      ['G3', 'Journey Converted', { journey_id: 'j2' }, daysAgo(39)],
    );

    await crowd.identify(Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`U${String(i).padStart(2, '0')}`, {}])));

    // X browses anonymously (three pings), M is a member with one; then X turns out to be M.
    await merged.send([
      { anonymousId: 'X', event: 'Ping', at: daysAgo(3) },
      { anonymousId: 'X', event: 'Ping', at: daysAgo(2) },
      { anonymousId: 'X', event: 'Ping', at: daysAgo(1) },
      { userId: 'M', event: 'Ping', at: daysAgo(1) },
      { type: 'identify', userId: 'N', traits: { plan: 'gold' } },
    ]);
    await merged.send([{ type: 'identify', anonymousId: 'X', traits: { plan: 'gold', color: 'red' } }]);
    await merged.send([{ type: 'alias', userId: 'M', previousId: 'X' }]);
  });
  afterAll(async () => t?.dispose());

  const run = (world: () => World, cases: Case[]) =>
    it.each(cases)('%s', async (_label, definition, expected) => {
      expect(await world().members(definition)).toEqual(expected);
    });

  describe('traits', () => {
    run(
      () => traits,
      [
        ['eq string', trait('plan', { op: 'eq', value: 'gold' }), ['A', 'C']],
        ['eq number', trait('age', { op: 'eq', value: 34 }), ['A']],
        ['eq number given as text', trait('age', { op: 'eq', value: '34' }), ['A']],
        ['eq boolean true', trait('vip', { op: 'eq', value: true }), ['A', 'C']],
        ['eq boolean false', trait('vip', { op: 'eq', value: false }), ['B']],
        ['neq (people without the trait are not "different")', trait('plan', { op: 'neq', value: 'gold' }), ['B', 'D']],
        ['neq number', trait('age', { op: 'neq', value: 34 }), ['B', 'C']],
        ['in strings', trait('plan', { op: 'in', value: ['gold', 'silver'] }), ['A', 'B', 'C']],
        ['in numbers', trait('age', { op: 'in', value: [25, 41] }), ['B', 'C']],
        ['not_in', trait('plan', { op: 'not_in', value: ['gold'] }), ['B', 'D']],
        ['contains is case-insensitive, nested', trait('address.city', { op: 'contains', value: 'ERL' }), ['A', 'C']],
        ['gt', trait('age', { op: 'gt', value: 34 }), ['C']],
        ['gte', trait('age', { op: 'gte', value: 34 }), ['A', 'C']],
        ['lt', trait('age', { op: 'lt', value: 34 }), ['B']],
        ['lte', trait('age', { op: 'lte', value: 34 }), ['A', 'B']],
        ['between is inclusive', trait('age', { op: 'between', value: [25, 34] }), ['A', 'B']],
        ['gt on a decimal', trait('score', { op: 'gt', value: 7.4 }), ['B']],
        ['before a date (strict)', trait('birthday', { op: 'before', value: '1990-05-01' }), ['C']],
        ['after a date (inclusive), date-time trait', trait('birthday', { op: 'after', value: '1990-05-01' }), ['A', 'B']],
        ['after a date-time', trait('birthday', { op: 'after', value: '2001-02-03T10:00:00Z' }), ['B']],
        ['before a date-time by 1 s', trait('birthday', { op: 'before', value: '2001-02-03T10:00:01+00:00' }), ['A', 'B', 'C']],
        ['after a relative instant', trait('signed_up_at', { op: 'after', value: { ago: '10d' } }), ['A']],
        ['exists', trait('plan', { op: 'exists' }), ['A', 'B', 'C', 'D']],
        ['not_exists', trait('plan', { op: 'not_exists' }), ['E']],
        ['nested eq', trait('address.city', { op: 'eq', value: 'Berlin' }), ['A']],
        ['nested exists', trait('address.zip', { op: 'exists' }), ['A']],
        ['missing trait eq', trait('nope', { op: 'eq', value: 'x' }), []],
        ['missing nested trait not_exists', trait('address.street', { op: 'not_exists' }), ['A', 'B', 'C', 'D', 'E']],
        ['in_category at the middle level', trait('fav', { op: 'in_category', value: 'Phones' }), ['A']],
        ['in_category needs a whole level', trait('fav', { op: 'in_category', value: 'Phone' }), []],
        ['not', { type: 'not', condition: trait('plan', { op: 'eq', value: 'gold' }) }, ['B', 'D', 'E']],
        ['not not', { type: 'not', condition: { type: 'not', condition: trait('plan', { op: 'eq', value: 'gold' }) } }, ['A', 'C']],
        [
          'not of a numeric comparison (non-numbers are "not > 30")',
          { type: 'not', condition: trait('age', { op: 'gt', value: 30 }) },
          ['B', 'D', 'E'],
        ],
        [
          'and / or / not nesting',
          {
            type: 'and',
            conditions: [
              { type: 'or', conditions: [trait('plan', { op: 'eq', value: 'gold' }), trait('plan', { op: 'eq', value: 'silver' })] },
              { type: 'not', condition: trait('age', { op: 'gt', value: 40 }) },
            ],
          },
          ['A', 'B'],
        ],
        [
          'not of an or with unknowns',
          {
            type: 'and',
            conditions: [
              trait('plan', { op: 'exists' }),
              {
                type: 'not',
                condition: { type: 'or', conditions: [trait('age', { op: 'gt', value: 30 }), trait('vip', { op: 'eq', value: false })] },
              },
            ],
          },
          ['D'],
        ],
        ['random bucket 0-100 is everyone', { type: 'random_bucket', from: 0, to: 100 }, ['A', 'B', 'C', 'D', 'E']],
      ],
    );

    it('SQL-looking values and names are just data (and the tables survive)', async () => {
      const evil = `gold'); DROP TABLE users; --`;
      expect(await traits.members(trait('plan', { op: 'eq', value: evil }))).toEqual([]);
      expect(await traits.members(trait(`x) OR 1=1; -- ]}, $.y`, { op: 'exists' }))).toEqual([]);
      expect(await traits.members(trait('plan', { op: 'in_category', value: evil }))).toEqual([]);
      expect(await traits.members(trait('plan', { op: 'eq', value: 'gold' }))).toEqual(['A', 'C']);
    });

    it('in_segment, combined and negated', async () => {
      const input = segmentInputSchema.parse({
        name: 'gold',
        definition: trait('plan', { op: 'eq', value: 'gold' }),
        refresh: { mode: 'manual' },
      });
      const gold = await createSegment(t.store, traits.ws, input, NOW);
      await refreshSegment(t.store, traits.ws, gold.segmentId, NOW);
      const inGold: SegmentDefinition = { type: 'in_segment', segmentId: gold.segmentId };
      expect(await traits.members(inGold)).toEqual(['A', 'C']);
      expect(await traits.members({ type: 'not', condition: inGold })).toEqual(['B', 'D', 'E']);
      expect(await traits.members({ type: 'and', conditions: [inGold, trait('age', { op: 'gt', value: 35 })] })).toEqual(['C']);
      expect(await traits.members({ type: 'or', conditions: [inGold, trait('plan', { op: 'eq', value: 'silver' })] })).toEqual([
        'A',
        'B',
        'C',
      ]);
    });
  });

  describe('computed traits and predictions', () => {
    run(
      () => comp,
      [
        ['eq text', computed('lifecycle', { op: 'eq', value: 'loyal' }), ['P']],
        ['neq text (no row: not different)', computed('lifecycle', { op: 'neq', value: 'loyal' }), ['Q', 'R']],
        ['in text', computed('lifecycle', { op: 'in', value: ['new', 'at_risk'] }), ['Q', 'R']],
        ['not_in text', computed('lifecycle', { op: 'not_in', value: ['new'] }), ['P', 'Q']],
        ['contains', computed('rfm_score', { op: 'contains', value: '55' }), ['P']],
        ['eq integer', computed('order_count', { op: 'eq', value: 2 }), ['R']],
        ['in integers', computed('order_count', { op: 'in', value: [1, 5] }), ['P', 'Q']],
        ['gt', computed('order_count', { op: 'gt', value: 1 }), ['P', 'R']],
        ['gte', computed('order_count', { op: 'gte', value: 2 }), ['P', 'R']],
        ['lt', computed('order_count', { op: 'lt', value: 2 }), ['Q']],
        ['lte', computed('order_count', { op: 'lte', value: 2 }), ['Q', 'R']],
        ['between doubles', computed('total_spend', { op: 'between', value: [40, 90] }), ['Q', 'R']],
        ['before relative', computed('first_order_at', { op: 'before', value: { ago: '365d' } }), ['P']],
        ['after relative', computed('last_order_at', { op: 'after', value: { ago: '7d' } }), ['P', 'R']],
        ['before absolute date', computed('first_order_at', { op: 'before', value: '2026-01-01' }), ['P', 'Q']],
        ['exists', computed('avg_days_between_orders', { op: 'exists' }), ['P', 'R']],
        ['not_exists (incl. no row at all)', computed('avg_days_between_orders', { op: 'not_exists' }), ['Q', 'S']],
        ['in_category top level', computed('favourite_category', { op: 'in_category', value: 'Electronics' }), ['P']],
        ['in_category middle level', computed('favourite_category', { op: 'in_category', value: 'Tops' }), ['Q']],
        ['prediction gt', computed('p_alive', { op: 'gt', value: 0.5 }), ['P']],
        ['prediction lte', computed('p_alive', { op: 'lte', value: 0.5 }), ['Q', 'R']],
        ['prediction date after now', computed('expected_next_order_at', { op: 'after', value: '2026-03-01T12:00:00Z' }), ['P']],
        ['prediction not_exists', computed('expected_next_order_at', { op: 'not_exists' }), ['Q', 'R', 'S']],
        [
          'traits and predictions together',
          { type: 'and', conditions: [computed('order_count', { op: 'gte', value: 2 }), computed('p_alive', { op: 'lt', value: 0.8 })] },
          ['R'],
        ],
        [
          'not of a computed trait (no row counts as "not")',
          { type: 'not', condition: computed('lifecycle', { op: 'eq', value: 'loyal' }) },
          ['Q', 'R', 'S'],
        ],
      ],
    );
  });

  describe('performed: counts and aggregates', () => {
    const oc = { type: 'performed', event: 'Order Completed' } as const;
    run(
      () => orders,
      [
        ['at least once (default)', { ...oc }, ['A', 'B', 'C']],
        ['at_least 2', { ...oc, count: { op: 'at_least', value: 2 } }, ['A', 'C']],
        ['at_least 3', { ...oc, count: { op: 'at_least', value: 3 } }, ['A']],
        ['at_least 0 is everyone', { ...oc, count: { op: 'at_least', value: 0 } }, ['A', 'B', 'C', 'D', 'E']],
        ['at_most 1 includes people who never did it', { ...oc, count: { op: 'at_most', value: 1 } }, ['B', 'D', 'E']],
        ['at_most 0', { ...oc, count: { op: 'at_most', value: 0 } }, ['D', 'E']],
        ['exactly 2', { ...oc, count: { op: 'exactly', value: 2 } }, ['C']],
        ['exactly 1', { ...oc, count: { op: 'exactly', value: 1 } }, ['B']],
        ['exactly 0', { ...oc, count: { op: 'exactly', value: 0 } }, ['D', 'E']],
        ['count in a window', { ...oc, window: { last: '7d' }, count: { op: 'at_least', value: 2 } }, ['C']],
        ['at_most in a window', { ...oc, window: { last: '7d' }, count: { op: 'at_most', value: 0 } }, ['D', 'E']],
        ['sum of total', { ...oc, aggregate: { fn: 'sum', property: 'total', op: 'gt', value: 150 } }, ['A', 'B']],
        ['sum of total, gte boundary', { ...oc, aggregate: { fn: 'sum', property: 'total', op: 'gte', value: 180 } }, ['A', 'B']],
        ['avg of total', { ...oc, aggregate: { fn: 'avg', property: 'total', op: 'between', value: [30, 60] } }, ['A']],
        ['min of total', { ...oc, aggregate: { fn: 'min', property: 'total', op: 'lt', value: 20 } }, ['C']],
        ['max of total', { ...oc, aggregate: { fn: 'max', property: 'total', op: 'gte', value: 200 } }, ['B']],
        [
          'sum of a JSON property (non-numbers ignored)',
          { ...oc, aggregate: { fn: 'sum', property: 'points', op: 'gte', value: 15 } },
          ['A', 'B'],
        ],
        ['avg of a JSON property', { ...oc, aggregate: { fn: 'avg', property: 'points', op: 'eq', value: 7.5 } }, ['A']],
        ['max of a JSON property', { ...oc, aggregate: { fn: 'max', property: 'points', op: 'eq', value: 2 } }, ['C']],
        ['min of a JSON property', { ...oc, aggregate: { fn: 'min', property: 'points', op: 'lte', value: 5 } }, ['A', 'C']],
        [
          'aggregate in a window',
          { ...oc, window: { last: '7d' }, aggregate: { fn: 'sum', property: 'total', op: 'gt', value: 100 } },
          ['B'],
        ],
        [
          'count and aggregate',
          { ...oc, count: { op: 'at_least', value: 2 }, aggregate: { fn: 'sum', property: 'total', op: 'gt', value: 100 } },
          ['A'],
        ],
        [
          'exactly and aggregate',
          { ...oc, count: { op: 'exactly', value: 2 }, aggregate: { fn: 'sum', property: 'total', op: 'gt', value: 20 } },
          ['C'],
        ],
        [
          'at_most and aggregate (both must hold)',
          { ...oc, count: { op: 'at_most', value: 1 }, aggregate: { fn: 'sum', property: 'total', op: 'gt', value: 100 } },
          ['B'],
        ],
        ['several event names', { type: 'performed', event: ['Order Completed', 'Product Viewed'] }, ['A', 'B', 'C', 'E']],
      ],
    );
  });

  describe('windows', () => {
    const ping = (window?: object) => ({ type: 'performed', event: 'Ping', ...(window ? { window } : {}) }) as SegmentDefinition;
    run(
      () => windows,
      [
        ['no window: all time (future too)', ping(), windows_all()],
        ['last 7d: [now-7d, now], both ends inclusive', ping({ last: '7d' }), ['P01', 'P02', 'P04', 'P05', 'P09']],
        ['3 to 10 days ago: [now-10d, now-3d] inclusive', ping({ from: '10d', to: '3d' }), ['P02', 'P03', 'P04', 'P06', 'P09', 'P10']],
        ['absolute after/before: [after, before)', ping({ after: '2026-02-20T00:00:00Z', before: '2026-02-25' }), ['P02', 'P03', 'P10']],
        ['absolute after only', ping({ after: '2026-02-26T12:00:00Z' }), ['P01', 'P04', 'P05', 'P08']],
        ['absolute before only', ping({ before: '2026-02-19T12:00:00Z' }), ['P07']],
        ['in hours', ping({ last: '72h' }), ['P01', 'P04', 'P05']],
        ['in weeks', ping({ from: '2w', to: '1w' }), ['P02', 'P03', 'P06', 'P07', 'P10']],
        ['not_performed (all time)', { type: 'not_performed', event: 'Ping' }, []],
        [
          'not_performed in the last 7d',
          { type: 'not_performed', event: 'Ping', window: { last: '7d' } },
          ['P03', 'P06', 'P07', 'P08', 'P10'],
        ],
        ['not_performed another event', { type: 'not_performed', event: 'Pong' }, windows_all()],
      ],
    );
  });

  describe('event_time', () => {
    const visit = (which: 'first' | 'last', op: 'before' | 'after', value: string | { ago: string }) =>
      ({ type: 'event_time', event: 'Visit', which, op, value }) as SegmentDefinition;
    run(
      () => lifetimes,
      [
        ['first before', visit('first', 'before', { ago: '10d' }), ['L1', 'L3']],
        ['first after', visit('first', 'after', { ago: '10d' }), ['L2']],
        ['last after', visit('last', 'after', { ago: '10d' }), ['L1', 'L2']],
        ['last before', visit('last', 'before', { ago: '10d' }), ['L3']],
        ['last before an absolute date', visit('last', 'before', '2026-02-10'), ['L3']],
        ['first after an exact instant (inclusive)', visit('first', 'after', new Date(daysAgo(5)).toISOString()), ['L2']],
        // Within an `and` with "visited since S", the last visit is looked for since S only: same answers.
        [
          'last before, and visited in the last 35d',
          {
            type: 'and',
            conditions: [{ type: 'performed', event: 'Visit', window: { last: '35d' } }, visit('last', 'before', { ago: '10d' })],
          },
          ['L3'],
        ],
        [
          'last before, and visited 25–35 days ago (a later visit still counts as the last)',
          {
            type: 'and',
            conditions: [
              { type: 'performed', event: 'Visit', window: { from: '35d', to: '25d' } },
              visit('last', 'before', { ago: '10d' }),
            ],
          },
          [],
        ],
        [
          'not (last after): includes people who never did it',
          { type: 'not', condition: visit('last', 'after', { ago: '10d' }) },
          ['L3', 'L4'],
        ],
      ],
    );
  });

  describe('property filters', () => {
    const oc = (where: object[], extra: object = {}) =>
      ({ type: 'performed', event: 'Order Completed', where, ...extra }) as SegmentDefinition;
    run(
      () => filters,
      [
        ['typed number column', oc([{ property: 'total', op: 'gt', value: 100 }]), ['F1']],
        ['typed text column', oc([{ property: 'order_id', op: 'eq', value: 'o2' }]), ['F2']],
        ['currency (stored upper-case)', oc([{ property: 'currency', op: 'eq', value: 'EUR' }]), ['F1']],
        ['not_in on a typed column skips missing values', oc([{ property: 'currency', op: 'not_in', value: ['EUR'] }]), ['F2']],
        ['JSON text eq', oc([{ property: 'coupon', op: 'eq', value: 'SPRING' }]), ['F1']],
        ['JSON text contains', oc([{ property: 'coupon', op: 'contains', value: 'SUM' }]), ['F2']],
        ['JSON boolean', oc([{ property: 'gift', op: 'eq', value: true }]), ['F1']],
        ['JSON boolean false', oc([{ property: 'gift', op: 'eq', value: false }]), ['F2']],
        ['JSON exists', oc([{ property: 'coupon', op: 'exists' }]), ['F1', 'F2']],
        ['JSON not_exists', oc([{ property: 'coupon', op: 'not_exists' }]), ['F4']],
        [
          'two filters: all must hold',
          oc([
            { property: 'coupon', op: 'exists' },
            { property: 'total', op: 'lt', value: 100 },
          ]),
          ['F2'],
        ],
        ['category in_category top', oc([{ property: 'category', op: 'in_category', value: 'Electronics' }]), ['F1', 'F4']],
        ['category in_category middle', oc([{ property: 'category', op: 'in_category', value: 'Phones' }]), ['F1']],
        ['category in_category leaf', oc([{ property: 'category', op: 'in_category', value: 'T-shirts' }]), ['F1', 'F2']],
        ['category in_category two levels', oc([{ property: 'category', op: 'in_category', value: 'Electronics > Accessories' }]), ['F4']],
        ['category in_category partial name', oc([{ property: 'category', op: 'in_category', value: 'Phone' }]), []],
        ['category eq the whole path', oc([{ property: 'category', op: 'eq', value: 'Apparel > Tops > T-shirts' }]), ['F1', 'F2']],
        ['product_id eq (any line)', oc([{ property: 'product_id', op: 'eq', value: 'p2' }]), ['F1', 'F2']],
        ['product_id in', oc([{ property: 'product_id', op: 'in', value: ['p3', 'nope'] }]), ['F4']],
        ['line price', oc([{ property: 'price', op: 'gte', value: 100 }]), ['F1']],
        ['line quantity', oc([{ property: 'quantity', op: 'gte', value: 3 }]), ['F2']],
        [
          'line filters hold on one and the same line',
          oc([
            { property: 'category', op: 'in_category', value: 'Tops' },
            { property: 'price', op: 'gte', value: 100 },
          ]),
          [],
        ],
        [
          'line filter and a window',
          oc([{ property: 'category', op: 'in_category', value: 'Electronics' }], { window: { last: '7d' } }),
          ['F1'],
        ],
        [
          'line filter across several events',
          {
            type: 'performed',
            event: ['Order Completed', 'Product Viewed'],
            where: [{ property: 'category', op: 'in_category', value: 'Phones' }],
          },
          ['F1', 'F3'],
        ],
        [
          'single-product event',
          { type: 'performed', event: 'Product Viewed', where: [{ property: 'price', op: 'eq', value: 100 }] },
          ['F3'],
        ],
        ['aggregate over line quantities', oc([], { aggregate: { fn: 'sum', property: 'quantity', op: 'gte', value: 3 } }), ['F2']],
        ['aggregate over line prices', oc([], { aggregate: { fn: 'max', property: 'price', op: 'eq', value: 120 } }), ['F1']],
        [
          'not_performed with a line filter',
          { type: 'not_performed', event: 'Order Completed', where: [{ property: 'category', op: 'in_category', value: 'Apparel' }] },
          ['F3', 'F4'],
        ],
        ['JSON contains on text', oc([{ property: 'note', op: 'contains', value: 'vip' }]), ['F4']],
      ],
    );
  });

  describe('sequence', () => {
    const seq = (thenPerformed: boolean, within: string, extra: object = {}) =>
      sequence({ event: 'Cart' }, { event: 'Buy' }, thenPerformed, within, extra);
    const viewedThenOrdered = (thenPerformed: boolean, extra: object = {}) =>
      sequence({ event: 'Product Viewed' }, { event: 'Order Completed' }, thenPerformed, '1d', extra);
    run(
      () => seqs,
      [
        ['then performed within 1d (incl. at the same instant, and exactly 1d later)', seq(true, '1d'), ['S01', 'S05', 'S07', 'S11']],
        ['then not performed within 1d (only once 1d has passed)', seq(false, '1d'), ['S02', 'S03', 'S06', 'S07', 'S08', 'S09']],
        [
          'then not performed, first step in the last 7d',
          seq(false, '1d', { window: { last: '7d' } }),
          ['S02', 'S03', 'S06', 'S07', 'S08'],
        ],
        ['then performed within 3d', seq(true, '3d'), ['S01', 'S02', 'S05', 'S07', 'S11']],
        ['then not performed within 6h', seq(false, '6h'), ['S02', 'S03', 'S06', 'S07', 'S08', 'S09', 'S11']],
        [
          'with a filter on the then-step',
          sequence({ event: 'Cart' }, { event: 'Buy', where: [{ property: 'total', op: 'gt', value: 100 }] }, true, '1d'),
          ['S05'],
        ],
        [
          'the same event twice (a repeat purchase) never matches itself',
          sequence({ event: 'Buy' }, { event: 'Buy' }, true, '3d'),
          ['S10'],
        ],
        ['viewed, then ordered (any product)', viewedThenOrdered(true), ['S12', 'S13']],
        ['viewed, then ordered that product', viewedThenOrdered(true, { sameProduct: true }), ['S13']],
        ['viewed, then did not order that product', viewedThenOrdered(false, { sameProduct: true }), ['S12']],
        ['viewed, then did not order anything', viewedThenOrdered(false), []],
      ],
    );
  });

  describe('engagement', () => {
    const eng = (action: 'received' | 'clicked' | 'converted', extra: object = {}) =>
      ({ type: 'engagement', action, ...extra }) as SegmentDefinition;
    run(
      () => engage,
      [
        ['received', eng('received'), ['G1', 'G2', 'G3']],
        ['received by email', eng('received', { channel: 'email' }), ['G1', 'G3']],
        ['received in a journey', eng('received', { journeyId: 'j2' }), ['G2', 'G3']],
        ['received by email in a journey', eng('received', { channel: 'email', journeyId: 'j2' }), ['G3']],
        ['received 3 times by sms', eng('received', { channel: 'sms', count: { op: 'at_least', value: 3 } }), ['G2']],
        ['received exactly once', eng('received', { count: { op: 'exactly', value: 1 } }), ['G1', 'G3']],
        ['received in the last 30d', eng('received', { window: { last: '30d' } }), ['G1', 'G2']],
        ['clicked', eng('clicked'), ['G1']],
        ['never clicked', eng('clicked', { count: { op: 'at_most', value: 0 } }), ['G2', 'G3', 'G4']],
        ['converted in a journey', eng('converted', { journeyId: 'j2' }), ['G3']],
        ['converted in another journey', eng('converted', { journeyId: 'j1' }), []],
        ['converted in the last 7d', eng('converted', { window: { last: '7d' } }), []],
      ],
    );
  });

  describe('random buckets', () => {
    it('agree with bucketOf for every person, and the salt changes the split', async () => {
      const people = crowd.everyone();
      const expected = (salt: string, from: number, to: number) =>
        people.filter((p) => bucketOf(crowd.key(p), salt) >= from && bucketOf(crowd.key(p), salt) < to);
      const first = await crowd.members({ type: 'random_bucket', from: 0, to: 50 });
      expect(first).toEqual(expected('', 0, 50));
      expect(first.length).toBeGreaterThan(15);
      expect(first.length).toBeLessThan(45);
      const salted = await crowd.members({ type: 'random_bucket', salt: 'exp-1', from: 0, to: 50 });
      expect(salted).toEqual(expected('exp-1', 0, 50));
      expect(salted).not.toEqual(first);
      expect(await crowd.members({ type: 'random_bucket', salt: 'exp-1', from: 20, to: 30 })).toEqual(expected('exp-1', 20, 30));
      const rest = await crowd.members({ type: 'not', condition: { type: 'random_bucket', salt: 'exp-1', from: 0, to: 50 } });
      expect([...salted, ...rest].sort()).toEqual(people);
      expect(rest).toEqual(expected('exp-1', 50, 100));
    });

    it('agree with bucketOf for large person keys too', async () => {
      const keys = [1, 2, 99, 12_345, 3_400_000, 10_000_000, 123_456_789, 2_000_000_000];
      for (const salt of ['', 'exp-1', 'holdout']) {
        const rows = await t.store.query<{ k: number; b: number }>(
          `SELECT k, ${bucketSql('k', '$2')} AS b FROM (SELECT unnest($1::BIGINT[]) AS k) s ORDER BY k`,
          [keys, saltHash(salt)],
        );
        expect(rows.map((r) => [Number(r.k), Number(r.b)])).toEqual(keys.map((k) => [k, bucketOf(k, salt)]));
      }
    });
  });

  describe('merged people', () => {
    run(
      () => merged,
      [
        [
          "the survivor counts the merged person's events",
          { type: 'performed', event: 'Ping', count: { op: 'at_least', value: 4 } },
          ['M'],
        ],
        [
          "first event of the survivor is the merged one's",
          { type: 'event_time', event: 'Ping', which: 'first', op: 'before', value: { ago: '2d' } },
          ['M'],
        ],
        ['the merged-away person is never a member (not_performed)', { type: 'not_performed', event: 'Ping' }, ['N']],
        ['…nor with at_most', { type: 'performed', event: 'Ping', count: { op: 'at_most', value: 10 } }, ['M', 'N']],
        ['…nor by traits (the survivor gets the gaps filled)', trait('color', { op: 'eq', value: 'red' }), ['M']],
        ['…nor in a bucket of everyone', { type: 'random_bucket', from: 0, to: 100 }, ['M', 'N']],
        [
          '…nor by a question answered from the events alone (did A and not B)',
          {
            type: 'and',
            conditions: [
              { type: 'performed', event: 'Ping', window: { last: '7d' } },
              { type: 'not_performed', event: 'Order Completed', window: { last: '10d' } },
            ],
          },
          ['M'],
        ],
      ],
    );

    it('an event left under a merged-away key (a write racing the merge) does not bring them back', async () => {
      const orphan = `orphan-${engine}`;
      await t.store.query(
        `INSERT INTO events (workspace_id, message_id, user_key, type, event, ts, received_at, source) VALUES ($1, $2, $3, 'track', 'Ping', $4, $4, 'api')`,
        [merged.ws, orphan, merged.key('X'), daysAgo(1)],
      );
      try {
        const interest = {
          type: 'and',
          conditions: [
            { type: 'performed', event: 'Ping', window: { last: '7d' } },
            { type: 'not_performed', event: 'Order Completed', window: { last: '10d' } },
          ],
        } as SegmentDefinition;
        expect(await merged.members(interest)).toEqual(['M']);
      } finally {
        await t.store.query('DELETE FROM events WHERE workspace_id = $1 AND message_id = $2', [merged.ws, orphan]);
      }
    });

    it('the merged-away person is recorded as merged', async () => {
      const [row] = await t.store.query<{ merged_into: number }>(
        'SELECT merged_into FROM users WHERE workspace_id = $1 AND user_key = $2',
        [merged.ws, merged.key('X')],
      );
      expect(Number(row!.merged_into)).toBe(merged.key('M'));
    });
  });
});

function windows_all(): string[] {
  return ['P01', 'P02', 'P03', 'P04', 'P05', 'P06', 'P07', 'P08', 'P09', 'P10'];
}
