/** Small measuring helpers shared by the benchmarks. */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

/** The q-quantile (0..1) of an ascending array, nearest-rank; null when empty. */
export function quantile(sorted: ArrayLike<number>, q: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] ?? null;
}

/** Rounds to `digits` decimals for display and JSON; null stays null (and −0 becomes 0, as JSON would make it). */
export function round(n: number | null, digits = 2): number | null {
  if (n === null || !Number.isFinite(n)) return null;
  const f = 10 ** digits;
  return Math.round(n * f) / f + 0;
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
  private readonly eluStart = performance.eventLoopUtilization();
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });

  constructor(intervalMs = 100) {
    this.timer = setInterval(() => {
      this.peakRss = Math.max(this.peakRss, process.memoryUsage.rss());
    }, intervalMs);
    this.timer.unref();
    this.loopDelay.enable();
  }

  /**
   * Stops sampling. cpuPct: CPU of the whole process (JS thread + DuckDB's threads) in % of one
   * core; eventLoopUtilization: share of the time the JS thread was busy (1 = saturated);
   * loopDelayP99Ms: how late timers ran, i.e. how long the JS thread was blocked at a time.
   */
  stop(): { peakRssMb: number; cpuPct: number; eventLoopUtilization: number; loopDelayP99Ms: number } {
    clearInterval(this.timer);
    this.loopDelay.disable();
    this.peakRss = Math.max(this.peakRss, process.memoryUsage.rss());
    const cpu = process.cpuUsage(this.cpuStart);
    const wallUs = (performance.now() - this.wallStart) * 1000;
    return {
      peakRssMb: Math.round(this.peakRss / 2 ** 20),
      cpuPct: Math.round(((cpu.user + cpu.system) / wallUs) * 100),
      eventLoopUtilization: Math.round(performance.eventLoopUtilization(this.eluStart).utilization * 100) / 100,
      loopDelayP99Ms: Math.round(this.loopDelay.percentile(99) / 1e5) / 10,
    };
  }
}

/** Seconds since `start` (a performance.now() value). */
export const secondsSince = (start: number) => (performance.now() - start) / 1000;
