/** Conversions of one arm of a test. */
export interface Arm {
  people: number;
  converted: number;
  revenue: number;
}

export interface LiftEstimate {
  method: string;
  testRate: number;
  holdoutRate: number;
  /** testRate − holdoutRate, in absolute terms (0.012 = 1.2 percentage points). */
  difference: number;
  /** 95 % confidence interval of the difference (normal approximation). */
  differenceCi95: [number, number];
  /** difference / holdoutRate (point estimate only; null when the holdout never converted). */
  relativeLift: number | null;
  /** Whether the interval excludes 0. */
  significant: boolean;
  /** difference × test people: conversions the journey added, estimated. */
  incrementalConversions: number;
  /** (revenue per test person − revenue per holdout person) × test people. */
  incrementalRevenue: number;
}

const Z95 = 1.959964;

/**
 * Test vs holdout conversion: the difference of two proportions with a Wald 95 % interval.
 * Simple and honest for the sizes a simulation runs (it is too optimistic below ~10
 * conversions per arm; the report says how many there were). The relative lift is only a
 * point estimate. Null when an arm is empty.
 */
export function liftEstimate(test: Arm, holdout: Arm): LiftEstimate | null {
  if (test.people === 0 || holdout.people === 0) return null;
  const pt = test.converted / test.people;
  const pc = holdout.converted / holdout.people;
  const se = Math.sqrt((pt * (1 - pt)) / test.people + (pc * (1 - pc)) / holdout.people);
  const difference = pt - pc;
  const ci: [number, number] = [difference - Z95 * se, difference + Z95 * se];
  return {
    method: 'difference of proportions, Wald 95% CI',
    testRate: pt,
    holdoutRate: pc,
    difference,
    differenceCi95: ci,
    relativeLift: pc > 0 ? difference / pc : null,
    significant: ci[0] > 0 || ci[1] < 0,
    incrementalConversions: difference * test.people,
    // Rounded to cents: the engines sum revenue in different orders (floating point).
    incrementalRevenue: Math.round((test.revenue / test.people - holdout.revenue / holdout.people) * test.people * 100) / 100,
  };
}
