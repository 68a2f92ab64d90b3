/**
 * SQL fragments for the DuckDB path. Each JSON field `f` of a line is extracted twice in one
 * pass: its value as VARCHAR (strings unescaped, numbers as digits, objects as JSON text) in
 * column `f`, and its JSON type in column `t_f` ('VARCHAR', 'UBIGINT', 'BIGINT', 'DOUBLE',
 * 'OBJECT', 'ARRAY', 'BOOLEAN', 'NULL', or SQL NULL when absent).
 *
 * Every test here is written so that "true" is certain and anything doubtful is false: a line
 * that fails is not rejected, it goes to `normalizeEvent` in JS, which is the reference. So a
 * fragment may be stricter than the API, never looser.
 */

/** SQL string literal. */
export const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** The JSON type, '' when absent: comparisons on it are never NULL (NULL would read as "not ok"). */
const t = (f: string) => `coalesce("t_${f}", '')`;
const col = (f: string) => `"${f}"`;

export const absent = (f: string) => `("t_${f}" IS NULL)`;
/** Absent or JSON null: the same to Segment's nullable fields and to `str()` / `num()`. */
export const missing = (f: string) => `(${t(f)} IN ('', 'NULL'))`;
export const isStr = (f: string) => `(${t(f)} = 'VARCHAR')`;
export const isObj = (f: string) => `(${t(f)} = 'OBJECT')`;
export const isArr = (f: string) => `(${t(f)} = 'ARRAY')`;
export const isNum = (f: string) => `(${t(f)} IN ('UBIGINT', 'BIGINT', 'DOUBLE'))`;
/** An integer JS holds exactly, so String() of it is the same digits. */
export const isSafeInt = (f: string) => `(${t(f)} IN ('UBIGINT', 'BIGINT') AND strlen(${col(f)}) <= 15)`;
/** Integers that fit an INTEGER column. */
export const isInt32 = (f: string) => `(${t(f)} IN ('UBIGINT', 'BIGINT') AND strlen(${col(f)}) <= 9)`;
export const isPosInt32 = (f: string) => `(${t(f)} = 'UBIGINT' AND strlen(${col(f)}) <= 9 AND ${col(f)} <> '0')`;

/**
 * A string of at most `max` UTF-16 units (zod's measure) and at least `min`: UTF-8 bytes are
 * never fewer than UTF-16 units, so the byte length bounds it safely.
 */
export const strWithin = (f: string, min: number, max: number) => `(${isStr(f)} AND strlen(${col(f)}) BETWEEN ${min} AND ${max})`;

/** No character String.prototype.trim() might remove at either end (printable ASCII ends). */
export const untrimmable = (f: string) => `(ascii(${col(f)}) BETWEEN 33 AND 126 AND ascii(right(${col(f)}, 1)) BETWEEN 33 AND 126)`;

/** Only ASCII, so DuckDB's upper() equals JS toUpperCase(). */
export const ascii = (f: string) => `(strlen(${col(f)}) = length(${col(f)}))`;

/** An idString (userId, groupId, product_id …): a string of 1–512 units, or a safe integer. */
export const isIdString = (f: string) => `(${strWithin(f, 1, 512)} OR ${isSafeInt(f)})`;
export const idValue = (f: string) => `(CASE WHEN ${isStr(f)} OR ${isSafeInt(f)} THEN ${col(f)} END)`;

/**
 * `str()` of normalize.ts: non-empty strings, numbers as text, anything else null. Numbers other
 * than safe integers print differently in JS, so `strSafe` must hold for the value to be exact.
 */
export const strOf = (f: string) => `(CASE WHEN ${isStr(f)} THEN nullif(${col(f)}, '') WHEN ${isSafeInt(f)} THEN ${col(f)} END)`;
export const strSafe = (f: string) => `(NOT ${isNum(f)} OR ${isSafeInt(f)})`;

/** `num()` of normalize.ts: numbers, anything else null. */
export const numOf = (f: string) => `(CASE WHEN ${isNum(f)} THEN TRY_CAST(${col(f)} AS DOUBLE) END)`;

/**
 * ISO-8601 instants with an explicit zone, which Date.parse and DuckDB read the same way. Other
 * forms Date.parse accepts (no zone = local time, RFC 2822 …) go to JS.
 */
const isoPattern =
  '[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,3})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])';
export const isIso = (f: string) =>
  `(${isStr(f)} AND regexp_full_match(${col(f)}, '${isoPattern}') AND TRY_CAST(${col(f)} AS TIMESTAMPTZ) IS NOT NULL)`;
export const isoMs = (expr: string) => `epoch_ms(TRY_CAST(${expr} AS TIMESTAMPTZ))`;

/**
 * Lines DuckDB's JSON reader and JSON.parse may read differently: DuckDB allows NaN/Infinity
 * literals and trailing commas, and numbers past 1e308 are Infinity in JS (stored as null).
 * Strings that merely contain such text also match; they go to JS, which is only slower.
 */
export const lenientJson = `'[:,\\[][ \\t\\r]*[-+]?([Nn][Aa][Nn]|[Ii][Nn][Ff])|,[ \\t\\r]*[}\\]]|[0-9][eE][-+]?[0-9]{3}'`;

/**
 * JSON.stringify of a parsed line is at most 21/4 of its bytes (a 4-byte `1E20` becomes 21
 * digits; nothing else grows), so lines up to this size are certainly within the API's 32 KB.
 */
export const certainlySmallBytes = Math.floor((32 * 1024 * 4) / 21);

/**
 * An object with a repeated key (`{"a":1,"a":2}`): DuckDB reads the first, JSON.parse the last,
 * so such objects go to JS. `keys` is a json_keys() list.
 */
export const repeatsKey = (keys: string) => `(list_unique(${keys}) < len(${keys}))`;

/**
 * SELECT items extracting `fields` of the JSON text `src` in one pass each: a struct `<as>v` of
 * values (scalars as VARCHAR, `objects` as JSON text) and a list `<as>t` of their JSON types.
 */
export function extract(src: string, fields: readonly string[], objects: readonly string[], as: string): string {
  const all = [...fields, ...objects];
  const struct = lit(JSON.stringify(Object.fromEntries(all.map((f) => [f, objects.includes(f) ? 'JSON' : 'VARCHAR']))));
  const paths = `[${all.map((f) => lit(`$."${f}"`)).join(', ')}]`;
  return `json_transform(${src}, ${struct}) AS ${as}v, json_type(${src}, ${paths}) AS ${as}t`;
}

/** The value and type columns (`<prefix>f`, `t_<prefix>f`) of each field `extract` took. */
export function unpack(fields: readonly string[], as: string, prefix = ''): string {
  return fields.map((f, i) => `${as}v."${f}" AS "${prefix}${f}", ${as}t[${i + 1}] AS "t_${prefix}${f}"`).join(', ');
}
