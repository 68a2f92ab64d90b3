import type { Store } from '../../store/index.ts';
import { parseSimUserId } from '../member.ts';

/**
 * Finds the simulated member behind a stored person (user_key), by their `sim-<seed>-<index>`
 * user id. People known only by an anonymous id (browsing before sign-up) have no contact
 * details yet: they are unreachable, and asked again later (they may sign up).
 */
export class PersonIndex {
  private readonly known = new Map<number, number>();

  constructor(
    private readonly store: Store,
    private readonly workspaceId: number,
    private readonly seed: number,
  ) {}

  /** Member index per user key (absent: unreachable). */
  async resolve(userKeys: readonly number[]): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    const missing: number[] = [];
    for (const k of new Set(userKeys)) {
      const i = this.known.get(k);
      if (i === undefined) missing.push(k);
      else out.set(k, i);
    }
    if (missing.length > 0) {
      const rows = await this.store.query<{ user_key: number; value: string }>(
        `SELECT user_key, value FROM identities WHERE workspace_id = $1 AND type = 'user_id' AND user_key IN (SELECT unnest($2::BIGINT[]))`,
        [this.workspaceId, missing],
      );
      for (const r of rows) {
        const id = parseSimUserId(r.value);
        if (!id || id.seed !== this.seed) continue;
        this.known.set(Number(r.user_key), id.index);
        out.set(Number(r.user_key), id.index);
      }
    }
    return out;
  }
}
