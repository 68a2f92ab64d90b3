import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY } from '../src/core/clock.ts';
import { shopflowAsync } from './cli-process.ts';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

/** `shopflow segments …` against a running server, as an operator would use it. */
const interestGroup = {
  type: 'and',
  conditions: [
    { type: 'performed', event: ['Product Added', 'Product Added to Wishlist'], window: { from: '10d', to: '3d' } },
    { type: 'not_performed', event: 'Order Completed', window: { last: '10d' } },
  ],
};

describe.each(engines)('segments CLI on %s', (engine) => {
  let h: Harness;
  let url: string;
  const dir = mkdtempSync(join(tmpdir(), 'shopflow-cli-'));
  const file = join(dir, 'interest.json');
  const cli = (...args: string[]) => shopflowAsync(['segments', ...args, '--server', url, '--admin-key', h.keys.adminKey]);

  beforeAll(async () => {
    h = await startHarness(engine);
    url = await h.listen();
    const at = (days: number) => new Date(Date.now() - days * DAY).toISOString();
    const batch = [
      { type: 'track', userId: 'carter', event: 'Product Added', properties: { product_id: 'p1' }, timestamp: at(5) },
      { type: 'track', userId: 'wisher', event: 'Product Added to Wishlist', properties: { product_id: 'p1' }, timestamp: at(4) },
      { type: 'track', userId: 'buyer', event: 'Product Added', properties: { product_id: 'p1' }, timestamp: at(5) },
      {
        type: 'track',
        userId: 'buyer',
        event: 'Order Completed',
        properties: { order_id: 'o1', total: 10, products: [{ product_id: 'p1' }] },
        timestamp: at(1),
      },
      { type: 'identify', userId: 'carter', traits: { email: 'carter@example.com' } },
    ];
    const res = await h.server.app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { authorization: h.writeAuth },
      payload: { batch },
    });
    expect(res.statusCode).toBe(200);
    writeFileSync(file, JSON.stringify(interestGroup));
  });
  afterAll(async () => h?.dispose());

  it('finds the server and its admin key by the settings `serve` reads (SHOPFLOW_PORT, SHOPFLOW_DATA), with no flags', async () => {
    const data = mkdtempSync(join(tmpdir(), 'shopflow-cli-data-'));
    writeFileSync(join(data, 'default-workspace.json'), JSON.stringify({ adminKey: h.keys.adminKey }));
    const env = { SHOPFLOW_PORT: new URL(url).port, SHOPFLOW_DATA: data };
    const estimate = await shopflowAsync(['segments', 'estimate', '--file', file, '--json'], env);
    expect(estimate.status, estimate.stderr).toBe(0);
    expect(JSON.parse(estimate.stdout).size).toBe(2);
    // Another port: the CLI says where it looked.
    const elsewhere = await shopflowAsync(['segments', 'list'], { ...env, SHOPFLOW_SERVER: 'http://127.0.0.1:9' });
    expect(elsewhere.status).not.toBe(0);
    expect(elsewhere.stderr).toContain('cannot reach http://127.0.0.1:9');
  });

  it('estimates, creates, lists, shows members and exports the interest group', async () => {
    const estimate = await cli('estimate', '--file', file, '--json');
    expect(estimate.status).toBe(0);
    expect(JSON.parse(estimate.stdout).size).toBe(2);

    const created = await cli('create', '--name', 'Interest group', '--file', file, '--cron', '0 9 * * 1', '--timezone', 'Asia/Shanghai');
    expect(created.stdout).toMatch(/segment \d+ "Interest group": 2 members/);

    const list = JSON.parse((await cli('list', '--json')).stdout);
    expect(list).toMatchObject([{ name: 'Interest group', memberCount: 2, refresh: { mode: 'scheduled', cron: '0 9 * * 1' } }]);
    const id = String(list[0].segmentId);

    const members = await cli('members', id);
    expect(members.stdout).toContain('carter');
    expect(members.stdout).toContain('wisher');
    expect(members.stdout).not.toContain('buyer');

    const out = join(dir, 'interest.csv');
    expect((await cli('export', id, '--out', out)).status).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('carter@example.com');
    const dmp = join(dir, 'interest-dmp.csv');
    expect((await cli('export', id, '--format', 'dmp', '--out', dmp)).status).toBe(0);
    expect(readFileSync(dmp, 'utf8')).not.toContain('carter@example.com');

    expect((await cli('refresh', id)).stdout).toMatch(/2 members \(\+0 \/ -0\)/);
  });

  it('reports a bad definition with the path of the bad node', async () => {
    const bad = await cli('estimate', '--definition', '{"type":"performed","event":"X","window":{"last":"a week"}}');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('window');
  });
});
