import type { Dialect } from '../../store/index.ts';
import { columnTypes } from '../../store/index.ts';

/**
 * The few places where computed-traits SQL differs between DuckDB and PostgreSQL. Everything
 * else is shared text. (Kept here rather than in store/dialect.ts: these are only used by the
 * trait queries.)
 */
export interface TraitDialect {
  readonly dialect: Dialect;
  /** `DOUBLE` / `DOUBLE PRECISION`. */
  readonly double: string;
  /** A relation of valid IANA zone names (column `name`), as the database itself knows them. */
  readonly timeZoneNames: string;
  /** UTC offset in whole minutes of the zone named by `tz` at the epoch-ms instant `tsMs`. */
  utcOffsetMinutes(tsMs: string, tz: string): string;
  /** A JSON property as a number when it is one, else NULL (never an error on bad data). */
  numberField(column: string, key: string): string;
  /** Rounds a double to `digits` decimals and keeps it a double. */
  round(expr: string, digits: number): string;
  /** Aggregates rows into a JSON array of objects `{key: expr, …}`, in `orderBy` order. */
  jsonObjectArray(fields: Record<string, string>, orderBy: string): string;
  /**
   * The best `n` rows of each user_key of relation `rel` by `order` (earlier keys first), as rows
   * (user_key, ...columns, ...extra). `extra` are per-user aggregates (name → e.g. `sum(score)`).
   * Keys sorted ascending must be numeric.
   */
  topPerUser(rel: string, columns: readonly string[], order: readonly SortKey[], n: number, extra?: Record<string, string>): string;
}

export interface SortKey {
  expr: string;
  desc: boolean;
}

/**
 * DuckDB: one hash aggregate with the top-N `arg_max(value, key, n)` (a small heap per user)
 * instead of a window sort over all rows; the key is a STRUCT, compared field by field, and an
 * ascending key is negated. The result list is best first; unnest turns it back into rows.
 */
function duckTopPerUser(
  rel: string,
  columns: readonly string[],
  order: readonly SortKey[],
  n: number,
  extra: Record<string, string> = {},
): string {
  const value = `{${columns.map((c) => `${key(c)}: ${c}`).join(', ')}}`;
  const sortKey = `{${order.map((k, i) => `'k${i}': ${k.desc ? k.expr : `-(${k.expr})`}`).join(', ')}}`;
  const extras = Object.entries(extra);
  return `SELECT user_key, ${extras.map(([name]) => `${name}, `).join('')}unnest(best, recursive := true) FROM (
    SELECT user_key, ${extras.map(([name, agg]) => `${agg} AS ${name}, `).join('')}arg_max(${value}, ${sortKey}, ${n}) AS best
    FROM ${rel} GROUP BY user_key) top_n`;
}

/** PostgreSQL: row_number over a window sort (it has no top-N aggregate). */
function windowTopPerUser(
  rel: string,
  columns: readonly string[],
  order: readonly SortKey[],
  n: number,
  extra: Record<string, string> = {},
): string {
  const extras = Object.entries(extra);
  const orderBy = order.map((k) => `${k.expr}${k.desc ? ' DESC' : ''}`).join(', ');
  return `SELECT user_key, ${[...columns, ...extras.map(([name]) => name)].join(', ')} FROM (
    SELECT user_key, ${columns.join(', ')}, ${extras.map(([name, agg]) => `${agg} OVER (PARTITION BY user_key) AS ${name}, `).join('')}
      row_number() OVER (PARTITION BY user_key ORDER BY ${orderBy}) AS rn
    FROM ${rel}) top_n WHERE rn <= ${n}`;
}

const key = (k: string) => `'${k.replace(/'/g, "''")}'`;

const duckdb: TraitDialect = {
  dialect: 'duckdb',
  double: columnTypes.duckdb.double,
  timeZoneNames: 'pg_timezone_names()',
  // ICU's timezone(): TIMESTAMPTZ → local wall-clock TIMESTAMP in that zone, DST included.
  utcOffsetMinutes: (ts, tz) => `CAST(round((epoch_ms(timezone(${tz}, to_timestamp(${ts} / 1000.0))) - ${ts}) / 60000.0) AS INTEGER)`,
  numberField: (col, k) => `TRY_CAST(${col} ->> ${key(k)} AS DOUBLE)`,
  round: (expr, digits) => `round(${expr}, ${digits})`,
  jsonObjectArray: (fields, orderBy) =>
    `to_json(list({${Object.entries(fields)
      .map(([k, v]) => `${key(k)}: ${v}`)
      .join(', ')}} ORDER BY ${orderBy}))`,
  topPerUser: duckTopPerUser,
};

const postgres: TraitDialect = {
  dialect: 'postgres',
  double: columnTypes.postgres.double,
  timeZoneNames: 'pg_timezone_names',
  // AT TIME ZONE on a timestamptz gives the local wall-clock timestamp; its epoch reads it as UTC.
  utcOffsetMinutes: (ts, tz) =>
    `CAST(round((extract(epoch FROM (to_timestamp(${ts} / 1000.0) AT TIME ZONE ${tz})) * 1000 - ${ts}) / 60000.0) AS INTEGER)`,
  // A cast of a non-numeric string would abort the whole refresh; test the JSON type first.
  numberField: (col, k) => `CASE WHEN jsonb_typeof(${col} -> ${key(k)}) = 'number' THEN CAST(${col} ->> ${key(k)} AS DOUBLE PRECISION) END`,
  // PostgreSQL has round(numeric, int) only.
  round: (expr, digits) => `CAST(round(CAST(${expr} AS NUMERIC), ${digits}) AS DOUBLE PRECISION)`,
  jsonObjectArray: (fields, orderBy) =>
    `jsonb_agg(jsonb_build_object(${Object.entries(fields)
      .map(([k, v]) => `${key(k)}, ${v}`)
      .join(', ')}) ORDER BY ${orderBy})`,
  topPerUser: windowTopPerUser,
};

export function traitDialect(d: Dialect): TraitDialect {
  switch (d) {
    case 'duckdb':
      return duckdb;
    case 'postgres':
      return postgres;
    default: {
      const never: never = d;
      throw new Error(`unknown dialect ${String(never)}`);
    }
  }
}
