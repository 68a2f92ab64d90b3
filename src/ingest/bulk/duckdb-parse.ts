import type { SqlExecutor } from '../../store/index.ts';
import { certainlySmallBytes, extract, lenientJson, lit, repeatsKey, unpack } from './duckdb-json.ts';
import { jsonColumns } from './row-mapping.ts';

/**
 * DuckDB reads the NDJSON file itself and takes it apart with its JSON functions, a whole
 * column at a time. This file only extracts fields; `duckdb-fast.ts` decides which lines are
 * certainly valid and normalises them.
 */

/**
 * The line number of an imp_raw row whose first row is line `first` of the file. Rows are
 * inserted in file order (DuckDB keeps insertion order), so row ids are consecutive; inside a
 * transaction they start at a large offset.
 */
export const lineNo = (first: number) => `(rowid - (SELECT min(rowid) FROM imp_raw) + ${Math.trunc(first)})`;

/** A checksum of line lengths by position, which the file scan computes too (see file-scan.ts). */
export const lineChecksumModulus = 67_108_859;

/**
 * One VARCHAR per line of `file` (the import's file, or a copy of one slice of it), in file order: a CSV read with no delimiter, quote or escape. Blank
 * lines stay as NULL rows. The caller has checked that the file is UTF-8 without NUL, \x01 or
 * \r bytes, the cases this reader would reject or split, and compares the line count and the
 * checksum with its own, so a line number is never wrong.
 */
export async function loadRawLines(tx: SqlExecutor, file: string, maxLineBytes: number): Promise<{ lines: number; checksum: number }> {
  await tx.query(
    `CREATE TEMP TABLE imp_raw AS SELECT line FROM read_csv(${lit(file)}, columns = {'line': 'VARCHAR'}, header = false,
       delim = chr(1), quote = '', escape = '', new_line = '\\n', auto_detect = false,
       max_line_size = ${Math.max(2_097_152, maxLineBytes + 1)})`,
  );
  const p = lineChecksumModulus;
  const [row] = await tx.query<{ n: number; s: number }>(
    `SELECT count(*) AS n, coalesce(sum(((${lineNo(1)} % ${p}) * (coalesce(strlen(line), 0) % ${p})) % ${p}) % ${p}, 0) AS s FROM imp_raw`,
  );
  return { lines: Number(row?.n ?? 0), checksum: Number(row?.s ?? 0) };
}

export const topScalars = [
  'userId',
  'anonymousId',
  'event',
  'messageId',
  'timestamp',
  'originalTimestamp',
  'sentAt',
  'name',
  'category',
  'groupId',
];
/** The object-valued top-level fields: the same as the CSV's JSON columns. */
export const topObjects: readonly string[] = jsonColumns;
export const propScalars = ['product_id', 'category', 'price', 'quantity', 'name', 'order_id', 'total', 'currency', 'discount', 'coupon'];
export const lineScalars = ['product_id', 'category', 'price', 'quantity', 'name', 'sku'];
export const traitScalars = ['email', 'country', 'timezone', 'wechat_openid', 'wechat_unionid', 'member_no'];

/** Keys of `properties` that make a track event more than a name and free-form properties. */
export const commerceKeys = ['product_id', 'products', 'order_id', 'total', 'currency'];
/** Identity and profile traits `normalizeEvent` checks or rewrites. */
export const profileKeys = ['phone', 'email', 'wechat_openid', 'wechat_unionid', 'member_no', 'timezone', 'country', 'consent'];

/** `contains(json, '"key"')` for any key: DuckDB re-serialises extracted JSON, keys unescaped. */
export const mentionsAny = (j: string, keys: readonly string[]) => `(${keys.map((k) => `contains(${j}, '"${k}"')`).join(' OR ')})`;

/**
 * imp_p: type, values and JSON types of the top-level fields of every line that is a JSON object
 * DuckDB and JSON.parse read alike (anything else is left to JS, as are lines that may hold a NUL
 * escape, which JS replaces: storableJson; json_valid already refuses lone surrogates).
 */
export async function parseTopLevel(tx: SqlExecutor, first: number): Promise<void> {
  await tx.query(
    `CREATE TEMP TABLE imp_p AS
     SELECT n, ${unpack(['type', ...topScalars, ...topObjects], '')} FROM (
       SELECT ${lineNo(first)} AS n, ${extract('line', ['type', ...topScalars], topObjects, '')} FROM imp_raw
       WHERE starts_with(line, '{') AND strlen(line) <= ${certainlySmallBytes} AND json_valid(line)
         AND NOT regexp_matches(line, ${lenientJson}) AND NOT ${repeatsKey('json_keys(line)')} AND NOT contains(line, '\\u0000'))`,
  );
}

/** The properties of a track call that names a commerce key, else NULL. */
const commerceProperties = `CASE WHEN type = 'track' AND "t_properties" = 'OBJECT' AND ${mentionsAny('properties', commerceKeys)} THEN properties END`;

/**
 * imp_p's rows with the commerce fields of their properties (`p_…`; `p_has` when there are
 * any, `p_dup` when the properties repeat a key), extracted as they are read: materialising
 * them and joining them back by line number cost more (1.4 + 1.6 s for a million lines).
 */
export const withCommerceFields = `(
  SELECT * EXCLUDE (cp, pv, pt), cp IS NOT NULL AS p_has, ${unpack([...propScalars, 'products'], 'p', 'p_')} FROM (
    SELECT *, ${extract('cp', propScalars, ['products'], 'p')}, ${repeatsKey('json_keys(cp)')} AS p_dup FROM (
      SELECT *, ${commerceProperties} AS cp FROM imp_p)))`;

/** imp_pi: the elements of `properties.products` arrays, one row each, with their position. */
export async function parseProductLines(tx: SqlExecutor): Promise<void> {
  await tx.query(
    `CREATE TEMP TABLE imp_pi AS
     SELECT n, ord, json_type(l) AS t_l, ${repeatsKey('json_keys(l)')} AS l_dup, ${unpack(lineScalars, 'l', 'l_')} FROM (
       SELECT n, ord, l, ${extract('l', lineScalars, [], 'l')} FROM (
         SELECT n, unnest(range(CAST(json_array_length(products) AS BIGINT))) AS ord, unnest(json_extract(products, '$[*]')) AS l
         FROM (SELECT n, json_extract(${commerceProperties}, '$.products') AS products FROM imp_p WHERE contains(properties, '"products"'))
         WHERE json_type(products) = 'ARRAY'))`,
  );
}

/** imp_tr: the identity and profile traits of identify calls that carry any. */
export async function parseTraits(tx: SqlExecutor): Promise<void> {
  await tx.query(
    `CREATE TEMP TABLE imp_tr AS
     SELECT n, ${mentionsAny('traits', ['phone', 'consent'])} OR ${repeatsKey('json_keys(traits)')} AS needs_js, ${unpack(traitScalars, 'r', 'r_')} FROM (
       SELECT n, traits, ${extract('traits', traitScalars, [], 'r')} FROM imp_p
       WHERE type = 'identify' AND "t_traits" = 'OBJECT' AND ${mentionsAny('traits', profileKeys)})`,
  );
}
