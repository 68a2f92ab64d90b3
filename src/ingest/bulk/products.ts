import type { Progress } from '../../cli/progress.ts';
import { type Product, productSchema, splitCategory, upsertProducts } from '../../commerce/index.ts';
import { issuesToErrors } from '../../core/errors.ts';
import type { Store } from '../../store/index.ts';
import { CsvSyntaxError, readCsv } from './csv-reader.ts';
import { ErrorLog } from './js-stage.ts';
import { readLines } from './line-reader.ts';
import { checkHeader, csvRow } from './row-mapping.ts';

export interface ProductImportResult {
  rows: number;
  stored: number;
  duplicates: number;
  rejected: number;
  errors: ErrorLog;
}

/** JSON with sorted keys, to compare a product with its stored row whatever the key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

type StoredProduct = {
  product_id: string;
  name: string;
  category_path: string;
  price: number | null;
  stock: number | null;
  image_url: string | null;
  properties: unknown;
};

const sameAsStored = (p: Product, s: StoredProduct) =>
  s.name === p.name &&
  s.category_path === splitCategory(p.category).path &&
  s.price === (p.price ?? null) &&
  s.stock === (p.stock ?? null) &&
  s.image_url === (p.image_url ?? null) &&
  canonical(s.properties) === canonical(p.properties ?? null);

/**
 * Products: every row is checked against `productSchema` (the API's), the last row of a
 * repeated product_id wins, and only new or changed products are written, through
 * `upsertProducts` (one transaction). A product identical to the stored one counts as a
 * duplicate, so importing the same catalog twice writes nothing the second time.
 */
export async function importProducts(
  store: Store,
  workspaceId: number,
  file: string,
  format: 'ndjson' | 'csv',
  skipInvalid: boolean,
  now: number,
  progress: Progress,
  bytes: number,
): Promise<ProductImportResult> {
  const errors = new ErrorLog();
  const latest = new Map<string, Product>();
  let rows = 0;
  const take = (n: number, raw: unknown) => {
    rows++;
    const parsed = productSchema.safeParse(raw);
    if (!parsed.success) {
      errors.add(n, issuesToErrors(parsed.error.issues));
      return;
    }
    latest.delete(parsed.data.product_id); // keep file order of the last occurrence
    latest.set(parsed.data.product_id, parsed.data);
  };

  progress.start('import: read + validate', bytes);
  try {
    if (format === 'ndjson') {
      for await (const batch of readLines(file, 5000, (b) => progress.update(b))) {
        batch.lines.forEach((text, i) => {
          const n = batch.first + i;
          if (text !== null && text.trim() === '') return;
          try {
            take(n, text === null ? undefined : JSON.parse(text));
          } catch (err) {
            rows++;
            errors.add(n, [{ code: 'invalid_json', message: `not valid JSON: ${(err as Error).message}`, path: '' }]);
          }
        });
      }
    } else {
      let header: string[] | null = null;
      for await (const records of readCsv(file, (b) => progress.update(b))) {
        for (const rec of records) {
          if (header === null) {
            header = rec.cells.map((c) => c.trim());
            const problems = checkHeader('products', header);
            if (problems.length) {
              errors.add(
                rec.line,
                problems.map((p) => ({ ...p, path: p.path.replace(/^line 1:? ?/, '') })),
              );
              return { rows, stored: 0, duplicates: 0, rejected: errors.badLines, errors };
            }
            continue;
          }
          if (rec.cells.every((c) => c.trim() === '')) continue;
          const mapped = csvRow('products', header, rec.cells);
          if (mapped.ok) take(rec.line, mapped.value);
          else {
            rows++;
            errors.add(rec.line, mapped.errors);
          }
        }
      }
    }
  } catch (err) {
    if (!(err instanceof CsvSyntaxError)) throw err;
    rows++;
    errors.add(err.line, [{ code: 'invalid_request', message: err.message, path: '' }]);
  } finally {
    progress.stop();
  }
  if (errors.badLines > 0 && !skipInvalid) return { rows, stored: 0, duplicates: 0, rejected: errors.badLines, errors };

  const stored = await store.query<StoredProduct>(
    'SELECT product_id, name, category_path, price, stock, image_url, properties FROM products WHERE workspace_id = $1 AND product_id IN (SELECT unnest($2::text[]))',
    [workspaceId, [...latest.keys()]],
  );
  const byId = new Map(stored.map((s) => [s.product_id, s]));
  const changed = [...latest.values()].filter((p) => {
    const s = byId.get(p.product_id);
    return !s || !sameAsStored(p, s);
  });
  if (changed.length > 0) await upsertProducts(store, workspaceId, changed, now);
  const valid = rows - errors.badLines;
  return { rows, stored: changed.length, duplicates: valid - changed.length, rejected: errors.badLines, errors };
}
