/**
 * The piece of the Gaussian hypergeometric function 2F1 that BG/NBD's conditional expectation
 * needs. No maintained npm package provides 2F1 (stdlib has none published; mathjs has none), so
 * this is a plain power series — kept safe by the caller, which applies Euler's transformation
 * first (see `expectedPurchases` in bgnbd.ts) so that the series always converges quickly.
 */

/**
 * Σ_{k≥1} (A)_k (B+1)_{k−1} z^k / ((C)_k k!), i.e. (2F1(A, B; C; z) − 1) / B, without dividing by
 * B — so it stays exact when B → 0 (BG/NBD's a → 1). Requires 0 ≤ z < 1 and C not a non-positive
 * integer; converges for every such z because the terms shrink at least like z^k.
 */
export function hyp2f1Tail(A: number, B: number, C: number, z: number): number {
  if (!(z >= 0 && z < 1)) throw new RangeError(`hyp2f1Tail needs 0 <= z < 1, got ${z}`);
  if (z === 0) return 0;
  let term = (A * z) / C;
  let sum = term;
  for (let k = 1; k < 100_000; k++) {
    const ratio = ((A + k) * (B + k) * z) / ((C + k) * (k + 1));
    term *= ratio;
    sum += term;
    // Once the ratio is below 1 the remaining terms form a shrinking series bounded by a
    // geometric one: stop when that bound is negligible.
    if (Math.abs(ratio) < 1 && Math.abs(term) <= 1e-16 * Math.abs(sum) * (1 - Math.abs(ratio))) return sum;
    if (term === 0) return sum;
  }
  return sum;
}

/**
 * ln 2F1(A, B; C; z) for A, B, C > 0 and 0 ≤ z < 1, every term positive. The running sum is
 * rescaled as it grows, so series whose terms climb past 1e308 before they fall stay finite.
 */
export function logHyp2f1Positive(A: number, B: number, C: number, z: number): number {
  if (!(A > 0 && B > 0 && C > 0 && z >= 0 && z < 1)) throw new RangeError('logHyp2f1Positive needs A, B, C > 0 and 0 <= z < 1');
  const SCALE = 1e250;
  let logScale = 0;
  let term = 1;
  let sum = 1;
  for (let k = 0; k < 100_000; k++) {
    const ratio = ((A + k) * (B + k) * z) / ((C + k) * (k + 1));
    term *= ratio;
    sum += term;
    if (sum > SCALE) {
      sum /= SCALE;
      term /= SCALE;
      logScale += Math.log(SCALE);
    }
    if ((ratio < 1 && term <= 1e-16 * sum * (1 - ratio)) || term === 0) break;
  }
  return Math.log(sum) + logScale;
}
