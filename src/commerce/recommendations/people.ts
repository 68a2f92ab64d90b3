import type { Dialect } from '../../store/index.ts';
import type { Params } from './tuning.ts';

/**
 * The two relations a recommendation query reads about whom it is for (see recommendationSql):
 * - people: `(pk, user_key, as_of)`: one list per pk, from the person's history up to as_of;
 * - triggers: `(pk, product_id)`: what triggered the list (an order's products), or none.
 * Journeys give their `ready` table; the API, templates and the evaluation give arrays or tables.
 */
export interface PeopleInput {
  people: string;
  triggers: string | null;
}

export interface PersonAt {
  /** Whose list: an instance id, a message's index in a batch, or the user key itself. */
  pk: number;
  userKey: number;
  /** History up to here (epoch ms). */
  asOf: number;
  /** Products that triggered the list: anchors of `related`, never recommended themselves. */
  triggerProducts?: readonly string[];
}

/** People from JS arrays, bound as array parameters and unnested side by side (one statement, any number of people). */
export function peopleFromList(p: Params, list: readonly PersonAt[], tag: string): PeopleInput {
  const triggers = list.flatMap((x) => (x.triggerProducts ?? []).map((id) => [x.pk, id] as const));
  const people = `SELECT unnest(CAST(${p.get(
    `${tag}:pk`,
    list.map((x) => x.pk),
  )} AS BIGINT[])) AS pk,
      unnest(CAST(${p.get(
        `${tag}:user`,
        list.map((x) => x.userKey),
      )} AS BIGINT[])) AS user_key,
      unnest(CAST(${p.get(
        `${tag}:asof`,
        list.map((x) => x.asOf),
      )} AS BIGINT[])) AS as_of`;
  if (triggers.length === 0) return { people, triggers: null };
  return {
    people,
    triggers: `SELECT unnest(CAST(${p.get(
      `${tag}:tpk`,
      triggers.map((t) => t[0]),
    )} AS BIGINT[])) AS pk,
      unnest(CAST(${p.get(
        `${tag}:tid`,
        triggers.map((t) => t[1]),
      )} AS TEXT[])) AS product_id`,
  };
}

/**
 * `(pk, product_id)` of the products a JSON column of trigger properties names: every
 * `products[].product_id` (an order's lines) and a top-level `product_id` (a product event).
 */
export function triggerProductsSql(dialect: Dialect, table: string, pk: string, json: string, where: string): string {
  if (dialect === 'duckdb') {
    return `SELECT pk, product_id FROM (
        SELECT t.${pk} AS pk, unnest(json_extract_string(t.${json}, '$.products[*].product_id')) AS product_id FROM ${table} t WHERE ${where}
        UNION SELECT t.${pk}, json_extract_string(t.${json}, '$.product_id') FROM ${table} t WHERE ${where}) x
      WHERE product_id IS NOT NULL`;
  }
  return `SELECT pk, product_id FROM (
      SELECT t.${pk} AS pk, (line ->> 'product_id') AS product_id FROM ${table} t
        CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(t.${json} -> 'products') = 'array' THEN t.${json} -> 'products' ELSE '[]'::jsonb END) line
        WHERE ${where}
      UNION SELECT t.${pk}, (t.${json} ->> 'product_id') FROM ${table} t WHERE ${where}) x
    WHERE product_id IS NOT NULL`;
}

/** Product ids named by trigger properties in JS (the same rule as triggerProductsSql). */
export function triggerProductsOf(trigger: unknown): string[] {
  if (!trigger || typeof trigger !== 'object') return [];
  const t = trigger as { products?: unknown; product_id?: unknown };
  const ids = Array.isArray(t.products)
    ? t.products.flatMap((l) => {
        const id = (l as { product_id?: unknown } | null)?.product_id;
        return typeof id === 'string' || typeof id === 'number' ? [String(id)] : [];
      })
    : [];
  if (typeof t.product_id === 'string' || typeof t.product_id === 'number') ids.push(String(t.product_id));
  return [...new Set(ids)];
}
