import { durationMs, type Instant, type Window } from './definition.ts';

export { durationMs };

export function instantMs(i: Instant, now: number): number {
  return typeof i === 'string' ? Date.parse(i) : now - durationMs(i.ago);
}

/** A window as [start, end) in epoch ms; an open side is null. "Last 30 days" ends at now (inclusive). */
export function windowRange(w: Window | undefined, now: number): { start: number | null; end: number | null; endInclusive: boolean } {
  if (!w) return { start: null, end: null, endInclusive: false };
  if ('last' in w) return { start: now - durationMs(w.last), end: now, endInclusive: true };
  if ('from' in w) return { start: now - durationMs(w.from), end: now - durationMs(w.to), endInclusive: true };
  return {
    start: w.after === undefined ? null : Date.parse(w.after),
    end: w.before === undefined ? null : Date.parse(w.before),
    endInclusive: false,
  };
}

/** Whether a definition's answer can change with time alone (no new event): then it needs time-driven refreshes. */
export function dependsOnTime(node: unknown): boolean {
  if (node === null || typeof node !== 'object') return false;
  if (Array.isArray(node)) return node.some(dependsOnTime);
  const n = node as Record<string, unknown>;
  if ('last' in n || 'from' in n || 'ago' in n) return true;
  if (n.type === 'sequence' || n.type === 'computed') return true;
  return Object.values(n).some(dependsOnTime);
}
