import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../core/clock.ts';
import { type Config, parseConfig } from '../core/config.ts';
import { AppError } from '../core/errors.ts';
import { openStore, type Store } from '../store/index.ts';
import { countWorkspaces, createWorkspace } from '../workspaces/index.ts';

/** The repository root (for default paths such as ../shared/datasets). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The CDNOW file shipped beside the repository, overridable per command. */
export const defaultCdnowFile = join(repoRoot, '..', 'shared', 'datasets', 'cdnow', 'CDNOW_master.txt');

/** Flags shared by every command that opens the store. */
export interface StoreFlags {
  data?: string;
  store?: string;
}

/** The one place the CLI turns flags and environment into a validated Config. */
export function configFrom(flags: StoreFlags, extra: Partial<Record<keyof Config, unknown>> = {}): Config {
  return parseConfig({ ...extra, dataDir: flags.data, store: flags.store }, process.env);
}

/**
 * `writesEvents: false` for a command that writes no events through the ingestion path (import
 * writes set-at-a-time): it skips loading the caches only that path needs (see StoreConfig).
 */
export function openConfiguredStore(config: Config, { writesEvents = true } = {}): Promise<Store> {
  return openStore(
    {
      url: config.store,
      dataDir: config.dataDir,
      dedupeDays: config.dedupeDays,
      warmCaches: writesEvents,
      ...(config.duckdbThreads === undefined ? {} : { duckdbThreads: config.duckdbThreads }),
    },
    systemClock,
  );
}

/** The id of a workspace by name. */
export async function workspaceIdOf(store: Store, name: string): Promise<number> {
  const rows = await store.query<{ workspace_id: number }>('SELECT workspace_id FROM workspaces WHERE name = $1', [name]);
  if (!rows[0])
    throw new AppError(
      'not_found',
      `no workspace named "${name}" (create one with: shopflow keys create --workspace ${name})`,
      'workspace',
    );
  return rows[0].workspace_id;
}

export function fileMustExist(path: string, what: string): string {
  if (!existsSync(path)) throw new AppError('not_found', `${what} not found: ${path}`, 'file');
  return path;
}

/**
 * First start: a workspace named "default", its keys printed once and kept in the data folder.
 * Callers hold the `firstStart` lock (see whileLocked), so that of processes starting together
 * on a new PostgreSQL database one makes it and the others find it.
 */
export async function ensureDefaultWorkspace(store: Store, dataDir: string): Promise<void> {
  if ((await countWorkspaces(store)) > 0) return;
  const keys = await createWorkspace(store, 'default', systemClock.now());
  const file = join(dataDir, 'default-workspace.json');
  writeFileSync(file, `${JSON.stringify({ workspace: keys.workspace, writeKey: keys.writeKey, adminKey: keys.adminKey }, null, 2)}\n`, {
    mode: 0o600,
  });
  console.log(`\nCreated workspace "default" (keys also saved in ${file}):`);
  console.log(`  write key: ${keys.writeKey}   (HTTP Basic user for /v1/*)`);
  console.log(`  admin key: ${keys.adminKey}   (Authorization: Bearer … for /api/*)\n`);
}
