import type { ColumnType, Dialect } from './port.ts';

/** Column type names per engine; everything else in our DDL is common SQL. */
export const columnTypes: Record<Dialect, Record<ColumnType, string>> = {
  duckdb: { text: 'VARCHAR', bigint: 'BIGINT', int: 'INTEGER', double: 'DOUBLE', bool: 'BOOLEAN', json: 'JSON' },
  postgres: { text: 'TEXT', bigint: 'BIGINT', int: 'INTEGER', double: 'DOUBLE PRECISION', bool: 'BOOLEAN', json: 'JSONB' },
};

/** Array cast suffix for binding a JS array, e.g. `unnest($1::TEXT[])`. */
export function arrayCast(dialect: Dialect, type: ColumnType): string {
  return `${columnTypes[dialect][type]}[]`;
}

/** A JSON text field: DuckDB `x ->> 'k'`, PostgreSQL the same operator on JSONB. */
export function jsonText(column: string, key: string): string {
  return `(${column} ->> '${key.replace(/'/g, "''")}')`;
}

/** A JSON object built in SQL from (key, SQL expression) pairs. */
export function jsonObject(dialect: Dialect, pairs: readonly (readonly [string, string])[]): string {
  const args = pairs.map(([k, v]) => `'${k.replace(/'/g, "''")}', ${v}`).join(', ');
  return dialect === 'duckdb' ? `json_object(${args})` : `jsonb_build_object(${args})`;
}

/** A JSON array aggregate of `expr` in the order of `orderBy`. */
export function jsonArrayAgg(dialect: Dialect, expr: string, orderBy: string): string {
  return dialect === 'duckdb' ? `to_json(list(${expr} ORDER BY ${orderBy}))` : `jsonb_agg(${expr} ORDER BY ${orderBy})`;
}
