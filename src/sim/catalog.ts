import type { Product } from '../commerce/index.ts';
import { type LeafCategory, leafCategories, type TopCategory, topCategories } from './categories.ts';
import { hashString, Rng, WeightedTable } from './rng.ts';

/** A catalog product plus what the simulator needs to sell it (pre-serialised line item). */
export interface SimProduct {
  product: Product;
  leaf: LeafCategory;
  price: number;
  /** Index in the catalog. */
  index: number;
}

export interface SimCatalog {
  products: readonly SimProduct[];
  /** Products of each leaf, Zipf-weighted so a few best-sellers dominate (as in real shops). */
  byLeaf: ReadonlyMap<string, WeightedTable<SimProduct>>;
  /** Products of each leaf ordered by price, for shoppers with a price-band preference. */
  leafProducts: ReadonlyMap<string, readonly SimProduct[]>;
  /** Leaves of each top category, weighted by popularity (and season, applied by the caller). */
  leavesOfTop: ReadonlyMap<TopCategory, readonly LeafCategory[]>;
}

const adjectives = ['Classic', 'Pro', 'Lite', 'Max', 'Air', 'Plus', 'Mini', 'Ultra', 'Essential', 'Signature', 'Eco', 'Premium'];

/** Prices end in .99 / .90 / .00 like real price tags. */
function priceTag(x: number, rng: Rng): number {
  const ending = rng.pick([0.99, 0.99, 0.9, 0]);
  return Math.max(0.99, Math.floor(x) + ending);
}

/**
 * Builds the catalog deterministically from the seed. Each leaf has 8–16 products; the
 * leaf's own seed is derived from its path, so adding a leaf does not reshuffle the others.
 */
export function buildCatalog(seed: number): SimCatalog {
  const products: SimProduct[] = [];
  const byLeaf = new Map<string, WeightedTable<SimProduct>>();
  const leafProducts = new Map<string, SimProduct[]>();
  for (const leaf of leafCategories) {
    const rng = new Rng(hashString(leaf.path, seed));
    const count = rng.int(8, 16);
    const list: SimProduct[] = [];
    const [lo, hi] = leaf.price;
    for (let i = 1; i <= count; i++) {
      // Log-uniform in the leaf's range: many cheap items, a few expensive ones.
      const price = priceTag(lo * (hi / lo) ** rng.next(), rng);
      const brand = rng.pick(leaf.brands);
      const productId = `${leaf.code}-${String(i).padStart(3, '0')}`;
      const product: Product = {
        product_id: productId,
        name: `${brand} ${rng.pick(adjectives)} ${leaf.noun} ${rng.int(1, 9)}${rng.pick(['', '0', 'S', 'X'])}`.trim(),
        category: leaf.path,
        price,
        stock: rng.chance(0.06) ? 0 : rng.int(5, 800),
        image_url: `https://img.shopflow.example/products/${productId}.jpg`,
        properties: { brand, repurchase_cycle_days: leaf.cycleDays },
      };
      list.push({ product, leaf, price, index: products.length + list.length });
    }
    products.push(...list);
    byLeaf.set(
      leaf.code,
      new WeightedTable(
        list,
        list.map((_, i) => 1 / (i + 1) ** 0.9),
      ),
    );
    leafProducts.set(
      leaf.code,
      [...list].sort((a, b) => a.price - b.price),
    );
  }
  const leavesOfTop = new Map<TopCategory, LeafCategory[]>();
  for (const top of topCategories)
    leavesOfTop.set(
      top,
      leafCategories.filter((l) => l.top === top),
    );
  return { products, byLeaf, leafProducts, leavesOfTop };
}
