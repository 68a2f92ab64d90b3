/**
 * The segments the benchmark times, as definitions in the JSON schema, each with the SQL an
 * engineer would write by hand for the same question on each engine (the baseline).
 *
 * The hand-written queries use what an engineer knows about this schema: identity merges move
 * events to the surviving person (so event-only questions need not look at `users`), and
 * `event_items` carries the person, event name and time of each product line (so a category
 * question need not join back to `events`).
 */
import { DAY } from '../src/core/clock.ts';
import type { SegmentDefinition } from '../src/segments/index.ts';
import type { Dialect, SqlParam } from '../src/store/index.ts';

export interface HandQuery {
  /** Returns one row with `n`, the number of members. */
  sql: string;
  params: SqlParam[];
}

export interface SegmentCase {
  key: string;
  name: string;
  definition: SegmentDefinition;
  hand(dialect: Dialect, workspaceId: number, now: number): HandQuery;
}

export const segmentCases: SegmentCase[] = [
  {
    key: 'interest',
    name: 'Interest group: added to cart or wishlist 3–10 days ago, no order in the last 10 days',
    definition: {
      type: 'and',
      conditions: [
        { type: 'performed', event: ['Product Added', 'Product Added to Wishlist'], window: { from: '10d', to: '3d' } },
        { type: 'not_performed', event: 'Order Completed', window: { last: '10d' } },
      ],
    },
    // One scan of the last 10 days of the three events, one group per person.
    hand: (_d, ws, now) => ({
      sql: `SELECT count(*) AS n FROM (
          SELECT user_key FROM events
          WHERE workspace_id = $1 AND event IN ('Product Added', 'Product Added to Wishlist', 'Order Completed') AND ts >= $2 AND ts <= $3
          GROUP BY user_key
          HAVING count(*) FILTER (WHERE event <> 'Order Completed' AND ts <= $4) > 0
             AND count(*) FILTER (WHERE event = 'Order Completed') = 0) m`,
      params: [ws, now - 10 * DAY, now, now - 3 * DAY],
    }),
  },
  {
    key: 'dormant',
    name: 'Dormant high value: 2+ orders in the last 180 days, the last more than 60 days ago',
    definition: {
      type: 'and',
      conditions: [
        { type: 'performed', event: 'Order Completed', window: { last: '180d' }, count: { op: 'at_least', value: 2 } },
        { type: 'event_time', event: 'Order Completed', which: 'last', op: 'before', value: { ago: '60d' } },
      ],
    },
    // Whoever has 2+ orders since 180 days ago has their last order among them: one scan suffices.
    hand: (_d, ws, now) => ({
      sql: `SELECT count(*) AS n FROM (
          SELECT user_key FROM events
          WHERE workspace_id = $1 AND event = 'Order Completed' AND ts >= $2
          GROUP BY user_key
          HAVING count(*) FILTER (WHERE ts <= $3) >= 2 AND max(ts) < $4) m`,
      params: [ws, now - 180 * DAY, now, now - 60 * DAY],
    }),
  },
  {
    key: 'trait-category',
    name: 'Women who ordered a phone product (category "Phones") in the last 90 days',
    definition: {
      type: 'and',
      conditions: [
        { type: 'trait', trait: 'gender', op: 'eq', value: 'female' },
        {
          type: 'performed',
          event: 'Order Completed',
          window: { last: '90d' },
          where: [{ property: 'category', op: 'in_category', value: 'Phones' }],
        },
      ],
    },
    // Product lines carry person, event and time: filter them directly, then the people.
    hand: (_d, ws, now) => ({
      sql: `SELECT count(*) AS n FROM users u
        WHERE u.workspace_id = $1 AND u.merged_into IS NULL AND (u.traits ->> 'gender') = 'female'
          AND u.user_key IN (
            SELECT i.user_key FROM event_items i
            WHERE i.workspace_id = $1 AND i.event = 'Order Completed' AND i.ts >= $2 AND i.ts <= $3
              AND ' > ' || i.category || ' > ' LIKE '% > Phones > %')`,
      params: [ws, now - 90 * DAY, now],
    }),
  },
];
