/**
 * `latency` of the `journeys` benchmark: the real server (buildServer, journeys ticking every
 * 500 ms and nudged after each ingest commit) on loopback, an event-triggered journey with no
 * wait (Order Placed, keyed by order_id → send), and a sender in a child process posting one
 * `/v1/track` per order at a steady rate. This process reads the outbox (a reader on its own
 * connection) whenever the engine nudges the dispatcher, which it does after each commit that
 * moved people, so a row is seen when a dispatcher would see it; and every 50 ms in case. It notes
 * when each order's row first appears; latency = that instant − when the request left the sender
 * (wall clocks of the two processes, offset measured by ping). The figure includes one outbox read.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildServer } from '../src/api/server.ts';
import type { Progress } from '../src/cli/progress.ts';
import { DAY, systemClock } from '../src/core/clock.ts';
import { parseConfig } from '../src/core/config.ts';
import { createJourney, defaultEngineOptions, journeyDefinitionSchema, publishJourney } from '../src/journeys/index.ts';
import { createTemplate } from '../src/messaging/index.ts';
import { reserveKeys, type Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { orderId, type SenderCommand, type SenderMessage, type SenderOptions, type SenderResult, wallNow } from './journey-client.ts';
import { generatePeople } from './journey-data.ts';
import { ProcessSampler, quantile, round } from './stats.ts';
import { StoreTrace } from './store-trace.ts';

export interface LatencyOptions {
  /** Measured events (orders). */
  events: number;
  /** Orders sent first and left out of the figures (people created, code paths warm). */
  warmup: number;
  /** Requests per second. */
  rate: number;
  progress: Progress;
  traceSql?: boolean;
  /** Outbox reads between the engine's nudges (a safety net; it reads at each nudge). */
  pollMs?: number;
  /** Engine tick interval of the server (it is also nudged after each ingest commit). */
  tickMs?: number;
  /**
   * People already in the workspace, each with a past order's completed instance of the journey
   * (default 0: an empty store). The statements of an admission read `users` and the journey's
   * instances: this shows what the latency does when those tables are large.
   */
  population?: number;
}

/** `n` people (bench/journey-data.ts), each with the completed instance of a past order's confirmation. */
/** A new workspace with the confirmation journey published, and `population` people with a past instance each. */
export async function publishConfirmation(store: Store, workspace: string, population: number, progress: Progress) {
  const now = systemClock.now();
  const ws = await createWorkspace(store, workspace, now);
  const text = 'Order {{ event.order_id }} is confirmed';
  await createTemplate(store, ws.workspaceId, { name: 'order-confirmation', channel: 'sms', fields: { text } }, now);
  const j = await createJourney(
    store,
    ws.workspaceId,
    { name: 'Order confirmation (bench)', definition: journeyDefinitionSchema.parse(confirmationJourney) },
    now,
  );
  await publishJourney(store, ws.workspaceId, j.journeyId, now);
  if (population > 0) await populate(store, ws.workspaceId, j.journeyId, population, now, progress);
  return { ws, j };
}

async function populate(store: Store, ws: number, journeyId: number, n: number, now: number, progress: Progress): Promise<void> {
  await generatePeople(store, ws, n, now, progress);
  const base = await reserveKeys(store, 'journey_instance', n);
  await store.query(
    `INSERT INTO journey_instances (workspace_id, journey_id, version, instance_id, user_key, instance_key, entry_key, holdout, status,
       node_id, node_state, due_at, entered_at, node_entered_at, step_no, trigger_props, trigger_total, exit_reason, exited_at)
     SELECT $1, $2, 1, $3 + user_key - 1, user_key, 'past-' || CAST(user_key AS TEXT), 'e.past-' || CAST(user_key AS TEXT), FALSE, 'completed',
       'confirm', 0, NULL, $4, $4, 1, NULL, NULL, 'end_of_path', $4
     FROM users WHERE workspace_id = $1`,
    [ws, journeyId, base, now - DAY],
  );
}

/** An order confirmation: no wait, so the message is due as soon as the order is seen. */
export const confirmationJourney = {
  nodes: [
    { id: 'placed', type: 'entry', trigger: { kind: 'event', event: 'Order Placed', key: 'order_id' } },
    { id: 'confirm', type: 'send', channel: 'sms', template: 'order-confirmation', transactional: true },
  ],
  edges: [{ from: 'placed', to: 'confirm' }],
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startSender(): ChildProcess {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const file = fileURLToPath(new URL('./journey-client.ts', import.meta.url));
  return fork(file, [], { execArgv: ['--import', tsx], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

/** Drives the sender: start → ready → clock pings → go → done. `onGo` runs just before `go`. */
function runSender(options: SenderOptions, progress: Progress, onGo: () => void): Promise<{ result: SenderResult; offsetMs: number }> {
  const child = startSender();
  const tell = (m: SenderCommand) => child.send(m);
  const pings = new Map<number, number>();
  let best = { rtt: Number.POSITIVE_INFINITY, offset: 0 };
  let pongs = 0;
  const run = new Promise<{ result: SenderResult; offsetMs: number }>((resolve, reject) => {
    child.on('message', (m: SenderMessage) => {
      if (m.type === 'ready') {
        pings.set(0, wallNow());
        tell({ type: 'ping', id: 0 });
      } else if (m.type === 'pong') {
        const t1 = wallNow();
        const t0 = pings.get(m.id)!;
        // The child's clock minus ours, from the exchange with the shortest round trip.
        if (t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: m.at - (t0 + t1) / 2 };
        if (++pongs < 20) {
          pings.set(pongs, wallNow());
          tell({ type: 'ping', id: pongs });
        } else {
          progress.start('send orders', options.events);
          onGo();
          tell({ type: 'go' });
        }
      } else if (m.type === 'progress') {
        progress.update(m.done);
      } else if (m.type === 'done') {
        progress.stop();
        resolve({ result: m.result, offsetMs: best.offset });
      } else {
        progress.stop();
        reject(new Error(`event sender failed: ${m.message}`));
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`event sender exited with code ${code}`)));
    tell({ type: 'start', options });
  });
  return run.catch((err: unknown) => {
    child.kill();
    throw err;
  });
}

/**
 * Reads the journey's outbox when the engine says it moved people (the nudge that wakes the
 * dispatcher, so this sees a row when a dispatcher would), and every `pollMs` as a safety net;
 * remembers when each order's row was first seen.
 */
class OutboxWatcher {
  readonly seen = new Map<string, { at: number; createdAt: number }>();
  private watermark = -1;
  private stopped = false;
  private woken = false;
  private wakeUp: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  polls = 0;

  constructor(
    private readonly store: Store,
    private readonly ws: number,
    private readonly journeyId: number,
    private readonly pollMs: number,
  ) {}

  /** One read of the rows after the highest instance seen (instances enter, and are sent, in id order). */
  async poll(all = false): Promise<void> {
    const at = wallNow();
    const rows = await this.store.query<{ instance_id: number; order_id: string | null; created_at: number }>(
      `SELECT instance_id, (payload -> 'trigger') ->> 'order_id' AS order_id, created_at FROM outbox
       WHERE workspace_id = $1 AND journey_id = $2 AND instance_id > $3`,
      [this.ws, this.journeyId, all ? -1 : this.watermark],
    );
    this.polls++;
    for (const r of rows) {
      this.watermark = Math.max(this.watermark, Number(r.instance_id));
      const key = String(r.order_id);
      if (!this.seen.has(key)) this.seen.set(key, { at, createdAt: Number(r.created_at) });
    }
  }

  /** Something was committed: read now (or right after the read in flight). */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        this.woken = false;
        await this.poll();
        if (this.woken) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.pollMs);
          this.wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeUp = null;
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    await this.loop;
  }
}

function percentiles(values: number[]) {
  const s = Float64Array.from(values).sort();
  return { p50: quantile(s, 0.5), p95: quantile(s, 0.95), p99: quantile(s, 0.99), max: quantile(s, 1) };
}

export async function runLatency(store: Store, o: LatencyOptions): Promise<Record<string, unknown>> {
  const pollMs = o.pollMs ?? 50;
  const tickMs = o.tickMs ?? 500;
  const total = o.warmup + o.events;
  const { ws, j } = await publishConfirmation(store, 'bench-journey-latency', o.population ?? 0, o.progress);
  const config = parseConfig({ logLevel: 'silent' }, {});
  const trace = o.traceSql ? new StoreTrace() : null;
  const server = await buildServer({
    store: trace ? trace.wrap(store) : store,
    clock: systemClock,
    ingest: { maxEvents: config.ingestMaxEvents, maxDelayMs: config.ingestMaxDelayMs },
    logLevel: 'silent',
    journeys: { ...defaultEngineOptions, tickMs },
  });
  // Tick durations, measured around the engine's own tick (the ticker calls this.tick()).
  const tickMsList: number[] = [];
  const engine = server.journeys;
  const tick = engine.tick.bind(engine);
  engine.tick = async () => {
    const t = performance.now();
    try {
      return await tick();
    } finally {
      tickMsList.push(performance.now() - t);
    }
  };
  const watcher = new OutboxWatcher(store, ws.workspaceId, j.journeyId, pollMs);
  // The engine nudges the dispatcher after each commit that moved people: the watcher reads then.
  const nudgeDispatcher = server.dispatcher.nudge.bind(server.dispatcher);
  server.dispatcher.nudge = () => {
    nudgeDispatcher();
    watcher.wake();
  };
  let sent: { result: SenderResult; offsetMs: number };
  let sampler: ProcessSampler | null = null;
  let loadAvg1m: number | null = null;
  let missing: string[] = [];
  let outbox = 0;
  try {
    const url = await server.app.listen({ port: 0, host: '127.0.0.1' });
    sent = await runSender({ url, writeKey: ws.writeKey, events: total, rate: o.rate, customers: 1_000 }, o.progress, () => {
      loadAvg1m = round(loadavg()[0] ?? 0);
      sampler = new ProcessSampler();
      trace?.begin();
      watcher.start();
    });
    // Whatever is still on its way: wait for it (bounded).
    const deadline = performance.now() + 30_000;
    while (watcher.seen.size < total && performance.now() < deadline) await sleep(20);
    await watcher.stop();
    if (trace) process.stderr.write(`${trace.summary(`latency (${store.dialect})`)}\n`);
    await watcher.poll(true);
    missing = Array.from({ length: total }, (_, i) => orderId(i)).filter((id) => !watcher.seen.has(id));
    const [row] = await store.query<{ n: number }>('SELECT count(*) AS n FROM outbox WHERE workspace_id = $1 AND journey_id = $2', [
      ws.workspaceId,
      j.journeyId,
    ]);
    outbox = Number(row?.n ?? 0);
  } finally {
    await server.close();
  }
  const sampled = (sampler as ProcessSampler | null)?.stop() ?? null;
  const { result, offsetMs } = sent;
  const errors: string[] = [];
  if (result.failed > 0) errors.push(`${result.failed} of ${total} requests failed; first: ${result.firstError}`);
  if (missing.length > 0) errors.push(`${missing.length} orders never reached the outbox (first: ${missing[0]})`);
  if (outbox !== total) errors.push(`the outbox holds ${outbox} rows for ${total} orders`);

  // The sender's wall clock, in ours.
  const sentAt = (i: number) => result.sentAt[i]! - offsetMs;
  const latency: number[] = [];
  const toTick: number[] = [];
  for (let i = o.warmup; i < total; i++) {
    const s = watcher.seen.get(orderId(i));
    if (!s) continue;
    latency.push(s.at - sentAt(i));
    toTick.push(s.createdAt - sentAt(i));
  }
  const lat = percentiles(latency);
  const ack = percentiles(result.ackMs.slice(o.warmup));
  const ticks = percentiles(tickMsList);
  return {
    measure: 'latency',
    events: o.events,
    seconds: round(result.seconds, 2),
    perSecond: round(total / result.seconds, 1),
    p50Ms: round(lat.p50, 1),
    p95Ms: round(lat.p95, 1),
    p99Ms: round(lat.p99, 1),
    maxMs: round(lat.max, 1),
    // The floor: the request answered, i.e. the event committed (before the engine can see it).
    ackP50Ms: round(ack.p50, 1),
    ackP99Ms: round(ack.p99, 1),
    // Request sent → start of the tick that queued the message (outbox.created_at is the tick's clock).
    toTickStartP50Ms: round(percentiles(toTick).p50, 1),
    ticks: tickMsList.length,
    tickP50Ms: round(ticks.p50, 1),
    tickMaxMs: round(ticks.max, 1),
    warmup: o.warmup,
    rate: o.rate,
    tickMs,
    pollMs,
    polls: watcher.polls,
    clockOffsetMs: round(offsetMs, 2),
    outbox,
    peakRssMb: sampled?.peakRssMb ?? null,
    cpuPct: sampled?.cpuPct ?? null,
    eventLoopUtilization: sampled?.eventLoopUtilization ?? null,
    loopDelayP99Ms: sampled?.loopDelayP99Ms ?? null,
    loadAvg1m,
    goal: 'p50 ≤ 50 ms, p99 ≤ 250 ms',
    goalMet: lat.p50 !== null && lat.p99 !== null ? lat.p50 <= 50 && lat.p99 <= 250 : null,
    ...(errors.length ? { error: errors.join('; ') } : {}),
  };
}
