/**
 * What a workspace's configuration reads would repeat every batch of a drain — messaging
 * settings, channel providers, templates, partials — read at most once per `maxAgeMs` of real time.
 * On DuckDB each of those statements costs a few milliseconds, a fifth of a 1,000-message batch's
 * statements. One cache lives for one drain, so a change made before a tick is always seen by it,
 * and a change made during a long drain within `maxAgeMs`.
 */
export class ConfigCache {
  private readonly entries = new Map<string, { at: number; value: Promise<unknown> }>();

  constructor(private readonly maxAgeMs = 1_000) {}

  get<T>(key: string, load: () => Promise<T>): Promise<T> {
    const now = performance.now();
    const hit = this.entries.get(key);
    if (hit && now - hit.at < this.maxAgeMs) return hit.value as Promise<T>;
    const value = load();
    this.entries.set(key, { at: now, value });
    // A failed read is not kept: the next batch tries again.
    value.catch(() => this.entries.delete(key));
    return value;
  }
}
