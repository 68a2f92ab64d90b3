/**
 * `messaging`: the dispatcher delivering one queued SMS per person to a local Twilio-compatible
 * mock, with the workspace's contact rules on, on each engine (one fresh store per engine):
 * - setup (not timed): N people with an email, a phone and a `timezone` trait in four zones, an
 *   `sms` template in Liquid over their traits, the sms channel on the `twilio` provider pointed at
 *   the mock, messaging settings (a 3-a-day SMS cap, quiet hours 21:00–08:00, an opt-out line,
 *   tracked clicks, a blackout date), some people unsubscribed or at their cap, and one `queued`
 *   outbox row per recipient, written straight into the table (as a send node would): every
 *   person, or with `population` larger than the messages, that many spread over the table;
 * - timed: `Dispatcher.tick()` on a virtual clock until nothing is due;
 * - baseline, in the same run: a plain loop POSTing as many requests as were sent to the same mock,
 *   with the same client library, connections and concurrency — what the HTTP calls alone cost.
 * The mock is a bare `node:http` server in a child process (the provider is another machine; in
 * this process it would take the dispatcher's thread). Every count is checked; a wrong one sets
 * `error`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { Agent, request } from 'undici';
import type { Progress } from '../src/cli/progress.ts';
import { DAY, HOUR, VirtualClock } from '../src/core/clock.ts';
import { defaultOutboundOptions } from '../src/core/outbound-http.ts';
import {
  createTemplate,
  Dispatcher,
  type DispatcherOptions,
  defaultDispatcherOptions,
  type MessagingSettings,
  putChannelSettings,
  putMessagingSettings,
} from '../src/messaging/index.ts';
import type { Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { benchStore, type Engine } from './bench-store.ts';
import { PhaseProfiler } from './cpu-profile.ts';
import { emptyFigures } from './empty-figures.ts';
import { type Column, resultCell, resultTable } from './format-table.ts';
import type { BenchResult } from './index.ts';
import { GenSql } from './segment-data.ts';
import { ProcessSampler, round, secondsSince } from './stats.ts';
import { StoreTrace } from './store-trace.ts';

/**
 * People (= messages) when --users is not given: a campaign, whose rate is what a sender is held
 * to. Each run pays a one-off start of ~0.7 s (the first batch planned with nothing on the wire, a
 * cold delivery thread and new connections); over 20,000 messages (~3.7 s) that start was a fifth
 * of the run, over 100,000 (~15 s) it is a twentieth. `--users 20000` measures the short run.
 */
export const defaultMessagingUsers = 100_000;
/** The issue's goal for one dispatcher process with governance on. */
export const GOAL_PER_SECOND = 5_000;

/**
 * The dispatcher's clock: Wednesday 2026-03-04 12:00 UTC. Local times in the four zones: UTC
 * 12:00, Berlin 13:00, Shanghai 20:00, São Paulo 09:00 — all outside the 21:00–08:00 quiet hours,
 * so nobody is deferred (the run checks it).
 */
export const BENCH_AT = Date.UTC(2026, 2, 4, 12);
const ZONES = ['UTC', 'Europe/Berlin', 'Asia/Shanghai', 'America/Sao_Paulo'];
const PUBLIC_URL = 'https://go.shopflow.test';
const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const AUTH_TOKEN = 'bench-auth-token';
const FROM = '+15005550006';
const TEMPLATE = 'spring-sale-sms';
const TRIGGER = { campaign: 'spring-sale', discount: 20, ends: '2026-03-08T23:59:59Z' };
/** Connections per origin of the dispatcher's outbound client; the baseline uses as many. */
const CONNECTIONS = defaultOutboundOptions.connectionsPerOrigin;

/** Governance on: what every marketing message of the run is checked against. */
export const benchSettings: MessagingSettings = {
  frequencyCaps: [{ channel: 'sms', period: 'day', max: 3 }],
  quietHours: { start: '21:00', end: '08:00', action: 'defer' },
  blackoutDates: ['2026-12-25'],
  defaultTimezone: 'UTC',
  requireConsent: [],
  smsOptOutText: 'Reply STOP to opt out',
  stopKeywords: ['STOP', 'UNSUBSCRIBE'],
  nonResponder: null,
  sendTime: null,
  trackClicks: true,
};

/** Who is skipped and why, by person key (1..N); everyone else is sent one SMS. */
const capped = (k: number) => k % 50 === 0; // 3 SMS already sent today: over the 3-a-day cap
const unsubscribed = (k: number) => k % 100 === 1; // unsubscribed from `marketing` on sms
const optedOut = (k: number) => k % 500 === 2; // texted STOP: opted out of every sms (topic *)

export interface Expected {
  sent: number;
  skipped: number;
  skippedBy: { frequencyCap: number; unsubscribed: number; optedOut: number };
  deferred: number;
}

/**
 * Who gets the i-th message (i from 0): a permutation of the person keys 1..population, so with a
 * larger population the recipients are spread over the whole table as a real audience is. The
 * multiplier is a prime (the run refuses populations it divides).
 */
const SCATTER = 1_000_003;
export const recipientKey = (i: number, population: number): number => 1 + ((i * SCATTER) % population);
const recipientKeySql = (population: number): string => `1 + (i * ${SCATTER}) % ${population}`;

export function expectedCounts(messages: number, population = messages): Expected {
  const by = { frequencyCap: 0, unsubscribed: 0, optedOut: 0 };
  for (let i = 0; i < messages; i++) {
    const k = recipientKey(i, population);
    if (optedOut(k)) by.optedOut++;
    else if (unsubscribed(k)) by.unsubscribed++;
    else if (capped(k)) by.frequencyCap++;
  }
  const skipped = by.frequencyCap + by.unsubscribed + by.optedOut;
  return { sent: messages - skipped, skipped, skippedBy: by, deferred: 0 };
}

// ---------------------------------------------------------------------------------------------
// The mock provider: a bare HTTP server in a child process, answering every request 201 with a
// Twilio-shaped body. It counts requests and idempotency tokens (a repeated token would be a
// message sent twice) and reports them over IPC.
const MOCK_SOURCE = `
const http = require('node:http');
let received = 0, dupes = 0;
let tokens = new Set();
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    received++;
    const t = req.headers['i-twilio-idempotency-token'];
    if (typeof t === 'string') { if (tokens.has(t)) dupes++; else tokens.add(t); }
    const body = '{"sid":"SM' + received.toString(16).padStart(32, '0') + '","status":"queued"}';
    res.writeHead(201, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port }));
process.on('message', (m) => {
  if (m.ask === 'stats') process.send({ id: m.id, received, distinct: tokens.size, dupes });
  if (m.ask === 'reset') { received = 0; dupes = 0; tokens = new Set(); process.send({ id: m.id }); }
});
process.on('disconnect', () => process.exit(0));
`;

export interface MockStats {
  received: number;
  distinct: number;
  dupes: number;
}

export class MockProvider {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {}

  static async start(): Promise<MockProvider> {
    const child = spawn(process.execPath, ['-e', MOCK_SOURCE], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m: { port: number }) => resolve(m.port));
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`mock provider exited with code ${code}`)));
    });
    return new MockProvider(child, `http://127.0.0.1:${port}`);
  }

  private asked = 0;

  /**
   * One question to the mock and its own answer: answers carry the question's id, because the
   * progress poll's questions may still be unanswered when the final count is asked for (on a
   * busy machine a stale count once came back as the final one).
   */
  private ask<T>(ask: 'stats' | 'reset'): Promise<T> {
    const id = ++this.asked;
    return new Promise((resolve) => {
      const on = (m: { id?: number }) => {
        if (m.id !== id) return;
        this.child.off('message', on);
        resolve(m as T);
      };
      this.child.on('message', on);
      this.child.send({ ask, id });
    });
  }

  stats(): Promise<MockStats> {
    return this.ask<MockStats>('stats');
  }

  async reset(): Promise<void> {
    await this.ask('reset');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || !this.child.connected) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.disconnect();
    await exited;
  }
}

// ---------------------------------------------------------------------------------------------
// Setup.

const jsonType = (store: Store) => (store.dialect === 'duckdb' ? 'JSON' : 'JSONB');
const sqlText = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * People 1..population (traits: first name, city, time zone), their email and phone identities,
 * the opt-outs, today's earlier SMS of the capped, and one queued outbox row for each of `messages`
 * people (recipientKey): SQL inside the database, 1M rows per statement.
 */
async function seed(store: Store, ws: number, people: number, messages: number, now: number, progress: Progress): Promise<void> {
  const g = new GenSql(store.dialect, 1);
  const json = jsonType(store);
  const key = 'i + 1';
  const chunk = 1_000_000;
  progress.start('generate people + outbox', people);
  for (let lo = 0; lo < people; lo += chunk) {
    const hi = Math.min(people, lo + chunk);
    const from = g.series(lo, hi);
    const traits = `'{"first_name":"' || ${g.pick(['Li', 'Wang', 'Ana', 'Jonas', 'Emma'], 'i')} || '","city":"' || ${g.pick(['Shanghai', 'Berlin', 'São Paulo', 'London'], 'i >> 2')} || '","timezone":"' || ${g.pick(ZONES, 'i')} || '"}'`;
    await store.query(`INSERT INTO users (workspace_id, user_key, created_at, updated_at, merged_into, traits)
      SELECT ${ws}, ${key}, ${now - 30 * DAY}, ${now - 30 * DAY}, NULL, CAST(${traits} AS ${json}) FROM ${from}`);
    await store.query(`INSERT INTO identities (workspace_id, type, value, user_key, created_at)
      SELECT ${ws}, 'email', 'u' || ${g.str(key)} || '@example.com', ${key}, ${now - 30 * DAY} FROM ${from}`);
    await store.query(`INSERT INTO identities (workspace_id, type, value, user_key, created_at)
      SELECT ${ws}, 'phone', '+1' || ${g.str(`2010000000 + ${key}`)}, ${key}, ${now - 30 * DAY} FROM ${from}`);
    const subscription = (where: string, topic: string) =>
      store.query(`INSERT INTO subscriptions (workspace_id, user_key, channel, topic, subscribed, source, updated_at)
        SELECT ${ws}, ${key}, 'sms', ${sqlText(topic)}, FALSE, 'bench', ${now - DAY} FROM ${from} WHERE ${where}`);
    await subscription(`(${key}) % 100 = 1`, 'marketing');
    await subscription(`(${key}) % 500 = 2`, '*');
    // Three marketing SMS earlier today (1–3 h ago: the same local day in every zone above).
    for (let h = 1; h <= 3; h++) {
      await store.query(`INSERT INTO outbox (workspace_id, message_key, journey_id, version, instance_id, node_id, user_key, action, channel,
          template, payload, status, transactional, attempts, provider, sent_at, updated_at, created_at)
        SELECT ${ws}, 'hist.' || ${g.str(key)} || '.${h}', 1, 1, ${key}, 'send', ${key}, 'message', 'sms', ${sqlText(TEMPLATE)},
          CAST('{"topic":"marketing"}' AS ${json}), 'sent', FALSE, 1, 'twilio', ${now - h * HOUR}, ${now - h * HOUR}, ${now - h * HOUR}
        FROM ${from} WHERE (${key}) % 50 = 0`);
    }
    progress.update(hi);
  }
  // The messages to deliver: queued a minute ago, as a journey's send node writes them.
  const payload = JSON.stringify({ topic: 'marketing', trigger: TRIGGER });
  const recipient = recipientKeySql(people);
  for (let lo = 0; lo < messages; lo += chunk) {
    await store.query(`INSERT INTO outbox (workspace_id, message_key, journey_id, version, instance_id, node_id, user_key, action, channel,
        template, payload, status, transactional, attempts, created_at)
      SELECT ${ws}, 'bench.' || ${g.str(recipient)}, 1, 1, ${recipient}, 'send', ${recipient}, 'message', 'sms', ${sqlText(TEMPLATE)},
        CAST(${sqlText(payload)} AS ${json}), 'queued', FALSE, 0, ${now - 60_000}
      FROM ${g.series(lo, Math.min(messages, lo + chunk))}`);
  }
  progress.stop();
  await store.query(`UPDATE key_ranges SET next_value = ${people + 1} WHERE name = 'user_key' AND next_value <= ${people}`);
}

/** Before the timed phase: DuckDB writes its WAL into the file; PostgreSQL gets what autovacuum would have done. */
async function settle(store: Store): Promise<void> {
  if (store.dialect === 'duckdb') {
    await store.query('CHECKPOINT');
    return;
  }
  for (const t of ['users', 'identities', 'subscriptions', 'outbox', 'events']) await store.query(`VACUUM (ANALYZE) ${t}`);
}

// ---------------------------------------------------------------------------------------------
// The baseline: the same number of POSTs, as plainly as possible.

/** A form body like the one the twilio provider sends for message `i`. */
function plainBody(i: number, text: string): string {
  return new URLSearchParams({ To: `+1${2010000000 + i}`, From: FROM, Body: text }).toString();
}

/**
 * `n` POSTs to the mock's Messages endpoint from `concurrency` workers over one undici Agent with
 * `connections` per origin (what the dispatcher's outbound client uses), nothing else. Returns
 * seconds; throws unless every answer was 201.
 */
export async function plainPosts(url: string, n: number, concurrency: number, connections: number, text: string): Promise<number> {
  const agent = new Agent({ connections, keepAliveTimeout: 10_000 });
  const target = `${url}/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`;
  const headers = {
    authorization: `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')}`,
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  let next = 0;
  let bad = 0;
  const start = performance.now();
  try {
    const worker = async () => {
      for (let i = next++; i < n; i = next++) {
        const res = await request(target, {
          method: 'POST',
          dispatcher: agent,
          headers: { ...headers, 'i-twilio-idempotency-token': `plain.${i}` },
          body: plainBody(i, text),
        });
        await res.body.text();
        if (res.statusCode !== 201) bad++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  } finally {
    await agent.close();
  }
  const seconds = secondsSince(start);
  if (bad > 0) throw new Error(`baseline: ${bad} of ${n} requests were not answered 201`);
  return seconds;
}

// ---------------------------------------------------------------------------------------------
// The run.

export interface MessagingOptions {
  /** Messages, one per recipient. */
  people: number;
  /** People in the store (default: `people`); the recipients are spread over them (recipientKey). */
  population?: number;
  /** Dispatcher: the most messages claimed per batch (default: the dispatcher's own, 4,000). */
  batchSize: number;
  /** Dispatcher: provider calls in flight (default 64); the baseline uses the same. */
  concurrency: number;
  progress: Progress;
  cpuProfileDir?: string;
  traceSql?: boolean;
  /** Other dispatcher options (A/B runs, e.g. `{deliveryThreads: 0}` for everything on the main thread). */
  dispatcher?: Partial<DispatcherOptions>;
}

const sortedKeys = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));

async function count(store: Store, sql: string, params: readonly (number | string)[]): Promise<number> {
  const [row] = await store.query<{ n: number }>(sql, params);
  return Number(row?.n ?? 0);
}

/** Outbox rows of the run by outcome, and the skips by reason. */
async function outcomes(store: Store, ws: number, now: number) {
  const later = `COALESCE(next_attempt_at, 0) > ${Math.trunc(now)}`;
  const rows = await store.query<{ status: string; reason: string | null; later: boolean; n: number }>(
    `SELECT status, reason, ${later} AS later, count(*) AS n FROM outbox
     WHERE workspace_id = $1 AND message_key LIKE 'bench.%' GROUP BY status, reason, ${later}`,
    [ws],
  );
  const byStatus: Record<string, number> = {};
  const skippedBy = { frequencyCap: 0, unsubscribed: 0, optedOut: 0, other: 0 };
  let deferred = 0;
  for (const r of rows) {
    const n = Number(r.n);
    byStatus[r.status] = (byStatus[r.status] ?? 0) + n;
    if (r.status === 'queued' && r.later) deferred += n;
    if (r.status !== 'skipped') continue;
    const reason = r.reason ?? '';
    if (reason.startsWith('frequency cap')) skippedBy.frequencyCap += n;
    else if (reason.startsWith('unsubscribed from')) skippedBy.unsubscribed += n;
    else if (reason.startsWith('opted out of')) skippedBy.optedOut += n;
    else skippedBy.other += n;
  }
  return { byStatus, skippedBy, deferred };
}

/** Runs the benchmark on a fresh, migrated store; returns its row's figures (with `error` when a count is off). */
export async function messagingBench(store: Store, o: MessagingOptions): Promise<Record<string, unknown>> {
  const n = o.people;
  const population = o.population ?? n;
  if (population < n || population % SCATTER === 0)
    throw new Error(`the population must be at least the ${n} recipients and not a multiple of ${SCATTER}`);
  const clock = new VirtualClock(BENCH_AT);
  const now = clock.now();
  const expected = expectedCounts(n, population);
  const setupStart = performance.now();
  const ws = (await createWorkspace(store, 'bench-messaging', now)).workspaceId;
  const mock = await MockProvider.start();
  let dispatcher: Dispatcher | null = null;
  try {
    await createTemplate(
      store,
      ws,
      {
        name: TEMPLATE,
        channel: 'sms',
        fields: {
          text:
            // No `| date`: liquidjs builds an Intl.DateTimeFormat per call (~110 µs; docs/benchmarks.md).
            'Hi {{ person.traits.first_name }}, {{ event.discount }}% off everything in {{ person.traits.city }} ' +
            'this week: https://shop.example/sale?c={{ event.campaign | url_encode }}',
        },
      },
      now,
    );
    await putChannelSettings(
      store,
      ws,
      'sms',
      {
        provider: 'twilio',
        config: { baseUrl: mock.url, accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM },
        ratePerSecond: null,
      },
      now,
    );
    await putMessagingSettings(store, ws, benchSettings, now);
    await seed(store, ws, population, n, now, o.progress);
    await settle(store);
    // Warms the mock's JIT and sockets so neither measurement pays for that.
    await plainPosts(mock.url, Math.min(2_000, n), o.concurrency, CONNECTIONS, 'warm-up');
    await mock.reset();
    const setupSeconds = secondsSince(setupStart);
    process.stderr.write(
      `messaging/${store.dialect}: ${population} people, ${n} messages queued, ${expected.skipped} to skip (setup ${setupSeconds.toFixed(1)} s)\n`,
    );

    // Timed: dispatcher ticks until nothing is due.
    const trace = o.traceSql ? new StoreTrace() : null;
    dispatcher = new Dispatcher(trace ? trace.wrap(store) : store, clock, {
      publicUrl: PUBLIC_URL,
      outbound: { allowPrivateNetworks: true },
      batchSize: o.batchSize,
      concurrency: o.concurrency,
      ...o.dispatcher,
    });
    // Loads the delivery thread(s), as `start()` does when the server starts: a one-off cost per
    // process (~0.3–0.5 s), not part of the dispatch rate.
    await dispatcher.prepare();
    const due = () =>
      count(
        store,
        `SELECT count(*) AS n FROM outbox WHERE workspace_id = $1 AND status = 'queued' AND COALESCE(next_attempt_at, created_at) <= $2`,
        [ws, now],
      );
    const loadAvg1m = round(loadavg()[0] ?? 0);
    o.progress.start('dispatch (tick)', expected.sent);
    const poll = setInterval(() => {
      mock.stats().then(
        (s) => o.progress.update(s.received),
        () => {},
      );
    }, 500);
    const profiler = o.cpuProfileDir ? await PhaseProfiler.start() : null;
    trace?.begin();
    const sampler = new ProcessSampler();
    let seconds = 0;
    let ticks = 0;
    let handled = 0;
    let received: MockStats;
    try {
      do {
        const t = performance.now();
        handled += await dispatcher.tick();
        seconds += secondsSince(t);
        ticks++;
      } while (ticks < 10 && (await due()) > 0);
    } finally {
      clearInterval(poll);
      received = await mock.stats();
      o.progress.update(received.received);
      o.progress.stop();
    }
    const sampled = sampler.stop();
    const deliveries = dispatcher.deliveries;
    const deliveryThreads = dispatcher.options.deliveryThreads;
    if (profiler && o.cpuProfileDir) process.stderr.write(`${await profiler.stop(o.cpuProfileDir, `messaging-${store.dialect}`)}\n`);
    if (trace) process.stderr.write(`${trace.summary('dispatch')}\n`);
    await dispatcher.stop();
    dispatcher = null;

    // Checks.
    const got = await outcomes(store, ws, now);
    const sent = got.byStatus.sent ?? 0;
    const errors: string[] = [];
    const expect = (what: string, value: unknown, want: unknown) => {
      if (JSON.stringify(value) !== JSON.stringify(want))
        errors.push(`${what}: ${JSON.stringify(value)}, expected ${JSON.stringify(want)}`);
    };
    expect('sent', sent, expected.sent);
    expect('skipped by reason', got.skippedBy, { ...expected.skippedBy, other: 0 });
    expect('deferred', got.deferred, expected.deferred);
    expect('rows by status', sortedKeys(got.byStatus), sortedKeys({ sent: expected.sent, skipped: expected.skipped }));
    expect('handled by the ticks', handled, n);
    expect('requests the provider got', received.received, sent);
    expect('distinct idempotency tokens at the provider', received.distinct, sent);
    expect(
      'Message Sent events',
      await count(store, `SELECT count(*) AS n FROM events WHERE workspace_id = $1 AND event = 'Message Sent'`, [ws]),
      sent,
    );
    const [sample] = await store.query<{ content: unknown }>(
      `SELECT content FROM outbox WHERE workspace_id = $1 AND message_key LIKE 'bench.%' AND status = 'sent' LIMIT 1`,
      [ws],
    );
    const content = (typeof sample?.content === 'string' ? JSON.parse(sample.content) : sample?.content) as
      | { fields?: { text?: string } }
      | undefined;
    const text = content?.fields?.text ?? '';
    if (sent > 0 && !(text.includes(benchSettings.smsOptOutText ?? '') && text.includes(`${PUBLIC_URL}/c/`))) {
      errors.push(`a sent message lacks the opt-out line or the tracked link: ${JSON.stringify(text)}`);
    }

    // Baseline: as many plain POSTs as were sent, same mock, same concurrency and connections.
    await mock.reset();
    const baselineSeconds = await plainPosts(mock.url, Math.max(1, sent), o.concurrency, CONNECTIONS, text || 'baseline');
    const perSecond = sent / seconds;
    const baselinePerSecond = Math.max(1, sent) / baselineSeconds;
    return {
      events: n,
      people: population,
      seconds: round(seconds, 3),
      eventsPerSecond: Math.round(perSecond),
      messagesPerSecond: Math.round(perSecond),
      handledPerSecond: Math.round(n / seconds),
      sent,
      skipped: got.byStatus.skipped ?? 0,
      deferred: got.deferred,
      failed: got.byStatus.failed ?? 0,
      skippedBy: got.skippedBy,
      baselineSeconds: round(baselineSeconds, 3),
      baselinePerSecond: Math.round(baselinePerSecond),
      ratio: round(baselineSeconds / seconds, 3),
      timesBaseline: round(seconds / baselineSeconds, 2),
      ticks,
      batchSize: o.batchSize,
      concurrency: o.concurrency,
      connections: CONNECTIONS,
      deliveryThreads,
      callsInThreads: deliveries.inThreads,
      goal: `≥ ${GOAL_PER_SECOND.toLocaleString('en-US')} msg/s`,
      goalMet: n >= defaultMessagingUsers ? perSecond >= GOAL_PER_SECOND : null,
      peakRssMb: sampled.peakRssMb,
      cpuPct: sampled.cpuPct,
      eventLoopUtilization: sampled.eventLoopUtilization,
      loopDelayP99Ms: sampled.loopDelayP99Ms,
      loadAvg1m,
      setupSeconds: round(setupSeconds, 1),
      sampleText: text,
      ...(errors.length ? { error: errors.join('; ') } : {}),
    };
  } finally {
    await dispatcher?.stop();
    await mock.stop();
  }
}

export interface MessagingBenchOptions {
  /** Messages, one person each (default 100,000). */
  users?: number;
  /** People in the store (default: as many as messages). */
  population?: number;
  engines: Engine[];
  batchSize?: number;
  concurrency?: number;
  progress: Progress;
  cpuProfileDir?: string;
  traceSql?: boolean;
}

/** The benchmark on each engine in turn, one fresh store each; a failure becomes a row with `error`. */
export async function runMessagingBenchmark(o: MessagingBenchOptions): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const people = o.users ?? defaultMessagingUsers;
  for (const engine of o.engines) {
    const row = (figures: Record<string, unknown>): BenchResult => ({
      benchmark: 'messaging',
      engine,
      ...emptyFigures,
      ...figures,
      events: people,
    });
    try {
      const bs = await benchStore(engine);
      try {
        const figures = await messagingBench(bs.store, {
          people,
          ...(o.population === undefined ? {} : { population: o.population }),
          batchSize: o.batchSize ?? defaultDispatcherOptions.batchSize,
          concurrency: o.concurrency ?? 64,
          progress: o.progress,
          cpuProfileDir: o.cpuProfileDir,
          traceSql: o.traceSql,
        });
        results.push(row(figures));
        process.stderr.write(
          `messaging/${engine}: ${figures.sent} sent in ${figures.seconds} s = ${figures.messagesPerSecond} msg/s (plain POSTs ${figures.baselinePerSecond}/s)\n`,
        );
      } finally {
        await bs.dispose();
      }
    } catch (err) {
      results.push({ ...row({}), error: String((err as Error).message ?? err) });
    }
  }
  return results;
}

const columns: Column[] = [
  { key: 'engine', title: 'engine' },
  { key: 'events', title: 'messages' },
  { key: 'sent', title: 'sent' },
  { key: 'skipped', title: 'skipped' },
  { key: 'deferred', title: 'deferred' },
  { key: 'seconds', title: 'seconds' },
  { key: 'messagesPerSecond', title: 'sent/s' },
  { key: 'baselinePerSecond', title: 'plain POST/s' },
  { key: 'ratio', title: 'ratio' },
  { key: 'goal', title: 'goal' },
  { key: 'goalMet', title: 'met' },
  { key: 'cpuPct', title: 'CPU %' },
  { key: 'peakRssMb', title: 'peak RSS MB' },
  { key: 'loadAvg1m', title: 'load' },
];

const cell = resultCell;

/**
 * The `messaging` rows, one line per engine: `sent/s` = messages sent / seconds of the dispatcher's
 * ticks; `plain POST/s` = the same number of bare POSTs to the same mock; `ratio` = baseline
 * seconds / dispatcher seconds (the share of the bare HTTP speed the platform reaches).
 */
export function formatMessagingTable(results: readonly BenchResult[]): string {
  const rows = results.filter((r) => r.benchmark === 'messaging');
  const out = resultTable(columns, rows, new Set(['engine', 'goal']));
  for (const r of rows) {
    const by = r.skippedBy as Record<string, number> | undefined;
    if (by) {
      out.push(
        `${r.engine}: skipped ${cell(by.frequencyCap)} at the frequency cap, ${cell(by.unsubscribed)} unsubscribed, ${cell(by.optedOut)} opted out; ` +
          `batch ${cell(r.batchSize)}, concurrency ${cell(r.concurrency)}, ${cell(r.ticks)} tick(s)`,
      );
    }
  }
  for (const r of rows) if (r.error) out.push(`messaging on ${r.engine} FAILED: ${r.error}`);
  return out.join('\n');
}
