/**
 * The event fast path alone, without HTTP or a second process, for iterating on its statements:
 * N times, one `Order Placed` is written through the ingest path (writeBatch) and handed to the
 * engine's fast path (the latency benchmark's journey: entry keyed by order_id → send), with a
 * pause between orders. Prints the median time of each part; with --trace-sql, every statement.
 *
 *   node --import tsx bench/fast-path-run.ts [--engine duckdb|postgres] [--orders 300] [--gap-ms 10] [--population N] [--trace-sql]
 *
 * --population N puts N people with a past order's completed instance in the store first (as the
 * latency benchmark's --population does), to see what large tables do to each statement.
 */
import { parseArgs } from 'node:util';
import { terminalProgress } from '../src/cli/progress.ts';
import { systemClock } from '../src/core/clock.ts';
import { normalizeEvent, writeBatch } from '../src/ingest/index.ts';
import { JourneyEngine } from '../src/journeys/index.ts';
import { benchStore, type Engine } from './bench-store.ts';
import { publishConfirmation } from './journey-latency.ts';
import { quantile, round } from './stats.ts';
import { StoreTrace } from './store-trace.ts';

const { values } = parseArgs({
  options: {
    engine: { type: 'string', default: 'duckdb' },
    orders: { type: 'string', default: '300' },
    'gap-ms': { type: 'string', default: '10' },
    population: { type: 'string', default: '0' },
    'trace-sql': { type: 'boolean', default: false },
  },
});
const engine = values.engine as Engine;
if (engine !== 'duckdb' && engine !== 'postgres') throw new Error(`--engine duckdb|postgres, not ${values.engine}`);
const [orders, gapMs, population] = [values.orders, values['gap-ms'], values.population].map(Number) as [number, number, number];
const warmup = 20;

const bs = await benchStore(engine);
try {
  const trace = new StoreTrace();
  const store = values['trace-sql'] ? trace.wrap(bs.store) : bs.store;
  const { ws } = await publishConfirmation(bs.store, 'bench-fast-path', population, terminalProgress());
  const journeys = new JourneyEngine(store, systemClock);
  const ingestMs: number[] = [];
  const fastPathMs: number[] = [];
  for (let i = 0; i < warmup + orders; i++) {
    if (i === warmup) trace.begin();
    const receivedAt = systemClock.now();
    const raw = {
      type: 'track',
      userId: `u${i % 1000}`,
      event: 'Order Placed',
      properties: { order_id: `o${i}`, total: 10, currency: 'EUR' },
    };
    const n = normalizeEvent(raw, [], { workspaceId: ws.workspaceId, receivedAt, source: 'api' });
    if (!n.ok) throw new Error(JSON.stringify(n.errors));
    const t0 = performance.now();
    await writeBatch(store, ws.workspaceId, [n.event], receivedAt);
    const t1 = performance.now();
    const r = await journeys.takeEvents(ws.workspaceId, [{ messageId: n.event.messageId, event: 'Order Placed', receivedAt }]);
    const t2 = performance.now();
    if (r.entered !== 1) throw new Error(`order ${i} entered ${r.entered} times`);
    if (i >= warmup) {
      ingestMs.push(t1 - t0);
      fastPathMs.push(t2 - t1);
    }
    await new Promise((resolve) => setTimeout(resolve, gapMs));
  }
  const median = (a: number[]) => round(quantile(Float64Array.from(a).sort(), 0.5), 1);
  if (values['trace-sql']) process.stderr.write(`${trace.summary(`fast path (${engine})`)}\n`);
  process.stdout.write(
    `${JSON.stringify({ engine, orders, population, ingestP50Ms: median(ingestMs), fastPathP50Ms: median(fastPathMs) })}\n`,
  );
} finally {
  await bs.dispose();
}
