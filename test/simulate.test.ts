import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import {
  checkJourneyFiles,
  formatReport,
  type JourneyReport,
  readJourneyFile,
  type SimulationReport,
} from '../src/sim/journey-sim/index.ts';
import { shopflowAsync } from './cli-process.ts';

/** `shopflow simulate` as a user runs it: example journeys on a small simulated shop, in virtual time. */
const examples = (...names: string[]) => names.map((n) => `examples/journeys/${n}.json`).join(',');
const small = ['--users', '400', '--days', '7', '--history-days', '60', '--step', '6h', '--seed', '1', '--json'];

async function simulate(args: string[]): Promise<SimulationReport> {
  const r = await shopflowAsync(['simulate', ...args]);
  if (r.status !== 0) throw new Error(`simulate exited with ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as SimulationReport;
}

/** Writes a journey file (`{segments: {}, definition}`) into a new temporary folder; returns its path. */
function journeyFile(name: string, definition: object): string {
  const file = join(mkdtempSync(join(tmpdir(), 'shopflow-simulate-')), name);
  writeFileSync(file, JSON.stringify({ segments: {}, definition }));
  return file;
}

/** What every journey report must satisfy, whatever the numbers. */
function checkConsistent(j: JourneyReport) {
  expect(j.entered).toBeGreaterThan(0);
  expect(j.converted).toBeLessThanOrEqual(j.entered);
  expect(j.active + j.completed + j.exited + j.converted).toBe(j.entered);
  expect(j.test.entered + (j.holdout?.entered ?? 0)).toBe(j.entered);
  expect(j.test.converted + (j.holdout?.converted ?? 0)).toBe(j.converted);
  // The entry node passes everyone who entered on to the next node.
  expect(j.nodes[0]!.passed).toBe(j.entered);
  // Every queued message and recommendation got a response decision, on its channel.
  const channels = Object.values(j.channels);
  const sum = (f: (c: (typeof channels)[number]) => number) => channels.reduce((s, c) => s + f(c), 0);
  expect(sum((c) => c.sent)).toBe((j.outbox.message ?? 0) + (j.outbox.recommend ?? 0));
  for (const c of channels) {
    expect(c.delivered).toBeLessThanOrEqual(c.sent - c.unreachable);
    expect(c.opened).toBeLessThanOrEqual(c.delivered);
    expect(c.clicked).toBeLessThanOrEqual(c.opened);
    expect(c.orders).toBeLessThanOrEqual(c.clicked);
  }
  expect(j.coupons.issued).toBe(j.outbox.coupon ?? 0);
  expect(j.coupons.usedAfterMessage).toBeLessThanOrEqual(j.messageDrivenOrders.orders);
  // Every entry and conversion happened on one of the simulated days, and is counted on that day.
  const total = (days: number[]) => days.reduce((a, b) => a + b, 0);
  expect(j.daily.entered).toHaveLength(7);
  expect([total(j.daily.entered), total(j.daily.converted)]).toEqual([j.test.entered, j.test.converted]);
  expect([total(j.daily.holdoutEntered), total(j.daily.holdoutConverted)]).toEqual([j.holdout?.entered ?? 0, j.holdout?.converted ?? 0]);
  if (j.holdout) {
    expect(j.holdout.converted).toBeLessThanOrEqual(j.holdout.entered);
    // The control group is enrolled and tracked but never contacted.
    expect(j.holdout.messages).toBe(0);
  }
}

describe('shopflow simulate', () => {
  let report: SimulationReport;
  beforeAll(async () => {
    report = await simulate(['--journey', examples('vip-flash-sale', 'dormant-recall'), ...small]);
  });

  it('runs the journeys over the simulated days and reports each one', () => {
    expect(report.settings).toMatchObject({ users: 400, days: 7, step: '6h', seed: 1, engine: 'duckdb' });
    expect(report.steps).toBe(28);
    expect(report.shop.historyEvents).toBeGreaterThan(5000);
    expect(report.shop.organicEvents).toBeGreaterThan(500);
    expect(report.shop.responseEvents).toBeGreaterThan(0);
    expect(report.journeys.map((j) => j.name)).toEqual(['VIP flash sale', 'Dormant recall']);
    expect(report.warnings).toEqual([]);
    for (const j of report.journeys) checkConsistent(j);
  });

  it('queues messages, and simulated people respond: deliveries, clicks and orders caused by messages', () => {
    const [sale, recall] = report.journeys as [JourneyReport, JourneyReport];
    for (const j of [sale, recall]) {
      expect(j.outbox.message).toBeGreaterThan(0);
      expect(j.outbox.coupon).toBeGreaterThan(0);
      expect(j.holdout?.entered).toBeGreaterThan(0);
    }
    const channels = report.journeys.flatMap((j) => Object.values(j.channels));
    expect(channels.reduce((s, c) => s + c.delivered, 0)).toBeGreaterThan(100);
    expect(channels.reduce((s, c) => s + c.clicked, 0)).toBeGreaterThan(0);
    // A $30 coupon with personalised picks to recent buyers: some of them buy because of it,
    // with the coupon, and the goal counts them as converted.
    expect(sale.messageDrivenOrders.orders).toBeGreaterThan(0);
    expect(sale.messageDrivenOrders.revenue).toBeGreaterThan(0);
    expect(sale.coupons.usedAfterMessage).toBeGreaterThan(0);
    expect(sale.converted).toBeGreaterThan(0);
    // The picks were recommended products; someone looked at them.
    expect(sale.outbox.recommend).toBeGreaterThan(0);
    // The recall journey's recommendation step ran for those who did not use their coupon.
    expect(recall.nodes.find((n) => n.id === 'picks')!.passed).toBeGreaterThan(0);
  });

  it('estimates lift against the holdout with an honest interval', () => {
    for (const j of report.journeys) {
      const l = j.lift!;
      expect(l.method).toMatch(/difference of proportions/);
      expect(l.testRate).toBeCloseTo(j.test.converted / j.test.entered, 10);
      expect(l.holdoutRate).toBeCloseTo(j.holdout!.converted / j.holdout!.entered, 10);
      expect(l.differenceCi95[0]).toBeLessThanOrEqual(l.difference);
      expect(l.differenceCi95[1]).toBeGreaterThanOrEqual(l.difference);
    }
    const text = formatReport(report);
    expect(text).toContain('Journey 1 "VIP flash sale"');
    expect(text).toMatch(/lift: [+−]\d+\.\d pts \(95% CI/);
    expect(text).toContain('orders caused by messages (simulator ground truth)');
  });

  it('is deterministic: the same seed gives the same journeys, on PostgreSQL too', async () => {
    const again = await simulate(['--journey', examples('vip-flash-sale', 'dormant-recall'), ...small, '--store', inject('pgUrl')]);
    expect(again.settings.engine).toBe('postgres');
    expect(again.shop).toEqual(report.shop);
    expect(again.journeys).toEqual(report.journeys);
  });

  it('accepts every example journey file', () => {
    const dir = join(import.meta.dirname, '..', 'examples', 'journeys');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    expect(() => checkJourneyFiles(files.map((f) => readJourneyFile(join(dir, f))))).not.toThrow();
  });

  it('runs a journey file that sends templates of its own (a placeholder stands in for each), on both engines', async () => {
    const file = journeyFile('own-templates.json', {
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Product Viewed' } },
        { id: 'hi', type: 'send', channel: 'sms', template: 'our-own-browse-sms' },
      ],
      edges: [{ from: 'in', to: 'hi' }],
    });
    const args = ['--journey', file, '--users', '100', '--days', '1', '--history-days', '7', '--step', '6h', '--json'];
    const [duck, pg] = await Promise.all([simulate(args), simulate([...args, '--store', inject('pgUrl')])]);
    expect(duck.journeys[0]!.outbox.message).toBeGreaterThan(0);
    expect(pg.settings.engine).toBe('postgres');
    expect(pg.journeys[0]!.outbox).toEqual(duck.journeys[0]!.outbox);
  });

  it('refuses a journey file with a problem before generating anything', async () => {
    const file = journeyFile('broken.json', {
      nodes: [{ id: 'in', type: 'entry', trigger: { kind: 'segment', segmentId: 'nobody' } }],
      edges: [],
    });
    const r = await shopflowAsync(['simulate', '--journey', file]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('segment "nobody" is not declared');
  });
});
