import type { SqlExecutor } from '../../store/index.ts';
import { type PersonAt, peopleFromList } from './people.ts';
import { recommendationSql } from './query.ts';
import type { RecommendationSpec, RecommendedProduct } from './schema.ts';
import { modelState } from './similarity.ts';
import { Params } from './tuning.ts';

/** One product of a list, before the catalog's details are added. */
export interface Recommended {
  productId: string;
  rank: number;
  score: number;
  source: RecommendedProduct['source'];
}

export interface RecommendOptions {
  /** related: force the model or live similarities (default: the model when it is fresh). */
  similarity?: 'model' | 'live';
}

/** Which similarities `related` reads now: the model while it is fresh, else live ones. */
export async function similarityFor(
  db: SqlExecutor,
  workspaceId: number,
  now: number,
  spec: RecommendationSpec,
): Promise<'model' | 'live'> {
  if (spec.strategy !== 'related') return 'live';
  return (await modelState(db, workspaceId, now)).fresh ? 'model' : 'live';
}

/**
 * Lists for many people in one statement (see recommendationSql), by pk. People with nothing to
 * recommend (no sales at all yet) are missing from the map.
 */
export async function recommendFor(
  db: SqlExecutor,
  workspaceId: number,
  now: number,
  spec: RecommendationSpec,
  people: readonly PersonAt[],
  options: RecommendOptions = {},
): Promise<Map<number, Recommended[]>> {
  const out = new Map<number, Recommended[]>();
  if (people.length === 0) return out;
  const similarity = options.similarity ?? (await similarityFor(db, workspaceId, now, spec));
  const p = new Params();
  const sql = recommendationSql({ p, workspaceId, now, spec, similarity }, peopleFromList(p, people, 'list'));
  const rows = await db.query<{ pk: number; product_id: string; rn: number; score: number; source: Recommended['source'] }>(sql, p.values);
  rows.sort((a, b) => Number(a.pk) - Number(b.pk) || Number(a.rn) - Number(b.rn));
  for (const r of rows) {
    const list = out.get(Number(r.pk)) ?? [];
    list.push({ productId: String(r.product_id), rank: Number(r.rn), score: Number(r.score), source: r.source });
    out.set(Number(r.pk), list);
  }
  return out;
}

/** The catalog's details for a list (products no longer in the catalog keep their id, with nulls). */
export async function withDetails(db: SqlExecutor, workspaceId: number, list: readonly Recommended[]): Promise<RecommendedProduct[]> {
  if (list.length === 0) return [];
  const rows = await db.query<{ product_id: string; name: string; category_path: string; price: number | null; image_url: string | null }>(
    `SELECT product_id, name, category_path, price, image_url FROM products
     WHERE workspace_id = $1 AND product_id IN (SELECT unnest(CAST($2 AS TEXT[])))`,
    [workspaceId, list.map((r) => r.productId)],
  );
  const byId = new Map(rows.map((r) => [String(r.product_id), r]));
  return list.map((r) => {
    const c = byId.get(r.productId);
    return {
      ...r,
      name: c?.name ?? null,
      category: c?.category_path ?? null,
      price: c?.price === null || c?.price === undefined ? null : Number(c.price),
      imageUrl: c?.image_url ?? null,
    };
  });
}

/** Stands for "no one": lists that do not depend on a person (best sellers, a product's neighbours). */
export const NO_ONE = -1;

/** One person's list with the catalog's details. */
export async function recommendForPerson(
  db: SqlExecutor,
  workspaceId: number,
  now: number,
  spec: RecommendationSpec,
  person: { userKey: number; triggerProducts?: readonly string[] },
  options: RecommendOptions = {},
): Promise<RecommendedProduct[]> {
  const lists = await recommendFor(db, workspaceId, now, spec, [{ pk: 0, asOf: now, ...person }], options);
  return withDetails(db, workspaceId, lists.get(0) ?? []);
}
