import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../src/store/index.ts';
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
});
