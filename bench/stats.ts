/** Small measuring helpers shared by the benchmarks. */

/** The q-quantile (0..1) of an ascending array, nearest-rank; null when empty. */
export function quantile(sorted: ArrayLike<number>, q: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] ?? null;
}

/** Rounds for display and JSON: 3 significant decimals below 10, fewer above. */
export function round(n: number | null, digits = 2): number | null {
  if (n === null || !Number.isFinite(n)) return null;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/**
 * Samples this process's resident memory and CPU time while a phase runs, so the figures
 * describe the Shopflow process (the load generator runs in a child process of its own).
 */
export class ProcessSampler {
  private peakRss = process.memoryUsage.rss();
  private readonly timer: NodeJS.Timeout;
  private readonly cpuStart = process.cpuUsage();
  private readonly wallStart = performance.now();

  constructor(intervalMs = 100) {
    this.timer = setInterval(() => {
      this.peakRss = Math.max(this.peakRss, process.memoryUsage.rss());
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops sampling; peak RSS in MB and CPU use in % of one core over the phase. */
  stop(): { peakRssMb: number; cpuPct: number } {
    clearInterval(this.timer);
    this.peakRss = Math.max(this.peakRss, process.memoryUsage.rss());
    const cpu = process.cpuUsage(this.cpuStart);
    const wallUs = (performance.now() - this.wallStart) * 1000;
    return { peakRssMb: Math.round(this.peakRss / 2 ** 20), cpuPct: Math.round(((cpu.user + cpu.system) / wallUs) * 100) };
  }
}

/** Seconds since `start` (a performance.now() value). */
export const secondsSince = (start: number) => (performance.now() - start) / 1000;
