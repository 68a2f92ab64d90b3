import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consistentRead, type SqlExecutor, type Store } from '../src/store/index.ts';
import { engines, freshStore } from './engines.ts';

/** What the store port promises beyond plain queries, on both engines. */
describe.each(engines)('store port (%s)', (engine) => {
  let store: Store;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    ({ store, dispose } = await freshStore(engine));
    await store.query('CREATE TABLE once_log (n BIGINT)');
    await store.query('CREATE TABLE execute_t (k TEXT NOT NULL, n BIGINT NOT NULL)');
    await store.query('CREATE UNIQUE INDEX execute_t_k ON execute_t (k)');
  });
  afterAll(() => dispose());

  describe('Session.once', () => {
    const logged = async () => Number((await store.query<{ n: number }>('SELECT count(*) AS n FROM once_log'))[0]?.n);

    it('runs a setup statement once per connection, and again after a rollback may have undone it', async () => {
      const setup = 'INSERT INTO once_log VALUES (1)';
      await store.session(async (s) => {
        await s.once(setup);
        await s.once(setup);
        await s.once(setup);
      });
      // Each pooled connection runs it at most once, however many sessions use it.
      for (let i = 0; i < 20; i++) await store.session((s) => s.once(setup));
      const afterSessions = await logged();
      expect(afterSessions).toBeGreaterThanOrEqual(1);
      expect(afterSessions).toBeLessThanOrEqual(engine === 'duckdb' ? 4 : 10);

      await store.session(async (s) => {
        await s.once('CREATE TEMP TABLE IF NOT EXISTS once_scratch (x INT)');
        await expect(
          s.transaction(async (tx) => {
            await tx.query('INSERT INTO once_scratch VALUES (1)');
            throw new Error('roll back');
          }),
        ).rejects.toThrow('roll back');
        const before = await logged();
        await s.once(setup);
        // Forgotten on this connection by the rollback: run again.
        expect(await logged()).toBe(before + 1);
        await s.once('CREATE TEMP TABLE IF NOT EXISTS once_scratch (x INT)');
        expect(await s.query('SELECT count(*) AS n FROM once_scratch')).toEqual([{ n: 0 }]);
      });
    });
  });

  describe('SqlExecutor.execute', () => {
    it('answers the rows each write changed, skipped conflicts not counted, in and out of transactions', async () => {
      expect(await store.execute("INSERT INTO execute_t VALUES ('a', 1), ('b', 2)")).toBe(2);
      const inserted = await store.transaction((tx) =>
        tx.execute(`INSERT INTO execute_t SELECT * FROM (VALUES ('a', 3), ('c', $1)) AS v(k, n) ON CONFLICT DO NOTHING`, [4]),
      );
      expect(inserted).toBe(1);
      expect(await store.execute('UPDATE execute_t SET n = n + 1 WHERE n >= $1', [2])).toBe(2);
      expect(await store.session((s) => s.execute("DELETE FROM execute_t WHERE k = 'zz'"))).toBe(0);
      expect(await store.query('SELECT k, n FROM execute_t ORDER BY k')).toEqual([
        { k: 'a', n: 1 },
        { k: 'b', n: 3 },
        { k: 'c', n: 5 },
      ]);
    });
  });

  describe('consistentRead', () => {
    it('reads one snapshot: a row committed between two of its reads is not in the second', async () => {
      await store.query('CREATE TABLE snapshot_t (n BIGINT)');
      await store.query('INSERT INTO snapshot_t VALUES (1)');
      const count = async (db: SqlExecutor) => Number((await db.query<{ n: number }>('SELECT count(*) AS n FROM snapshot_t'))[0]?.n);
      const seen = await consistentRead(store, async (tx) => {
        const before = await count(tx);
        await store.query('INSERT INTO snapshot_t VALUES (2)');
        return [before, await count(tx)];
      });
      expect(seen).toEqual([1, 1]);
      expect(await count(store)).toBe(2);
    });
  });

  describe('append', () => {
    const columns = [
      { name: 'k', type: 'int' },
      { name: 's', type: 'text' },
      { name: 'n', type: 'bigint' },
      { name: 'd', type: 'double' },
      { name: 'b', type: 'bool' },
      { name: 'j', type: 'json' },
    ] as const;
    // Awkward values: quotes, would-be SQL, NUL (DuckDB only: PostgreSQL text cannot hold one), a
    // string too long to write into a statement, JSON given as text and as a value, nulls.
    const awkward: (readonly unknown[])[] = [
      [0, "O'Brien", 2 ** 53 - 1, 0.1, true, '{"a":[1,"it\'s"]}'],
      [0, "'); DROP TABLE append_t; --", -7, 1e21, false, { b: 'x', c: null }],
      [0, engine === 'duckdb' ? 'a\0b' : 'a b', 0, -2.5, true, null],
      [0, 'x'.repeat(20_000), 1, 0, false, { long: 'y'.repeat(20_000) }],
      [0, null, null, null, null, null],
      [0, 'emoji 🛒', 42, 3, true, '"just a string"'],
      // What COPY's text format escapes or reads as markers: tab, newline, CR, backslash, \N, \.
      [0, 'tab\there\nnew\rline \\ back \\N \\.', 5, 1.5, false, { s: 'a\tb\nc\\d \\N' }],
    ];
    const rowsOf = (n: number, k: number) => Array.from({ length: n }, (_, i) => [k, ...awkward[i % awkward.length]!.slice(1)]);

    it('stores the same values whichever way the rows go in (literals, one JSON document, an appender; INSERT or COPY)', async () => {
      await store.query('CREATE TABLE append_t (k INTEGER, s TEXT, n BIGINT, d DOUBLE PRECISION, b BOOLEAN, j JSON)');
      const sizes = [1, 2, 4, 6, 64, 65, 200];
      for (const [k, n] of sizes.entries()) await store.transaction((tx) => tx.append('append_t', columns, rowsOf(n, k)));
      const read = await store.query<{ k: number; s: string; n: number; d: number; b: boolean; j: unknown }>(
        'SELECT k, s, n, d, b, j FROM append_t ORDER BY k',
      );
      expect(read).toHaveLength(sizes.reduce((a, b) => a + b, 0));
      for (const [k, n] of sizes.entries()) {
        const got = read.filter((r) => r.k === k).map(({ k: _, ...rest }) => rest);
        const want = rowsOf(n, k).map(([, s, n, d, b, j]) => ({ s, n, d, b, j: typeof j === 'string' ? JSON.parse(j) : j }));
        // Order within a batch is not promised: compare as sets.
        const key = (r: unknown) => JSON.stringify(r);
        expect(got.map(key).sort(), `${n} rows`).toEqual(want.map(key).sort());
      }
    });
  });
});
