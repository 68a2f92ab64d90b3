/**
 * Nelder–Mead downhill simplex minimiser (Lagarias et al. 1998 coefficients), the same method the
 * reference BG/NBD implementations (lifetimes, BTYD) fit with.
 *
 * Why our own: the npm package everyone reaches for, `fmin` 0.0.4, ships a UMD bundle under
 * `"type": "module"` (nothing is exported when Node imports it as ESM) and reads its `minTolerance`
 * from `minErrorDelta`; `optimization-js` carries browserify/jsdoc/travis as runtime dependencies.
 * The method is ~70 lines and covered by test/bgnbd.test.ts (Rosenbrock plus the CDNOW fit).
 */

export interface NelderMeadOptions {
  /** Stop when the simplex's function values span less than this. */
  fTolerance?: number;
  /** …and its vertices are within this distance (per coordinate) of the best one. */
  xTolerance?: number;
  maxIterations?: number;
  /** Initial step per coordinate (the simplex's size). */
  step?: number;
  /**
   * Also stop when the best value has improved by less than `fTolerance` over this many
   * iterations: on a likelihood ridge that rises forever by tiny amounts the simplex would
   * otherwise crawl along it until `maxIterations`.
   */
  stallIterations?: number;
}

export interface NelderMeadResult {
  x: number[];
  fx: number;
  iterations: number;
  /** False only when `maxIterations` ran out. */
  converged: boolean;
}

interface Vertex {
  x: number[];
  fx: number;
}

export function nelderMead(f: (x: readonly number[]) => number, x0: readonly number[], options: NelderMeadOptions = {}): NelderMeadResult {
  const { fTolerance = 1e-10, xTolerance = 1e-6, maxIterations = 5000, step = 0.5, stallIterations = 30 * x0.length } = options;
  const n = x0.length;
  // A NaN (e.g. an overflow) must lose against every finite value, never win.
  const value = (x: number[]) => {
    const v = f(x);
    return Number.isNaN(v) ? Number.POSITIVE_INFINITY : v;
  };
  const vertex = (x: number[]): Vertex => ({ x, fx: value(x) });
  const simplex: Vertex[] = [vertex([...x0])];
  for (let i = 0; i < n; i++) {
    const x = [...x0];
    x[i] = x[i]! + step;
    simplex.push(vertex(x));
  }
  // Along the line from the centroid c through the worst vertex w: c + t (c − w).
  const along = (c: number[], w: number[], t: number) => c.map((ci, i) => ci + t * (ci - w[i]!));

  let iterations = 0;
  let converged = false;
  let bestSeen = Number.POSITIVE_INFINITY;
  let lastProgress = 0;
  for (; iterations < maxIterations; iterations++) {
    simplex.sort((p, q) => p.fx - q.fx);
    const best = simplex[0]!;
    if (best.fx < bestSeen - fTolerance) {
      bestSeen = best.fx;
      lastProgress = iterations;
    } else if (iterations - lastProgress >= stallIterations) {
      converged = true;
      break;
    }
    const worst = simplex[n]!;
    const spread = Math.max(...simplex.map((v) => Math.max(...v.x.map((xi, i) => Math.abs(xi - best.x[i]!)))));
    if (worst.fx - best.fx <= fTolerance && spread <= xTolerance) {
      converged = true;
      break;
    }
    const centroid = new Array<number>(n).fill(0);
    for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) centroid[i]! += simplex[j]!.x[i]! / n;

    const reflected = vertex(along(centroid, worst.x, 1));
    if (reflected.fx < best.fx) {
      const expanded = vertex(along(centroid, worst.x, 2));
      simplex[n] = expanded.fx < reflected.fx ? expanded : reflected;
      continue;
    }
    if (reflected.fx < simplex[n - 1]!.fx) {
      simplex[n] = reflected;
      continue;
    }
    // Contract outside (towards the reflected point) or inside (towards the worst).
    const outside = reflected.fx < worst.fx;
    const contracted = vertex(along(centroid, worst.x, outside ? 0.5 : -0.5));
    if (contracted.fx < (outside ? reflected.fx : worst.fx)) {
      simplex[n] = contracted;
      continue;
    }
    // Shrink everything towards the best vertex.
    for (let j = 1; j <= n; j++) simplex[j] = vertex(simplex[j]!.x.map((xi, i) => best.x[i]! + 0.5 * (xi - best.x[i]!)));
  }
  simplex.sort((p, q) => p.fx - q.fx);
  return { x: simplex[0]!.x, fx: simplex[0]!.fx, iterations, converged };
}
