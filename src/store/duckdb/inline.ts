import { columnTypes } from '../dialect.ts';
import type { ColumnType, SqlParam } from '../port.ts';

/**
 * Writes a statement's parameters into its text as typed literals, so DuckDB runs it in one call.
 *
 * Why: through @duckdb/node-api a statement with parameters takes three native round trips
 * (extract, prepare, execute), each a hop through libuv's pool and back to the event loop, where
 * one without takes one: `SELECT $1` cost 0.70 ms and 720 µs of CPU against 0.25 ms and 300 µs
 * for the same statement with a literal. A journey fast path or an ingest batch runs dozens.
 *
 * Each literal is `CAST(… AS <type>)` with the type that binding would give (bind.ts), so the
 * statement means the same either way. Placeholders inside quoted strings, quoted identifiers
 * and comments are left alone (JSON paths like '$.a' are strings). Returns null when a value
 * cannot be written as a literal (a string holding NUL, which would cut the statement's C string
 * short), or is long — a list of many values or a long string (a batch's JSON document): binding
 * one value beats parsing it (a 250 KB JSON document took 12 ms to parse as a literal, 7 ms
 * bound) — and the caller binds instead.
 */
export function inlineParams(sql: string, params: readonly SqlParam[]): string | null {
  const literals: string[] = [];
  for (const p of params) {
    const l = literal(p);
    if (l === null) return null;
    literals.push(l);
  }
  let missing = false;
  const out = sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\/\*[\s\S]*?\*\/|\$(\d+)/g, (match, n: string | undefined) => {
    if (n === undefined) return match;
    const l = literals[Number(n) - 1];
    if (l === undefined) missing = true;
    return l ?? match;
  });
  // A placeholder without a value: let binding report it the way it always has.
  return missing ? null : out;
}

/**
 * Lists and strings longer than these are bound (see inlineParams). A string is parsed at ~50 ns a
 * byte as a literal (0.4 ms at 8 KB), while binding costs two more round trips through the event
 * loop, which a busy server makes slow: with strings up to 8 KB inlined instead of 1 KB (an
 * ingest batch of a few dozen one-event requests writes JSON documents of that size), 64 browsers
 * sending one event a request got 1,171 / 1,210 / 1,420 events/s against 1,036 / 1,107 / 1,164
 * (alternating runs, session 15), and 1,163 / 1,141 / 1,014 against 1,136 / 1,114 / 931 in a
 * second set (with a change to BEGIN that was then dropped; the machine busier).
 */
const longList = 64;
const longString = 8_000;

const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;

function literal(p: SqlParam): string | null {
  if (p === null) return 'CAST(NULL AS VARCHAR)';
  if (typeof p === 'boolean') return p ? 'TRUE' : 'FALSE';
  if (typeof p === 'number') return Number.isSafeInteger(p) ? `CAST(${p} AS BIGINT)` : `CAST('${p}' AS DOUBLE)`;
  if (typeof p === 'string') return p.length > longString || p.includes('\0') ? null : `CAST(${quote(p)} AS VARCHAR)`;
  if (p.length > longList) return null;
  // Arrays, typed as bind.ts types them: all safe integers → BIGINT[], other numbers → DOUBLE[], else VARCHAR[].
  const numeric = p.length > 0 && typeof p[0] === 'number';
  if (numeric) {
    const integral = (p as readonly number[]).every(Number.isSafeInteger);
    return integral ? `CAST([${p.join(', ')}] AS BIGINT[])` : `CAST([${p.map((n) => `'${n}'`).join(', ')}] AS DOUBLE[])`;
  }
  const strings = (p as readonly (string | number)[]).map(String);
  if (strings.some((s) => s.length > longString || s.includes('\0'))) return null;
  return `CAST([${strings.map(quote).join(', ')}] AS VARCHAR[])`;
}

/**
 * A value for a column of `type`, as a typed literal (`CAST('…' AS JSON)`), or null when it should
 * be bound instead (as inlineParams decides). JSON values may be given as text or as a value.
 */
export function columnLiteral(value: unknown, type: ColumnType): string | null {
  if (value === null || value === undefined) return 'NULL';
  const text = type === 'json' && typeof value !== 'string' ? JSON.stringify(value) : String(value);
  if (text.length > longString || text.includes('\0')) return null;
  if (type === 'bool') return value ? 'TRUE' : 'FALSE';
  return `CAST(${quote(text)} AS ${columnTypes.duckdb[type]})`;
}
