import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../src/store/index.ts';
import { engines, freshStore } from './engines.ts';

describe.each(engines)('SqlExecutor.execute (%s)', (engine) => {
  let store: Store;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    ({ store, dispose } = await freshStore(engine));
    await store.query('CREATE TABLE execute_t (k TEXT NOT NULL, n BIGINT NOT NULL)');
    await store.query('CREATE UNIQUE INDEX execute_t_k ON execute_t (k)');
  });
  afterAll(() => dispose());

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
