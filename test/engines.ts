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
  const db = await emptyPostgresDatabase();
  const store = await openStore({ url: db.url, dataDir: '.', dedupeDays: 8 }, clock);
  return {
    store,
    url: db.url,
    async dispose() {
      await store.close();
      await db.drop();
    },
  };
}

/** A new, empty database on the tests' PostgreSQL server (not migrated: whoever opens it first does), and how to drop it. */
export async function emptyPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const base = inject('pgUrl');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    await c.query(sql);
    await c.end();
  };
  await admin(`CREATE DATABASE ${name}`);
  return { url: base.replace(/\/postgres$/, `/${name}`), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
