import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { ColumnSpec } from '../port.ts';

/**
 * Writes `rows` with `COPY … FROM STDIN` (text format) on `client`, in its transaction if it is in
 * one. For large appends (see appendRows in postgres-store.ts for the threshold): COPY skips the
 * parameter arrays and `unnest` of an INSERT.
 */
export async function copyRows(
  client: pg.PoolClient,
  table: string,
  columns: readonly ColumnSpec[],
  rows: readonly (readonly unknown[])[],
) {
  const lines = rows.map((row) => columns.map((c, i) => copyField(row[i], c)).join('\t'));
  const names = columns.map((c) => c.name).join(', ');
  const sink = client.query(copyFrom(`COPY ${table} (${names}) FROM STDIN`));
  await pipeline(async function* () {
    yield `${lines.join('\n')}\n`;
  }, sink);
}

/** One value in COPY's text format: `\N` for null; backslash, tab, newline and carriage return escaped. */
function copyField(v: unknown, column: ColumnSpec): string {
  if (v === undefined || v === null) return '\\N';
  const text = column.type === 'json' && typeof v !== 'string' ? JSON.stringify(v) : String(v);
  return /[\\\t\n\r]/.test(text) ? text.replace(/[\\\t\n\r]/g, escapeChar) : text;
}

const escapes: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const escapeChar = (c: string) => escapes[c] as string;
