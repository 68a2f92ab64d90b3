import type { Dialect, SqlParam } from '../store/index.ts';

/**
 * Collects bind parameters while SQL text is built, and holds the few expressions whose SQL
 * differs between DuckDB and PostgreSQL. Everything else the segment compiler writes is common SQL.
 */
export class SqlBuilder {
  readonly params: SqlParam[] = [];

  constructor(readonly dialect: Dialect) {}

  /** A placeholder bound to `value`. */
  param(value: SqlParam): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  /** `col IN (…)`: short lists as separate placeholders (DuckDB prunes row groups with them), long ones as an array. */
  inList(column: string, values: readonly (string | number)[]): string {
    if (values.length <= 50) return `${column} IN (${values.map((v) => this.param(v)).join(', ')})`;
    const numeric = values.every((v) => typeof v === 'number');
    const cast = numeric ? 'DOUBLE PRECISION[]' : 'TEXT[]';
    const array = numeric ? (values as number[]) : values.map(String);
    return `${column} IN (SELECT unnest(${this.param(array)}::${this.dialect === 'duckdb' ? cast.replace('DOUBLE PRECISION', 'DOUBLE') : cast}))`;
  }

  /**
   * A JSON field (dotted path) as text. The path is written into the SQL as a constant (DuckDB
   * plans constant paths once instead of per row); definitions refuse names with quotes or
   * backslashes, and the quoting below is belt and braces.
   */
  jsonText(column: string, dottedPath: string): string {
    const parts = dottedPath.split('.').map((p) => p.replace(/["'\\]/g, ''));
    if (this.dialect === 'duckdb') return `(${column} ->> '$${parts.map((p) => `."${p}"`).join('')}')`;
    return `(${column} #>> '{${parts.map((p) => `"${p}"`).join(',')}}')`;
  }

  /** Text → number, NULL when it is not one (no error on bad data). */
  toNumber(text: string): string {
    return this.dialect === 'duckdb'
      ? `TRY_CAST(${text} AS DOUBLE)`
      : `(CASE WHEN pg_input_is_valid(${text}, 'double precision') THEN CAST(${text} AS DOUBLE PRECISION) END)`;
  }

  /** ISO 8601 text → epoch milliseconds, NULL when it is not a date. */
  toEpochMs(text: string): string {
    return this.dialect === 'duckdb'
      ? `epoch_ms(TRY_CAST(${text} AS TIMESTAMPTZ))`
      : `(CASE WHEN pg_input_is_valid(${text}, 'timestamptz') THEN extract(epoch FROM CAST(${text} AS TIMESTAMPTZ)) * 1000 END)`;
  }
}
