/**
 * Aligned plain-text tables for the terminal — the CLI's lists, the simulation report, the
 * benchmark tables — so that an operator reads values, not quoted strings and index columns.
 */

export type Cell = string | number | boolean | null | undefined;

export interface TableOptions {
  /** Put in front of every line (a table inside a report). */
  indent?: string;
  /** Per column; by default a column of numbers or amounts is right-aligned, any other left. */
  align?: readonly ('left' | 'right')[];
}

/** A number as the report writes one: 1,234 · 12.5 · −3 · $5.00 · 12.5% · 0.9× (empty cells do not count). */
const amount = /^[−-]?[$€¥£]?[\d,]+(\.\d+)?[%×]?$/;
const isAmount = (v: Cell) =>
  v === null || v === undefined || v === '' || typeof v === 'number' || (typeof v === 'string' && amount.test(v));
const show = (v: Cell) => (v === null || v === undefined ? '' : String(v));

/** A header, a rule and a line per row, columns two spaces apart; trailing blanks trimmed. */
export function textTable(header: readonly string[], rows: readonly (readonly Cell[])[], options: TableOptions = {}): string[] {
  const text = rows.map((r) => header.map((_, c) => show(r[c])));
  const widths = header.map((h, c) => Math.max(h.length, ...text.map((r) => (r[c] as string).length)));
  const right = header.map((_, c) => {
    const align = options.align?.[c];
    return align ? align === 'right' : rows.length > 0 && rows.every((r) => isAmount(r[c]));
  });
  const line = (cells: readonly string[]) =>
    `${options.indent ?? ''}${cells.map((s, c) => (right[c] ? s.padStart(widths[c] as number) : s.padEnd(widths[c] as number))).join('  ')}`.trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...text.map(line)];
}

/** Prints objects as a table, their keys (those of the first) as the header; "(none)" when there are none. */
export function printTable(rows: readonly Record<string, Cell>[]): void {
  const first = rows[0];
  if (!first) {
    console.log('(none)');
    return;
  }
  const header = Object.keys(first);
  console.log(
    textTable(
      header,
      rows.map((r) => header.map((k) => r[k])),
    ).join('\n'),
  );
}
