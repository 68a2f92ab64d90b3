import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openConfiguredStore } from '../src/cli/open.ts';
import { parseConfig } from '../src/core/config.ts';

describe('configuration', () => {
  it('takes the roles of a serve process as a list, all by default', () => {
    expect(parseConfig({}, {}).roles).toEqual(['api', 'engine', 'dispatcher']);
    expect(parseConfig({ roles: 'dispatcher, api' }, {}).roles).toEqual(['api', 'dispatcher']);
    expect(parseConfig({}, { SHOPFLOW_ROLE: 'engine' }).roles).toEqual(['engine']);
    expect(parseConfig({ roles: 'engine,all' }, {}).roles).toEqual(['api', 'engine', 'dispatcher']);
    for (const bad of ['', 'api,', 'worker']) expect(() => parseConfig({ roles: bad }, {}), bad).toThrow(/roles/);
  });

  it('takes DuckDB threads from SHOPFLOW_DUCKDB_THREADS, refuses a bad count, and the store runs with them', async () => {
    expect(parseConfig({}, {}).duckdbThreads).toBeUndefined();
    for (const bad of ['0', '1.5', 'two']) expect(() => parseConfig({}, { SHOPFLOW_DUCKDB_THREADS: bad }), bad).toThrow(/duckdbThreads/);
    const dir = mkdtempSync(join(tmpdir(), 'shopflow-config-'));
    try {
      const config = parseConfig({ dataDir: dir }, { SHOPFLOW_DUCKDB_THREADS: '1' });
      expect(config.duckdbThreads).toBe(1);
      const store = await openConfiguredStore(config, { writesEvents: false });
      try {
        expect(await store.query("SELECT current_setting('threads') AS n")).toEqual([{ n: 1 }]);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
