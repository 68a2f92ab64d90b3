import { BIGINT, BOOLEAN, DOUBLE, type DuckDBType, type DuckDBValue, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import type { SqlParam } from '../port.ts';

/** DuckDB needs an explicit type for arrays and nulls; infer one from the JS value. */
export function bindParams(params: readonly SqlParam[]): { values: DuckDBValue[]; types: DuckDBType[] } {
  const values: DuckDBValue[] = [];
  const types: DuckDBType[] = [];
  for (const p of params) {
    if (Array.isArray(p)) {
      const numeric = p.length > 0 && typeof p[0] === 'number';
      const integral = numeric && (p as number[]).every(Number.isSafeInteger);
      values.push(listValue(integral ? (p as number[]).map((n) => BigInt(n)) : [...p]));
      types.push(LIST(integral ? BIGINT : numeric ? DOUBLE : VARCHAR));
    } else if (p === null) {
      values.push(null);
      types.push(VARCHAR);
    } else if (typeof p === 'number') {
      const integral = Number.isSafeInteger(p);
      values.push(integral ? BigInt(p) : p);
      types.push(integral ? BIGINT : DOUBLE);
    } else if (typeof p === 'boolean') {
      values.push(p);
      types.push(BOOLEAN);
    } else {
      values.push(p as string);
      types.push(VARCHAR);
    }
  }
  return { values, types };
}
