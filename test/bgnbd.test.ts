import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  type BgNbdParams,
  type CustomerSummary,
  expectedNextPurchaseIn,
  expectedPurchases,
  fitBgNbd,
  logLikelihood,
  logLikelihoodAggregated,
  pAlive,
  sampleCustomers,
} from '../src/profiles/predictions/bgnbd.ts';
import { hyp2f1Tail } from '../src/profiles/predictions/hypergeometric.ts';
import { nelderMead } from '../src/profiles/predictions/nelder-mead.ts';
import { Rng } from '../src/sim/rng.ts';

// Fresh clones may lack shared/: the published-data checks skip then, the simulated ones still run.
const cdnowDir = join(dirname(fileURLToPath(import.meta.url)), '../../shared/datasets/cdnow');
const cdnowSummary = join(cdnowDir, 'cdnow_customers_summary.csv');
const hasCdnow = existsSync(cdnowSummary);

/** Fader, Hardie & Lee (2005), table 1: the MLE on the 2,357-customer CDNOW sample, in weeks. */
const published: BgNbdParams = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };

/**
 * Simulates the BG/NBD story itself: λ ~ Gamma(r, α), p ~ Beta(a, b); purchases at rate λ while
 * alive, a coin with probability p after each repeat purchase. Returns the calibration summary,
 * whether the customer is still alive at T and their purchases in (T, T + holdout].
 */
function simulate(p: BgNbdParams, n: number, seed: number, holdout = 0) {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const lambda = rng.gamma(p.r) / p.alpha;
    const g1 = rng.gamma(p.a);
    const drop = g1 / (g1 + rng.gamma(p.b));
    const T = 20 + 40 * rng.next(); // customers joined at different times
    let t = 0;
    let x = 0;
    let tx = 0;
    let future = 0;
    let alive = true;
    let aliveAtT: boolean | null = null;
    for (;;) {
      t += rng.exp(1 / lambda);
      if (t > T && aliveAtT === null) aliveAtT = alive;
      if (!alive || t > T + holdout) break;
      if (t <= T) {
        x++;
        tx = t;
      } else future++;
      if (rng.chance(drop)) alive = false;
    }
    // Left the loop before T: they died after their last purchase, so they are dead at T.
    return { summary: { x, tx, T } as CustomerSummary, aliveAtT: aliveAtT ?? false, future };
  });
}

/**
 * E[Y(t) | x, tx, T] by direct integration over the posterior — no 2F1 involved. λ integrates in
 * closed form (Gamma integrals); p numerically (midpoint rule, with substitutions where a or b < 1).
 */
function integratedExpectation(q: BgNbdParams, t: number, { x, tx, T }: CustomerSummary): number {
  const n = 40_000;
  let alive = 0;
  let dead = 0;
  let future = 0;
  for (let i = 0; i < n; i++) {
    // Midpoint rule on u in (0, 1); where the Beta density is singular, a substitution removes it:
    // p = (2u)^(1/a)/2 below 1/2 when a < 1, p = 1 − (2−2u)^(1/b)/2 above when b < 1.
    const u = (i + 0.5) / n;
    let p = u;
    let weight = p ** (q.a - 1) * (1 - p) ** (q.b - 1); // Beta density × dp, up to a constant
    if (u < 0.5 && q.a < 1) {
      p = (2 * u) ** (1 / q.a) / 2;
      weight = ((1 - p) ** (q.b - 1) * 2 ** (1 - q.a)) / q.a;
    } else if (u >= 0.5 && q.b < 1) {
      p = 1 - (2 - 2 * u) ** (1 / q.b) / 2;
      weight = (p ** (q.a - 1) * 2 ** (1 - q.b)) / q.b;
    }
    const staying = (1 - p) ** x * (q.alpha + T) ** -(q.r + x);
    alive += weight * staying;
    if (x > 0) dead += weight * p * (1 - p) ** (x - 1) * (q.alpha + tx) ** -(q.r + x);
    // Alive customers buy (1 − e^(−λpt))/p in expectation; integrate over λ's posterior.
    const gain = p < 1e-12 ? (t * (q.r + x)) / (q.alpha + T) : (1 - ((q.alpha + T) / (q.alpha + T + p * t)) ** (q.r + x)) / p;
    future += weight * staying * gain;
  }
  return future / (alive + dead);
}

describe('Nelder–Mead and 2F1', () => {
  it('minimises the Rosenbrock function', () => {
    const r = nelderMead((v) => 100 * (v[1]! - v[0]! ** 2) ** 2 + (1 - v[0]!) ** 2, [-1.2, 1]);
    expect(r.converged).toBe(true);
    expect(r.x[0]).toBeCloseTo(1, 5);
    expect(r.x[1]).toBeCloseTo(1, 5);
  });

  it('matches closed forms: 2F1(1,1;2;z) = −ln(1−z)/z and 2F1(a,b;b;z) = (1−z)^−a', () => {
    for (const z of [0.01, 0.5, 0.9, 0.999]) {
      expect(1 + hyp2f1Tail(1, 1, 2, z)).toBeCloseTo(-Math.log1p(-z) / z, 10);
      expect((1 + 0.7 * hyp2f1Tail(2.5, 0.7, 0.7, z)) * (1 - z) ** 2.5).toBeCloseTo(1, 10);
    }
  });
});

describe.skipIf(!hasCdnow)(`CDNOW sample (${hasCdnow ? 'found' : `skipped: ${cdnowDir} is absent`})`, () => {
  const customers = () =>
    readFileSync(cdnowSummary, 'utf8')
      .trim()
      .split(/\r?\n/)
      .slice(1)
      .map((line) => {
        const [, x, tx, T] = line.split(',').map(Number);
        return { x: x!, tx: tx!, T: T! };
      });

  it('reproduces the published parameters and log-likelihood', () => {
    const data = customers();
    expect(data).toHaveLength(2357);
    const fit = fitBgNbd(data);
    for (const k of ['r', 'alpha', 'a', 'b'] as const) expect(Math.abs(fit[k] / published[k] - 1), k).toBeLessThan(0.02);
    expect(fit.logLikelihood).toBeCloseTo(-9582.4, 0);
    expect(logLikelihood(fit, data)).toBeCloseTo(fit.logLikelihood, 6); // the fast path sums the same terms
    expect(logLikelihoodAggregated(fit, data)).toBeCloseTo(fit.logLikelihood, 9);
    expect(fit.customers).toBe(2357);
  });
});

describe('BG/NBD predictions', () => {
  const cases: CustomerSummary[] = [
    { x: 2, tx: 30.43, T: 38.86 },
    { x: 0, tx: 0, T: 38.86 },
    { x: 0, tx: 0, T: 0 },
    { x: 7, tx: 35, T: 39 },
    { x: 40, tx: 38, T: 39 },
    { x: 3, tx: 2, T: 38 },
  ];

  it('the paper’s example: 1.226 purchases expected in weeks 40–78 for x = 2, tx = 30.43, T = 38.86', () => {
    expect(expectedPurchases(published, 39, cases[0]!)).toBeCloseTo(1.226, 3);
  });

  it('agree with direct numeric integration of the posterior', () => {
    const nearOne = { ...published, a: 1 + 1e-9 }; // the (a − 1) denominator must not hurt
    for (const params of [published, nearOne, { r: 2, alpha: 30, a: 3, b: 5 }, { r: 1.5, alpha: 36, a: 60, b: 290 }]) {
      for (const c of cases) {
        for (const t of [1, 13, 39, 200]) {
          const want = integratedExpectation(params, t, c);
          expect(Math.abs(expectedPurchases(params, t, c) - want), JSON.stringify({ params, c, t })).toBeLessThan(1e-4 * Math.max(1, want));
        }
      }
    }
  });

  it('handles a + b < 1 (then c = a + b − 1 < 0 for people without a repeat purchase)', () => {
    // A refit of a simulated shop reached such parameters.
    const params = { r: 0.8, alpha: 10, a: 0.3, b: 0.4 };
    let previous = 0;
    for (const t of [1, 13, 39, 200]) {
      for (const c of cases) {
        const got = expectedPurchases(params, t, c);
        expect(Number.isFinite(got) && got >= 0).toBe(true);
        expect(Math.abs(got - integratedExpectation(params, t, c))).toBeLessThan(1e-4 * Math.max(1, got));
      }
      const growing = expectedPurchases(params, t, cases[1]!);
      expect(growing).toBeGreaterThan(previous);
      previous = growing;
    }
  });

  it('stays finite for very large x, T, a and b', () => {
    // A shop whose customers share one drop-out probability drives a and b towards infinity.
    const homogeneous = { r: 1.52, alpha: 36, a: 2.9e6, b: 1.4e7 };
    // Its limit: one p = a/(a+b) for everyone, only λ is uncertain (Gamma integrals in closed form).
    const [p, x, tx, T, t, rx] = [2.9 / 16.9, 5, 107, 140.25, 90, 1.52 + 5];
    const alive = 1 / (1 + (p / (1 - p)) * ((36 + T) / (36 + tx)) ** rx);
    const limit = (alive * (1 - ((36 + T) / (36 + T + p * t)) ** rx)) / p;
    expect(expectedPurchases(homogeneous, t, { x, tx, T })).toBeCloseTo(limit, 4);
    const heavy = { x: 5000, tx: 3600, T: 3650 };
    const big = expectedPurchases(published, 365, heavy);
    expect(Number.isFinite(big) && big > 0).toBe(true);
    expect(pAlive(published, { x: 5000, tx: 10, T: 3650 })).toBe(0);
  });

  it('the expected next purchase is where the expectation reaches 1, or null past the horizon', () => {
    const c = { x: 7, tx: 35, T: 39 };
    const t = expectedNextPurchaseIn(published, c, 52, 1e-6)!;
    expect(expectedPurchases(published, t, c)).toBeCloseTo(1, 4);
    expect(expectedNextPurchaseIn(published, { x: 1, tx: 1, T: 39 }, 52)).toBeNull();
  });

  it('on simulated customers, P(alive) and expected holdout purchases match what happened', () => {
    const truth = { r: 0.5, alpha: 8, a: 0.8, b: 2.5 };
    const sim = simulate(truth, 40_000, 7, 39);
    const predictedAlive = sim.reduce((s, c) => s + pAlive(truth, c.summary), 0);
    const actualAlive = sim.filter((c) => c.aliveAtT).length;
    expect(Math.abs(predictedAlive / actualAlive - 1)).toBeLessThan(0.02);
    const predicted = sim.reduce((s, c) => s + expectedPurchases(truth, 39, c.summary), 0);
    const actual = sim.reduce((s, c) => s + c.future, 0);
    expect(Math.abs(predicted / actual - 1)).toBeLessThan(0.04);
  });
});

describe('fitting simulated data (always runs)', () => {
  it('recovers the parameters it was simulated from', () => {
    const truth = { r: 0.5, alpha: 8, a: 0.8, b: 2.5 };
    const data = simulate(truth, 20_000, 11).map((c) => c.summary);
    const fit = fitBgNbd(data);
    expect(fit.converged).toBe(true);
    // Likelihood-ratio test: the truth must not be rejected (χ²₄ 99.9 % quantile = 18.5)…
    expect(2 * (fit.logLikelihood - logLikelihood(truth, data))).toBeLessThan(18.5);
    // …and the estimates are close (sampling error with 20,000 customers is a few percent).
    for (const k of ['r', 'alpha', 'a', 'b'] as const) expect(Math.abs(fit[k] / truth[k] - 1), k).toBeLessThan(0.2);
    // A systematic sample of a quarter keeps the estimates close too (large workspaces fit on one).
    const sample = sampleCustomers(data, 5000);
    expect(sample.reduce((n, c) => n + (c.count ?? 1), 0)).toBe(5000);
    const sampled = fitBgNbd(sample);
    for (const k of ['r', 'alpha', 'a', 'b'] as const) expect(Math.abs(sampled[k] / truth[k] - 1), k).toBeLessThan(0.35);
  });
});
