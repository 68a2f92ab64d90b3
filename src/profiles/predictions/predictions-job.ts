/**
 * Per-person BG/NBD predictions of a workspace, set-based: SQL summarises every person's paid
 * orders into a temporary table, the model is fitted (or the stored fit reused) and evaluated once
 * per distinct (x, tx, first purchase day), and one INSERT … SELECT joins those results back onto
 * the people. Nothing runs a query per person.
 */
import { DAY } from '../../core/clock.ts';
import type { Session, SqlExecutor, Store } from '../../store/index.ts';
import { arrayCast, columnTypes } from '../../store/index.ts';
import {
  type BgNbdParams,
  type CustomerSummary,
  expectedNextPurchaseIn,
  expectedPurchases,
  fitBgNbd,
  logLikelihoodAggregated,
  pAlive,
  sampleCustomers,
} from './bgnbd.ts';
import { nowDays, type SummaryRow, summaryParams, summarySelect } from './customer-summary.ts';
import { loadModel, type StoredModel, saveModel } from './model-store.ts';

export interface RefreshPredictionsOptions {
  /** Recompute only these people, with the stored model (incremental refresh). */
  userKeys?: readonly number[];
  /** Reuse the stored model instead of refitting. Implied by `userKeys`. */
  reuseModel?: boolean;
  /** How far ahead `expected_next_order_at` may lie, in days (default 365). */
  horizonDays?: number;
  /** Fewest customers to fit a model on (default 50); fewer leave the workspace without predictions. */
  minCustomers?: number;
  /** Fit on a systematic sample of at most this many customers (default 50,000); everyone is scored. */
  maxFitCustomers?: number;
}

export interface RefreshPredictionsResult {
  status: 'ok' | 'insufficient_data';
  model: StoredModel | null;
  /** Whether the model was fitted by this call (false: the stored one was reused). */
  refitted: boolean;
  /** People whose predictions were written. */
  people: number;
}

/** Fewest people with a repeat purchase a fit needs: without repeats the drop-out part is unidentified. */
const MIN_REPEAT_CUSTOMERS = 5;

interface Combo extends CustomerSummary {
  txDays: number;
  firstDay: number;
  count: number;
}

const tempTable = 'prediction_summary';

export async function refreshPredictions(
  store: Store,
  workspaceId: number,
  now: number,
  options: RefreshPredictionsOptions = {},
): Promise<RefreshPredictionsResult> {
  const { userKeys, horizonDays = 365, minCustomers = 50, maxFitCustomers = 50_000 } = options;
  const stored = userKeys || options.reuseModel ? await loadModel(store, workspaceId) : null;
  // Without a stored model an incremental refresh cannot be done: fit on everyone instead.
  if (userKeys && !stored) return refreshPredictions(store, workspaceId, now, { horizonDays, minCustomers, maxFitCustomers });

  return store.session(async (s) => {
    await s.query(`DROP TABLE IF EXISTS ${tempTable}`);
    await s.query(`CREATE TEMPORARY TABLE ${tempTable} (user_key BIGINT, x BIGINT, tx_days BIGINT, first_day BIGINT)`);
    try {
      await s.query(`INSERT INTO ${tempTable} ${summarySelect(store.dialect, !!userKeys)}`, summaryParams(workspaceId, now, userKeys));
      const combos = await loadCombos(s, now);
      const people = combos.reduce((n, c) => n + c.count, 0);
      let model = stored;
      if (!model) {
        const repeaters = combos.reduce((n, c) => n + (c.x > 0 ? c.count : 0), 0);
        if (people < minCustomers || repeaters < MIN_REPEAT_CUSTOMERS) {
          await s.query('DELETE FROM customer_predictions WHERE workspace_id = $1', [workspaceId]);
          return { status: 'insufficient_data' as const, model: null, refitted: false, people: 0 };
        }
        const fit = fitBgNbd(sampleCustomers(combos, maxFitCustomers));
        const params = { r: fit.r, alpha: fit.alpha, a: fit.a, b: fit.b };
        // The stored log-likelihood is that of everyone, whatever the fit was sampled from.
        model = { params, customers: people, logLikelihood: logLikelihoodAggregated(params, combos), fittedAt: now };
      }
      const fitted = model;
      await s.transaction(async (tx) => {
        if (userKeys) {
          const keys = `(SELECT unnest($2::${arrayCast(store.dialect, 'bigint')}))`;
          await tx.query(`DELETE FROM customer_predictions WHERE workspace_id = $1 AND user_key IN ${keys}`, [workspaceId, userKeys]);
        } else {
          await tx.query('DELETE FROM customer_predictions WHERE workspace_id = $1', [workspaceId]);
        }
        if (!stored) await saveModel(tx, workspaceId, fitted);
        await insertPredictions(tx, store.dialect, workspaceId, now, combos, fitted.params, horizonDays);
      });
      return { status: 'ok' as const, model: fitted, refitted: !stored, people };
    } finally {
      await s.query(`DROP TABLE IF EXISTS ${tempTable}`);
    }
  });
}

async function loadCombos(s: Session, now: number): Promise<Combo[]> {
  const rows = await s.query<{ x: number; tx_days: number; first_day: number; n: number }>(
    `SELECT x, tx_days, first_day, count(*) AS n FROM ${tempTable} GROUP BY x, tx_days, first_day`,
  );
  const today = nowDays(now);
  return rows.map((r) => {
    const [x, txDays, firstDay] = [Number(r.x), Number(r.tx_days), Number(r.first_day)];
    return { x, tx: txDays, T: today - firstDay, txDays, firstDay, count: Number(r.n) };
  });
}

/** Evaluates the model once per combo and joins the results onto the summarised people. */
async function insertPredictions(
  tx: SqlExecutor,
  dialect: Store['dialect'],
  workspaceId: number,
  now: number,
  combos: readonly Combo[],
  params: BgNbdParams,
  horizonDays: number,
): Promise<void> {
  if (combos.length === 0) return;
  const alive: number[] = [];
  const in30: number[] = [];
  const in90: number[] = [];
  const nextAt: number[] = [];
  for (const c of combos) {
    alive.push(pAlive(params, c));
    in30.push(expectedPurchases(params, 30, c));
    in90.push(expectedPurchases(params, 90, c));
    // Tolerance of ~an hour: the answer is a date, not an instant.
    const next = expectedNextPurchaseIn(params, c, horizonDays, 1 / 24);
    nextAt.push(next === null ? -1 : now + Math.round(next * DAY));
  }
  const big = arrayCast(dialect, 'bigint');
  const dbl = arrayCast(dialect, 'double');
  await tx.query(
    `INSERT INTO customer_predictions (workspace_id, user_key, repeat_purchases, recency_days, age_days, p_alive,
       expected_purchases_30d, expected_purchases_90d, expected_next_order_at, computed_at)
     SELECT $1, s.user_key, s.x, s.tx_days, CAST($2 AS ${columnTypes[dialect].double}) - s.first_day, c.p_alive, c.e30, c.e90,
       CASE WHEN c.next_at < 0 THEN NULL ELSE c.next_at END, $3
     FROM ${tempTable} s
     JOIN (SELECT unnest($4::${big}) AS x, unnest($5::${big}) AS tx_days, unnest($6::${big}) AS first_day,
             unnest($7::${dbl}) AS p_alive, unnest($8::${dbl}) AS e30, unnest($9::${dbl}) AS e90, unnest($10::${big}) AS next_at) c
       ON c.x = s.x AND c.tx_days = s.tx_days AND c.first_day = s.first_day`,
    [
      workspaceId,
      nowDays(now),
      now,
      combos.map((c) => c.x),
      combos.map((c) => c.txDays),
      combos.map((c) => c.firstDay),
      alive,
      in30,
      in90,
      nextAt,
    ],
  );
}

export interface PersonPrediction {
  userKey: number;
  /** Repeat purchase days (x). */
  repeatPurchases: number;
  /** Days from the first to the last purchase day (tx). */
  recencyDays: number;
  /** Days from the first purchase day to `now` (T). */
  ageDays: number;
  pAlive: number;
  /** The horizon asked for, in days from `now`. */
  days: number;
  /** Expected paid orders (purchase days) in (now, now + days]. */
  expectedPurchases: number;
}

/**
 * On-demand prediction for one person over any horizon, with the stored model. Null when the
 * workspace has no fitted model yet or the person has no paid order.
 */
export async function predictFor(
  store: Store,
  workspaceId: number,
  userKey: number,
  days: number,
  now: number,
): Promise<PersonPrediction | null> {
  const model = await loadModel(store, workspaceId);
  if (!model) return null;
  const [row] = await store.query<SummaryRow>(summarySelect(store.dialect, true), summaryParams(workspaceId, now, [userKey]));
  if (!row) return null;
  const c = { x: Number(row.x), tx: Number(row.tx_days), T: nowDays(now) - Number(row.first_day) };
  return {
    userKey,
    repeatPurchases: c.x,
    recencyDays: c.tx,
    ageDays: c.T,
    pAlive: pAlive(model.params, c),
    days,
    expectedPurchases: expectedPurchases(model.params, days, c),
  };
}
