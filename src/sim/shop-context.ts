import { localDay } from '../core/local-time.ts';
import { buildCatalog, type SimCatalog, type SimProduct } from './catalog.ts';
import { type LeafCategory, leafByCode, type TopCategory, topCategories, topPopularity } from './categories.ts';
import type { SimMember } from './member.ts';
import { shareable } from './ndjson.ts';
import { type Rng, WeightedTable } from './rng.ts';
import { dayProfile } from './seasonality.ts';

/**
 * Everything shared by all members of one run: the catalog, pre-built property objects and
 * seasonal category tables. Built once so per-event work stays small (the generator must keep
 * up with bulk-import benchmarks).
 */
export interface ShopContext {
  seed: number;
  start: number;
  end: number;
  currency: string;
  catalog: SimCatalog;
  /** `Product Viewed` / wishlist properties per product (shared objects, never mutated). */
  viewProps: ReadonlyMap<SimProduct, Record<string, unknown>>;
  leafTables: Map<number, WeightedTable<LeafCategory>>;
  topTable: WeightedTable<TopCategory>;
}

export function buildShopContext(seed: number, start: number, end: number): ShopContext {
  const catalog = buildCatalog(seed);
  const viewProps = new Map<SimProduct, Record<string, unknown>>();
  for (const p of catalog.products) {
    viewProps.set(
      p,
      shareable({ product_id: p.product.product_id, name: p.product.name, category: p.leaf.path, price: p.price, currency: 'USD' }),
    );
  }
  return {
    seed,
    start,
    end,
    currency: 'USD',
    catalog,
    viewProps,
    leafTables: new Map(),
    topTable: new WeightedTable(
      topCategories,
      topCategories.map((t) => topPopularity[t]),
    ),
  };
}

/** Leaves of a top category weighted by popularity and the season of `month`. */
function leafTable(ctx: ShopContext, top: TopCategory, month: number): WeightedTable<LeafCategory> {
  const key = topCategories.indexOf(top) * 13 + month;
  let table = ctx.leafTables.get(key);
  if (!table) {
    const leaves = ctx.catalog.leavesOfTop.get(top) ?? [];
    table = new WeightedTable(
      leaves,
      leaves.map((l) => l.weight * (l.season?.[month] ?? 1)),
    );
    ctx.leafTables.set(key, table);
  }
  return table;
}

/** A leaf to browse: usually from the member's favourite categories, sometimes exploring. */
export function pickLeaf(ctx: ShopContext, m: SimMember, rng: Rng, t: number): LeafCategory {
  const top = rng.chance(0.12) ? ctx.topTable.pick(rng) : m.topTable.pick(rng);
  return leafTable(ctx, top, dayProfile(m.country.code, localDay(m.timezone, t)).month).pick(rng);
}

/** A product of a leaf: best-sellers most of the time, otherwise one in the member's price band. */
export function pickProduct(ctx: ShopContext, m: SimMember, rng: Rng, leaf: LeafCategory): SimProduct {
  if (rng.chance(0.65)) return ctx.catalog.byLeaf.get(leaf.code)!.pick(rng);
  const list = ctx.catalog.leafProducts.get(leaf.code)!;
  const i = Math.round(m.priceBand * (list.length - 1) + 1.5 * rng.normal());
  return list[Math.min(list.length - 1, Math.max(0, i))]!;
}

/** A leaf related to `leaf` (cross-sell), or null. */
export function relatedLeaf(leaf: LeafCategory, rng: Rng): LeafCategory | null {
  if (leaf.related.length === 0) return null;
  return leafByCode.get(rng.pick(leaf.related)) ?? null;
}
