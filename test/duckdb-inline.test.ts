import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inlineParams } from '../src/store/duckdb/inline.ts';
import type { SqlParam, Store } from '../src/store/index.ts';
import { freshStore } from './engines.ts';

describe('DuckDB parameters written as literals', () => {
  it('replaces placeholders outside strings, quoted names and comments', () => {
    const sql = `SELECT $1, '$1 in a string', "$2 name", json_extract(x, '$.a') -- $1 comment
      /* $2 */ FROM t WHERE a = $2 AND b = $10`;
    const out = inlineParams(sql, [1, 'two', null, null, null, null, null, null, null, 10]);
    expect(out).toBe(`SELECT CAST(1 AS BIGINT), '$1 in a string', "$2 name", json_extract(x, '$.a') -- $1 comment
      /* $2 */ FROM t WHERE a = CAST('two' AS VARCHAR) AND b = CAST(10 AS BIGINT)`);
  });

  it('falls back to binding for a NUL in a string, a long list or string, or a placeholder with no value', () => {
    expect(inlineParams('SELECT $1', ['a\0b'])).toBeNull();
    expect(inlineParams('SELECT $1', [['a', 'b\0']])).toBeNull();
    expect(inlineParams('SELECT $2', [1])).toBeNull();
    expect(inlineParams('SELECT $1', [Array.from({ length: 1000 }, (_, i) => i)])).toBeNull();
    expect(inlineParams('SELECT $1', ['x'.repeat(100_000)])).toBeNull();
  });

  describe('on a real store, values come back as bound', () => {
    let store: Store;
    let dispose: () => Promise<void>;
    beforeAll(async () => {
      ({ store, dispose } = await freshStore('duckdb'));
      await store.query('CREATE TABLE inline_t (s TEXT, n BIGINT, d DOUBLE, b BOOLEAN)');
    });
    afterAll(() => dispose());

    const roundTrip = async (p: SqlParam) => (await store.query<{ v: unknown }>('SELECT $1 AS v', [p]))[0]?.v;

    it('strings, quotes and would-be injections stay data', async () => {
      for (const s of ["O'Brien", "'); DROP TABLE inline_t; --", 'back\\slash', '$1', '', 'emoji 🛒', 'a\0b']) {
        expect(await roundTrip(s)).toBe(s);
      }
      expect((await store.query('SELECT count(*) AS n FROM inline_t')).length).toBe(1);
    });

    it('numbers keep their types: integers as BIGINT, others as DOUBLE', async () => {
      expect(await roundTrip(2 ** 53 - 1)).toBe(2 ** 53 - 1);
      expect(await roundTrip(-42)).toBe(-42);
      expect(await roundTrip(0.1)).toBe(0.1);
      expect(await roundTrip(1e21)).toBe(1e21);
      expect(await roundTrip(Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY);
      // Integer division stays integral, as with a bound BIGINT; a double divides as a double.
      expect((await store.query<{ v: number }>('SELECT $1 // $2 AS v', [7, 2]))[0]?.v).toBe(3);
      expect((await store.query<{ v: number }>('SELECT $1 / $2 AS v', [7.5, 2]))[0]?.v).toBe(3.75);
    });

    it('null, booleans and lists', async () => {
      expect(await roundTrip(null)).toBeNull();
      expect(await roundTrip(true)).toBe(true);
      const [row] = await store.query<{ n: number; t: number; d: number; e: number }>(
        `SELECT len($1) AS n, list_contains($2, 'it''s') AS t, list_sum($3) AS d, len($4) AS e`,
        [[1, 2, 3], ['a', "it's"], [0.5, 0.25], []],
      );
      expect(row).toEqual({ n: 3, t: true, d: 0.75, e: 0 });
    });

    it('writes answer no rows, as on PostgreSQL, and RETURNING still answers', async () => {
      expect(await store.query('INSERT INTO inline_t VALUES ($1, $2, $3, $4)', ['x', 1, 1.5, false])).toEqual([]);
      expect(await store.query('UPDATE inline_t SET n = n + $1', [1])).toEqual([]);
      expect(await store.query('UPDATE inline_t SET n = n + $1 RETURNING n', [1])).toEqual([{ n: 3 }]);
      expect(await store.query('SELECT s, n, d, b FROM inline_t')).toEqual([{ s: 'x', n: 3, d: 1.5, b: false }]);
    });
  });
});
