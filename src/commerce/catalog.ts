import { z } from 'zod';
import type { ColumnSpec, Store } from '../store/index.ts';

export const productSchema = z
  .object({
    product_id: z.union([z.string().min(1).max(200), z.number().transform(String)]).describe('Your product id'),
    name: z.string().min(1).max(500),
    category: z
      .string()
      .min(1)
      .max(500)
      .describe('Category path from top to leaf, separated by " > ", e.g. "Electronics > Phones > Smartphones"'),
    price: z.number().nonnegative().optional(),
    stock: z.number().int().optional(),
    image_url: z.string().url().optional(),
    properties: z.record(z.string(), z.unknown()).optional().describe('Anything else (brand, tags …)'),
  })
  .describe('A catalog product');
export type Product = z.infer<typeof productSchema>;

export const productsBodySchema = z.object({ products: z.array(productSchema).min(1).max(10_000) });

const columns: ColumnSpec[] = [
  { name: 'workspace_id', type: 'int' },
  { name: 'product_id', type: 'text' },
  { name: 'name', type: 'text' },
  { name: 'category_path', type: 'text' },
  { name: 'category_top', type: 'text' },
  { name: 'category_mid', type: 'text' },
  { name: 'category_leaf', type: 'text' },
  { name: 'price', type: 'double' },
  { name: 'stock', type: 'int' },
  { name: 'image_url', type: 'text' },
  { name: 'properties', type: 'json' },
  { name: 'updated_at', type: 'bigint' },
];

/** "A > B > C" → levels; a two-level path has no middle level, a one-level path only a top. */
export function splitCategory(path: string): { path: string; top: string; mid: string | null; leaf: string } {
  const parts = path
    .split('>')
    .map((p) => p.trim())
    .filter(Boolean);
  return {
    path: parts.join(' > '),
    top: parts[0] ?? path,
    mid: parts.length >= 3 ? parts.slice(1, -1).join(' > ') : null,
    leaf: parts[parts.length - 1] ?? path,
  };
}

/** Inserts or replaces products (by product_id) in one transaction. */
export async function upsertProducts(store: Store, workspaceId: number, products: readonly Product[], now: number): Promise<number> {
  const latest = new Map(products.map((p) => [p.product_id, p])); // last one of a repeated id wins
  const rows = [...latest.values()].map((p) => {
    const c = splitCategory(p.category);
    return [
      workspaceId,
      p.product_id,
      p.name,
      c.path,
      c.top,
      c.mid,
      c.leaf,
      p.price ?? null,
      p.stock ?? null,
      p.image_url ?? null,
      p.properties ?? null,
      now,
    ];
  });
  await store.transaction(async (tx) => {
    await tx.query('DELETE FROM products WHERE workspace_id = $1 AND product_id IN (SELECT unnest($2::text[]))', [
      workspaceId,
      [...latest.keys()],
    ]);
    await tx.append('products', columns, rows);
  });
  return rows.length;
}

export interface CatalogProduct {
  productId: string;
  name: string;
  category: string;
  categoryLevels: { top: string | null; mid: string | null; leaf: string | null };
  price: number | null;
  stock: number | null;
  imageUrl: string | null;
  properties: Record<string, unknown> | null;
}

type ProductRow = {
  product_id: string;
  name: string;
  category_path: string;
  category_top: string | null;
  category_mid: string | null;
  category_leaf: string | null;
  price: number | null;
  stock: number | null;
  image_url: string | null;
  properties: Record<string, unknown> | null;
};

const toProduct = (r: ProductRow): CatalogProduct => ({
  productId: r.product_id,
  name: r.name,
  category: r.category_path,
  categoryLevels: { top: r.category_top, mid: r.category_mid, leaf: r.category_leaf },
  price: r.price,
  stock: r.stock,
  imageUrl: r.image_url,
  properties: r.properties,
});

export async function getProduct(store: Store, workspaceId: number, productId: string): Promise<CatalogProduct | null> {
  const rows = await store.query<ProductRow>('SELECT * FROM products WHERE workspace_id = $1 AND product_id = $2', [
    workspaceId,
    productId,
  ]);
  return rows[0] ? toProduct(rows[0]) : null;
}

export async function listProducts(
  store: Store,
  workspaceId: number,
  options: { category?: string; limit: number; offset: number },
): Promise<CatalogProduct[]> {
  const rows = options.category
    ? await store.query<ProductRow>(
        `SELECT * FROM products WHERE workspace_id = $1 AND (category_path = $2 OR category_path LIKE $3)
         ORDER BY product_id LIMIT $4 OFFSET $5`,
        [workspaceId, options.category, `${options.category} > %`, options.limit, options.offset],
      )
    : await store.query<ProductRow>('SELECT * FROM products WHERE workspace_id = $1 ORDER BY product_id LIMIT $2 OFFSET $3', [
        workspaceId,
        options.limit,
        options.offset,
      ]);
  return rows.map(toProduct);
}
