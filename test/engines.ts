import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { type Clock, systemClock } from '../src/core/clock.ts';
import { openStore, type Store } from '../src/store/index.ts';

export const engines = ['duckdb', 'postgres'] as const;
export type Engine = (typeof engines)[number];

/** A fresh, empty, migrated store on the given engine: a new DuckDB file or a new PG database. */
export async function freshStore(
  engine: Engine,
  clock: Clock = systemClock,
): Promise<{ store: Store; url: string; dispose: () => Promise<void> }> {
  if (engine === 'duckdb') {
    const dir = mkdtempSync(join(tmpdir(), 'shopflow-duck-'));
    const store = await openStore({ dataDir: dir, dedupeDays: 8 }, clock);
    return {
      store,
      url: `duckdb:${join(dir, 'shopflow.duckdb')}`,
      async dispose() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const base = inject('pgUrl');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = base.replace(/\/postgres$/, `/${name}`);
  const store = await openStore({ url, dataDir: '.', dedupeDays: 8 }, clock);
  return {
    store,
    url,
    async dispose() {
      await store.close();
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
