import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  Params,
  peopleFromList,
  recommendationSpecSchema,
  recommendationSql,
  triggerProductsSql,
} from '../src/commerce/recommendations/index.ts';
import { shopflow } from './cli-process.ts';

describe('recommendations SQL and CLI', () => {
  it('writes one SQL text for both engines; only journey trigger JSON differs per dialect', () => {
    const p = new Params();
    const sql = recommendationSql(
      { p, workspaceId: 1, now: 1_000, spec: recommendationSpecSchema.parse({ strategy: 'related' }), similarity: 'live' },
      peopleFromList(p, [{ pk: 1, userKey: 2, asOf: 1_000, triggerProducts: ['a'] }], 'x'),
    );
    // Every placeholder made is used (DuckDB refuses unused ones), and in order.
    const used = new Set([...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
    expect([...used].sort((a, b) => a - b)).toEqual(p.values.map((_, i) => i + 1));
    expect(triggerProductsSql('duckdb', 'ready', 'instance_id', 'trigger_props', 'TRUE')).toContain(
      "json_extract_string(t.trigger_props, '$.products[*].product_id')",
    );
    expect(triggerProductsSql('postgres', 'ready', 'instance_id', 'trigger_props', 'TRUE')).toContain('jsonb_array_elements');
  });

  it('`shopflow recommendations evaluate --demo` prints the table and the JSON report', () => {
    const r = shopflow([
      'recommendations',
      'evaluate',
      '--demo',
      '--users',
      '400',
      '--days',
      '150',
      '--strategies',
      'related,recently_viewed',
      '--k',
      '5',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/hit-rate@5: \d+ buyers' last orders/);
    expect(r.stdout).toMatch(/^popular +excluded/m);
    const report = JSON.parse(r.stdout.slice(r.stdout.indexOf('\n{') + 1));
    expect(report.rows.map((x: { strategy: string }) => x.strategy)).toEqual([
      'popular',
      'related',
      'recently_viewed',
      'popular',
      'related',
      'recently_viewed',
    ]);
    expect(report.evaluatedUsers).toBeGreaterThan(0);
    expect(r.stderr).toContain('Evaluating strategies');
  }, 120_000);

  it('refuses a strategy it cannot evaluate, in one line', () => {
    const r = shopflow(['recommendations', 'evaluate', '--demo', '--strategies', 'segment']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^shopflow: unknown strategy "segment"/);
  });

  it('`shopflow recommendations build` rebuilds a workspace model', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shopflow-recs-cli-'));
    try {
      expect(shopflow(['keys', 'create', '--workspace', 'default', '--data', dir]).status).toBe(0);
      const r = shopflow(['recommendations', 'build', '--data', dir]);
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ fresh: true, pairs: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
