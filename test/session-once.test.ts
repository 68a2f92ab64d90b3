import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../src/store/index.ts';
import { engines, freshStore } from './engines.ts';

describe.each(engines)('Session.once (%s)', (engine) => {
  let store: Store;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    ({ store, dispose } = await freshStore(engine));
    await store.query('CREATE TABLE once_log (n BIGINT)');
  });
  afterAll(() => dispose());

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
