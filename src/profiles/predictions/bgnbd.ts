/**
 * The BG/NBD model (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way"): while
 * alive a customer buys at Poisson rate λ (λ ~ Gamma(r, α) across customers); after each repeat
 * purchase they drop out with probability p (p ~ Beta(a, b)). A customer is summarised by
 * x = repeat purchases, tx = time of the last purchase and T = time of observation, both
 * measured from the first purchase. Pure math: the time unit is whatever the summaries use
 * (weeks for the paper's CDNOW data, days in Shopflow's tables) and α carries that unit.
 */
import gammaln from '@stdlib/math-base-special-gammaln';
import { hyp2f1Tail, logHyp2f1Positive } from './hypergeometric.ts';
import { nelderMead } from './nelder-mead.ts';

export interface BgNbdParams {
  r: number;
  alpha: number;
  a: number;
  b: number;
}

export interface CustomerSummary {
  /** Repeat purchases (purchases after the first). */
  x: number;
  /** Time from the first to the last purchase (0 when x = 0). */
  tx: number;
  /** Time from the first purchase to the end of observation (now). */
  T: number;
  /** How many customers share this exact (x, tx, T); 1 when absent. */
  count?: number;
}

export interface BgNbdFit extends BgNbdParams {
  logLikelihood: number;
  customers: number;
  converged: boolean;
}

/** ln(e^p + e^q) without overflow. */
function logAddExp(p: number, q: number): number {
  const hi = Math.max(p, q);
  return hi === Number.NEGATIVE_INFINITY ? hi : hi + Math.log1p(Math.exp(Math.min(p, q) - hi));
}

/** One customer's log-likelihood (paper eq. 6, on the log scale). */
function customerLogLikelihood({ r, alpha, a, b }: BgNbdParams, { x, tx, T }: CustomerSummary): number {
  const a1 = gammaln(r + x) - gammaln(r) + r * Math.log(alpha);
  const a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x);
  const a3 = -(r + x) * Math.log(alpha + T);
  const a4 = x > 0 ? Math.log(a) - Math.log(b + x - 1) - (r + x) * Math.log(alpha + tx) : Number.NEGATIVE_INFINITY;
  return a1 + a2 + logAddExp(a3, a4);
}

/** Total log-likelihood of the customers under `params` (weighted by `count`). */
export function logLikelihood(params: BgNbdParams, customers: readonly CustomerSummary[]): number {
  let sum = 0;
  for (const c of customers) sum += (c.count ?? 1) * customerLogLikelihood(params, c);
  return sum;
}

/** Distinct values of `values` and, per entry, the index of its value: logs are then taken once per value. */
function indexed(values: readonly number[]) {
  const distinct = [...new Set(values)];
  const at = new Map(distinct.map((v, i) => [v, i]));
  return { distinct: Float64Array.from(distinct), index: Int32Array.from(values, (v) => at.get(v)!) };
}

/** Identical (x, tx, T) rows merged; x, tx and T each take few distinct values (whole days). */
function aggregate(customers: readonly CustomerSummary[]) {
  const rows = new Map<string, { x: number; tx: number; T: number; w: number }>();
  for (const c of customers) {
    const key = `${c.x},${c.tx},${c.T}`;
    const row = rows.get(key);
    if (row) row.w += c.count ?? 1;
    else rows.set(key, { x: c.x, tx: c.tx, T: c.T, w: c.count ?? 1 });
  }
  const list = [...rows.values()];
  const w = Float64Array.from(list, (r) => r.w);
  return {
    x: indexed(list.map((r) => r.x)),
    tx: indexed(list.map((r) => r.tx)),
    T: indexed(list.map((r) => r.T)),
    w,
    total: w.reduce((s, v) => s + v, 0),
    meanT: list.reduce((s, r) => s + r.T * r.w, 0),
  };
}

/** The same sum as `logLikelihood`, arranged for speed: a fit evaluates it ~1,000 times. */
function fastLogLikelihood(p: BgNbdParams, d: ReturnType<typeof aggregate>): number {
  const { r, alpha, a, b } = p;
  const common = gammaln(a + b) - gammaln(b) - gammaln(r) + r * Math.log(alpha);
  const xs = d.x.distinct;
  const perX = xs.map((x) => common + gammaln(r + x) + gammaln(b + x) - gammaln(a + b + x));
  const dropOut = xs.map((x) => (x > 0 ? Math.log(a) - Math.log(b + x - 1) : Number.NEGATIVE_INFINITY));
  const logT = d.T.distinct.map((T) => Math.log(alpha + T));
  const logTx = d.tx.distinct.map((tx) => Math.log(alpha + tx));
  const [w, xi, ti, txi] = [d.w, d.x.index, d.T.index, d.tx.index];
  let sum = 0;
  for (let i = 0; i < w.length; i++) {
    const k = xi[i]!;
    const rx = r + xs[k]!;
    const a3 = -rx * logT[ti[i]!]!;
    const a4 = dropOut[k]! - rx * logTx[txi[i]!]!;
    // ln(e^a3 + e^a4), inlined: this loop is the whole cost of a fit.
    const both = a3 > a4 ? a3 + Math.log1p(Math.exp(a4 - a3)) : a4 + Math.log1p(Math.exp(a3 - a4));
    sum += w[i]! * (perX[k]! + both);
  }
  return sum;
}

/** `logLikelihood` computed the way the fit does (aggregated); equal up to rounding, much faster. */
export function logLikelihoodAggregated(params: BgNbdParams, customers: readonly CustomerSummary[]): number {
  return fastLogLikelihood(params, aggregate(customers));
}

/**
 * A systematic sample of about `max` customers (every k-th in (x, tx, T) order, so each stratum
 * keeps its share): the parameters of 50,000 customers are already far tighter than the model's
 * own misspecification, and a fit's cost grows with the distinct (x, tx, T) rows.
 */
export function sampleCustomers(customers: readonly CustomerSummary[], max: number): CustomerSummary[] {
  const total = customers.reduce((n, c) => n + (c.count ?? 1), 0);
  if (total <= max) return [...customers];
  const k = total / max;
  const sorted = [...customers].sort((p, q) => p.x - q.x || p.tx - q.tx || p.T - q.T);
  const out: CustomerSummary[] = [];
  let seen = 0;
  for (const c of sorted) {
    const n = c.count ?? 1;
    const taken = Math.floor((seen + n) / k) - Math.floor(seen / k);
    seen += n;
    if (taken > 0) out.push({ x: c.x, tx: c.tx, T: c.T, count: taken });
  }
  return out;
}

/** Each parameter is kept within [1e-5, 1e5] (in the summaries' time unit for α). */
const LOG_BOUND = Math.log(1e5);

/**
 * Maximum-likelihood fit. Optimises ln r, ln α, ln a, ln b (so every parameter stays positive)
 * with Nelder–Mead, restarted from its own optimum until a restart no longer improves — a simplex
 * can stall on the long, flat ridges this likelihood has.
 */
export function fitBgNbd(customers: readonly CustomerSummary[]): BgNbdFit {
  const d = aggregate(customers);
  if (d.total === 0) throw new RangeError('fitBgNbd needs at least one customer');
  const meanT = d.meanT / d.total;
  const toParams = (v: readonly number[]): BgNbdParams => ({
    r: Math.exp(v[0]!),
    alpha: Math.exp(v[1]!),
    a: Math.exp(v[2]!),
    b: Math.exp(v[3]!),
  });
  // Mean log-likelihood per customer keeps the tolerances independent of the sample size. The box
  // keeps a flat likelihood from walking off to infinity: when every customer shares one drop-out
  // probability the MLE has a, b → ∞, and a, b = 1e5 already describe that (the Beta's sd < 0.002).
  // Outside the box the objective is its value at the nearest point of the box plus the squared
  // distance — finite, so the simplex can still converge onto the boundary.
  const objective = (v: readonly number[]) => {
    let outside = 0;
    const inside = v.map((vi) => {
      const c = Math.min(Math.max(vi, -LOG_BOUND), LOG_BOUND);
      outside += (vi - c) ** 2;
      return c;
    });
    return -fastLogLikelihood(toParams(inside), d) / d.total + outside;
  };
  const start = [0, Math.min(Math.max(Math.log(meanT / 4), -LOG_BOUND), LOG_BOUND), 0, 0];
  let best = nelderMead(objective, start, { step: 1, maxIterations: 2000 });
  for (let restart = 0; restart < 4; restart++) {
    const next = nelderMead(objective, best.x, { step: 0.1, maxIterations: 2000 });
    const improved = next.fx < best.fx - 1e-12;
    if (next.fx <= best.fx) best = next;
    if (!improved) break;
  }
  const params = toParams(best.x);
  return { ...params, logLikelihood: -best.fx * d.total, customers: d.total, converged: best.converged };
}

/** P(still alive at T | x, tx, T) — paper eq. 13. Customers with no repeat purchase count as alive. */
export function pAlive({ r, alpha, a, b }: BgNbdParams, { x, tx, T }: CustomerSummary): number {
  if (x === 0) return 1;
  const logRatio = (r + x) * (Math.log(alpha + T) - Math.log(alpha + tx));
  return 1 / (1 + (a / (b + x - 1)) * Math.exp(logRatio));
}

/**
 * E[purchases in (T, T + t] | x, tx, T] — paper eq. 10:
 *   (a+b+x−1)/(a−1) · [1 − (1−z)^(r+x) · 2F1(r+x, b+x; a+b+x−1; z)] · P(alive),  z = t/(α+T+t).
 * That series needs ever more terms (and overflows) as x grows; Euler's transformation turns
 * (1−z)^(r+x)·2F1(…) into (1−z)^(a−1)·2F1(a+b−1−r, a−1; a+b+x−1; z), whose terms shrink at least
 * like z^k·k^−(r+x+1), but which in turn struggles when a is large (a homogeneous drop-out
 * probability drives a and b towards infinity). Each is used where its first term ratio is the
 * smaller; on the Euler side the (a−1) denominator is cancelled analytically (expm1 and
 * `hyp2f1Tail`), so a ≈ 1 is not a special case.
 */
export function expectedPurchases(params: BgNbdParams, t: number, c: CustomerSummary): number {
  if (!(t > 0)) return 0;
  const { r, alpha, a, b } = params;
  const { x, T } = c;
  const z = t / (alpha + T + t);
  const logOneMinusZ = Math.log(alpha + T) - Math.log(alpha + T + t);
  const eps = a - 1;
  let bracket: number; // (1 − (1−z)^(r+x)·2F1(…)) / (a − 1)
  // With no repeat purchase and a + b < 1, c = a+b−1 is negative: the positive-terms series does
  // not apply, while the Euler form stays a valid (signed) series.
  if (a + b + x - 1 <= 0 || Math.abs((a + b - 1 - r) * eps) <= (r + x) * (b + x)) {
    const tail = hyp2f1Tail(a + b - 1 - r, eps, a + b + x - 1, z);
    // expm1(ε·L)/ε → L as ε → 0.
    const em = Math.abs(eps) < 1e-12 ? logOneMinusZ : Math.expm1(eps * logOneMinusZ) / eps;
    bracket = -(em * (1 + eps * tail) + tail);
  } else {
    bracket = -Math.expm1((r + x) * logOneMinusZ + logHyp2f1Positive(r + x, b + x, a + b + x - 1, z)) / eps;
  }
  return Math.max(0, (a + b + x - 1) * bracket * pAlive(params, c));
}

/**
 * Shopflow's "expected next order": the smallest t ≤ horizon at which the customer's expected
 * number of further purchases, E[purchases in (T, T + t]], reaches 1 — the time by which the
 * model expects one more order. Null when it is not reached within the horizon (a customer who
 * has probably dropped out, or who buys more rarely than the horizon). Bisection to `tolerance`.
 */
export function expectedNextPurchaseIn(
  params: BgNbdParams,
  c: CustomerSummary,
  horizon: number,
  tolerance = horizon * 1e-4,
): number | null {
  if (!(horizon > 0) || expectedPurchases(params, horizon, c) < 1) return null;
  let lo = 0;
  let hi = horizon;
  while (hi - lo > tolerance) {
    const mid = (lo + hi) / 2;
    if (expectedPurchases(params, mid, c) >= 1) hi = mid;
    else lo = mid;
  }
  return hi;
}
