import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Clock } from '../../core/clock.ts';
import { AppError } from '../../core/errors.ts';
import { openStore, type Store } from '../../store/index.ts';

export type SimEngine = 'duckdb' | 'postgres';

export interface TempStore {
  store: Store;
  /** Where it lives: a DuckDB file, or a PostgreSQL URL (printed when kept). */
  location: string;
  /** Closes the store, and deletes it unless it was opened to be kept. */
  dispose(): Promise<void>;
}

/** The DuckDB dedupe window (days of received message ids kept in memory). */
const DEDUPE_DAYS = 8;

/**
 * Simulated shops up to this many members run DuckDB on one thread. Their statements are small (a
 * step's events, the people ready at a node), and the simulator's own JavaScript needs a core:
 * a second DuckDB thread cost more in hand-offs than it gave. Measured on 2 cores (docs/simulate.md,
 * Speed): 2,000 members 30 days 30–32 s instead of 37–38 s; 20,000 members 7 days 80 s instead of
 * 84 s (the traits job alone was slower, 11 s against 8 s, so larger shops keep DuckDB's default).
 */
const ONE_THREAD_UP_TO_MEMBERS = 20_000;

/**
 * A fresh, empty store for one simulation of `members` members, so a run never touches real
 * data: an in-memory DuckDB (or, to be kept, a DuckDB file in a new temporary folder), or a new
 * database on the PostgreSQL server of `serverUrl` (which must allow CREATE DATABASE), dropped
 * afterwards unless kept. In memory because the journey engine commits many small statements per
 * tick and a file pays a WAL write for each (measured: ~2× slower on a busy disk).
 */
export async function openTempStore(
  engine: SimEngine,
  serverUrl: string | undefined,
  keep: boolean,
  clock: Clock,
  members: number,
): Promise<TempStore> {
  const duckdbThreads = members <= ONE_THREAD_UP_TO_MEMBERS ? 1 : undefined;
  if (engine === 'duckdb' && !keep) {
    const store = await openStore({ url: 'duckdb::memory:', dataDir: tmpdir(), dedupeDays: DEDUPE_DAYS, duckdbThreads }, clock);
    return { store, location: ':memory:', dispose: () => store.close() };
  }
  if (engine === 'duckdb') {
    const dir = mkdtempSync(join(tmpdir(), 'shopflow-sim-'));
    try {
      const store = await openStore({ dataDir: dir, dedupeDays: DEDUPE_DAYS, duckdbThreads }, clock);
      return {
        store,
        location: join(dir, 'shopflow.duckdb'),
        async dispose() {
          await store.close();
          if (!keep) rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }
  if (!serverUrl || !/^postgres(ql)?:\/\//.test(serverUrl)) {
    throw new AppError(
      'invalid_request',
      '--engine postgres needs --store postgres://… (a server where a database may be created)',
      'store',
    );
  }
  const name = `shopflow_sim_${randomBytes(5).toString('hex')}`;
  await adminQuery(serverUrl, `CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  try {
    const store = await openStore({ url: url.toString(), dataDir: '.', dedupeDays: DEDUPE_DAYS }, clock);
    return {
      store,
      location: url.toString(),
      async dispose() {
        await store.close();
        if (!keep) await adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      },
    };
  } catch (err) {
    await adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    throw err;
  }
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await client.query(sql);
  } catch (err) {
    throw new AppError('unavailable', `PostgreSQL (${sql.split(' ').slice(0, 2).join(' ')}): ${(err as Error).message}`, 'store');
  } finally {
    await client.end().catch(() => {});
  }
}
