import { DAY } from '../../core/clock.ts';
import { type JourneyDefinition, journeyStats, type LiftEstimate } from '../../journeys/index.ts';
import type { Store } from '../../store/index.ts';
import { outboxCounts } from './outbox.ts';
import type { ChannelResponses, Tally } from './tally.ts';
import type { CouponWallet } from './wallet.ts';

export interface NodeReport {
  id: string;
  type: string;
  /** Instances that left the node (all branches). */
  passed: number;
  branches: Record<string, number>;
  /** Still there when the simulation ended (waiting). */
  current: number;
}

export interface JourneyReport {
  journeyId: number;
  name: string;
  file: string;
  entered: number;
  /** Reached the goal while in the journey (holdout included). */
  converted: number;
  /** Total of the goal events of converted instances. */
  revenue: number;
  active: number;
  completed: number;
  exited: number;
  test: { entered: number; converted: number; revenue: number; conversionRate: number | null };
  holdout: { percent: number; entered: number; converted: number; revenue: number; conversionRate: number | null; messages: number } | null;
  lift: LiftEstimate | null;
  /** Outbox rows by action (message, coupon, recommend, webhook). */
  outbox: Record<string, number>;
  /** Messages and recommendations per channel, and what the simulated people did with them. */
  channels: Record<string, ChannelResponses>;
  coupons: { issued: number; faceValue: number; usedAfterMessage: number; usedOnOwnOrders: number; discountGiven: number };
  /** Orders the messages caused (the simulator knows): the true incremental effect, to compare with the lift estimate. */
  messageDrivenOrders: { orders: number; revenue: number };
  /** Per simulated day from the start: entries, and conversions on the day they happened; test group and holdout apart. */
  daily: DailyCounts;
  nodes: NodeReport[];
}

export interface DailyCounts {
  entered: number[];
  converted: number[];
  holdoutEntered: number[];
  holdoutConverted: number[];
}

export interface SimulationReport {
  settings: {
    journeys: string[];
    users: number;
    days: number;
    historyDays: number;
    seed: number;
    step: string;
    start: string;
    end: string;
    engine: string;
  };
  shop: { people: number; historyEvents: number; organicEvents: number; responseEvents: number; pendingResponses: number };
  journeys: JourneyReport[];
  /** Background jobs that failed during the run (they are retried, as in `serve`). */
  warnings: string[];
  steps: number;
  /** Wall time, and where it went (setup = shop generation, history load, traits, publishing). */
  seconds: number;
  timing: Record<string, number>;
}

const rate = (n: number, of: number) => (of > 0 ? n / of : null);
const round2 = (x: number) => Math.round(x * 100) / 100;

/** One journey's report: the engine's own counts (journeyStats) plus what the simulation saw. */
export async function journeyReport(
  store: Store,
  workspaceId: number,
  j: { journeyId: number; name: string; file: string; definition: JourneyDefinition },
  tally: Tally,
  wallet: CouponWallet,
  period: { start: number; days: number },
): Promise<JourneyReport> {
  const s = await journeyStats(store, workspaceId, j.journeyId);
  const t = tally.of(j.journeyId);
  const test = {
    entered: s.entered - s.holdout.entered,
    converted: s.converted - s.holdout.converted,
    revenue: s.revenue - s.holdout.revenue,
  };
  const percent = j.definition.settings.holdoutPercent;
  const holdoutMessages = await store.query<{ n: number }>(
    `SELECT count(*) AS n FROM outbox o JOIN journey_instances i ON i.workspace_id = o.workspace_id AND i.instance_id = o.instance_id
     WHERE o.workspace_id = $1 AND o.journey_id = $2 AND i.holdout`,
    [workspaceId, j.journeyId],
  );
  const coupons = wallet.all().filter((c) => c.journeyId === j.journeyId);
  const channels = Object.fromEntries(
    Object.entries(t.channels)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([ch, c]) => [ch, { ...c, revenue: round2(c.revenue) }]),
  );
  const messageDriven = Object.values(t.channels).reduce((a, c) => ({ orders: a.orders + c.orders, revenue: a.revenue + c.revenue }), {
    orders: 0,
    revenue: 0,
  });
  const outbox = Object.fromEntries(
    (await outboxCounts(store, workspaceId))
      .filter((r) => r.journeyId === j.journeyId)
      .reduce((m, r) => m.set(r.action, (m.get(r.action) ?? 0) + r.n), new Map<string, number>()),
  );
  return {
    journeyId: j.journeyId,
    name: j.name,
    file: j.file,
    entered: s.entered,
    converted: s.converted,
    revenue: round2(s.revenue),
    active: s.active,
    completed: s.completed,
    exited: s.exited,
    test: { ...test, revenue: round2(test.revenue), conversionRate: rate(test.converted, test.entered) },
    holdout:
      percent > 0 || s.holdout.entered > 0
        ? {
            percent,
            entered: s.holdout.entered,
            converted: s.holdout.converted,
            revenue: round2(s.holdout.revenue),
            conversionRate: rate(s.holdout.converted, s.holdout.entered),
            messages: Number(holdoutMessages[0]?.n ?? 0),
          }
        : null,
    lift: s.lift,
    outbox,
    channels,
    coupons: {
      issued: t.coupons.issued,
      faceValue: round2(t.coupons.value),
      usedAfterMessage: coupons.filter((c) => c.usedBy === 'response').length,
      usedOnOwnOrders: coupons.filter((c) => c.usedBy === 'organic').length,
      discountGiven: round2(coupons.reduce((sum, c) => sum + c.discount, 0)),
    },
    messageDrivenOrders: { orders: messageDriven.orders, revenue: round2(messageDriven.revenue) },
    daily: await dailyCounts(store, workspaceId, j.journeyId, period),
    nodes: nodesOf(j.definition, s.nodes),
  };
}

/** Nodes in canvas order, with the engine's per-node counts; branches in the order of the node's edges (stable output). */
function nodesOf(def: JourneyDefinition, counts: Awaited<ReturnType<typeof journeyStats>>['nodes']): NodeReport[] {
  return def.nodes.map((n) => {
    const c = counts[n.id] ?? { current: 0, passed: 0, branches: {} };
    const edgeOrder = def.edges.filter((e) => e.from === n.id).map((e) => e.branch);
    const rank = (b: string) => (edgeOrder.includes(b) ? edgeOrder.indexOf(b) : edgeOrder.length);
    const branches = Object.fromEntries(Object.entries(c.branches).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b)));
    return { id: n.id, type: n.type, passed: c.passed, branches, current: c.current };
  });
}

/** Entries by the day they entered, conversions by the day they converted (days counted from `start`). */
async function dailyCounts(
  store: Store,
  workspaceId: number,
  journeyId: number,
  period: { start: number; days: number },
): Promise<DailyCounts> {
  const rows = await store.query<{ kind: string; holdout: boolean; day: number; n: number }>(
    `SELECT 'entered' AS kind, holdout, CAST(floor((entered_at - $3) / ${DAY}.0) AS INTEGER) AS day, count(*) AS n
     FROM journey_instances WHERE workspace_id = $1 AND journey_id = $2 GROUP BY holdout, day
     UNION ALL
     SELECT 'converted' AS kind, holdout, CAST(floor((exited_at - $3) / ${DAY}.0) AS INTEGER) AS day, count(*) AS n
     FROM journey_instances WHERE workspace_id = $1 AND journey_id = $2 AND status = 'converted' GROUP BY holdout, day`,
    [workspaceId, journeyId, period.start],
  );
  const zeros = () => Array.from({ length: period.days }, () => 0);
  const daily: DailyCounts = { entered: zeros(), converted: zeros(), holdoutEntered: zeros(), holdoutConverted: zeros() };
  for (const r of rows) {
    const series = r.holdout
      ? r.kind === 'entered'
        ? daily.holdoutEntered
        : daily.holdoutConverted
      : r.kind === 'entered'
        ? daily.entered
        : daily.converted;
    const day = Number(r.day);
    if (day >= 0 && day < period.days) series[day] = (series[day] ?? 0) + Number(r.n);
  }
  return daily;
}
