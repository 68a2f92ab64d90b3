import type { SqlExecutor } from '../store/index.ts';
import { versionDefinition } from './journeys-repo.ts';

/** The names an event match (a trigger, goal or wait for an event) listens to. */
export const matchNames = (event: string | readonly string[]): readonly string[] => (typeof event === 'string' ? [event] : event);

/**
 * Per journey version, the event names that matter to its instances between steps: its goal
 * and its waits for events, over every version up to it (instances may be on any). An event of
 * no such name can neither convert nor wake anyone, so the tick need not look (and the fast path
 * need not ask for a tick). Versions never change once published: computed once each.
 */
export class WatchedEvents {
  private readonly cache = new Map<string, ReadonlySet<string>>();

  async of(db: SqlExecutor, workspaceId: number, journeyId: number, version: number): Promise<ReadonlySet<string>> {
    const key = `${workspaceId}/${journeyId}/${version}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const names = new Set<string>();
    for (let v = 1; v <= version; v++) {
      // A version that was never published has no row: nobody can be on it.
      const def = await versionDefinition(db, workspaceId, journeyId, v).catch(() => null);
      if (!def) continue;
      if (def.settings.goal) for (const n of matchNames(def.settings.goal.event)) names.add(n);
      for (const node of def.nodes) if (node.type === 'wait_for_event') for (const n of matchNames(node.event)) names.add(n);
    }
    this.cache.set(key, names);
    return names;
  }
}

export function intersects(a: Iterable<string>, b: ReadonlySet<string>): boolean {
  for (const x of a) if (b.has(x)) return true;
  return false;
}
