/**
 * Data and plain-SQL answers for the `slots` benchmark, generated inside the database (no row
 * crosses into JavaScript): N people u1..uN with a `user_id` each, and the membership of two
 * segments written straight into segment_members, as a refresh would leave it. Membership comes
 * from an integer hash of the person key (GenSql), so both engines get the same people.
 */
import type { Progress } from '../src/cli/progress.ts';
import { bucketOf, bucketSql, saltHash } from '../src/core/buckets.ts';
import { createStaticSegment, type Segment } from '../src/segments/index.ts';
import type { Store } from '../src/store/index.ts';
import { GenSql } from './segment-data.ts';

export interface SlotSegments {
  /** "Returning customers": ~30 % of people. */
  returning: number;
  /** "Women": ~55 % of people. */
  women: number;
}

export const HOLDOUT_PERCENT = 10;

/** The Double-11 home banner: returning customers first, an A/B split for women, a 10 % holdout. */
export function bannerSlot(seg: SlotSegments) {
  return {
    name: 'home_banner',
    placement: 'home_banner' as const,
    holdoutPercent: HOLDOUT_PERCENT,
    defaultContent: { title: 'Double 11 is coming', image: 'https://cdn.example/generic.jpg', link: '/sale' },
    variants: [
      { id: 'returning', segmentId: seg.returning, priority: 10, content: { title: 'Welcome back: 15 off', link: '/vip' } },
      { id: 'women-a', segmentId: seg.women, priority: 5, content: { title: 'Dresses', link: '/c/dresses' } },
      { id: 'women-b', segmentId: seg.women, priority: 5, content: { title: 'Shoes', link: '/c/shoes' } },
    ],
  };
}

const jsonType = (store: Store) => (store.dialect === 'duckdb' ? 'JSON' : 'JSONB');

/** People, identities and both segments' members; returns the segment ids. */
export async function generateSlotData(store: Store, ws: number, users: number, now: number, progress: Progress): Promise<SlotSegments> {
  const g = new GenSql(store.dialect, 7);
  const chunk = 1_000_000;
  progress.start('generate people', users);
  for (let lo = 0; lo < users; lo += chunk) {
    const hi = Math.min(users, lo + chunk);
    const from = g.series(lo, hi);
    await store.query(`INSERT INTO users (workspace_id, user_key, created_at, updated_at, merged_into, traits)
      SELECT ${ws}, i + 1, ${now}, ${now}, NULL, CAST('{}' AS ${jsonType(store)}) FROM ${from}`);
    await store.query(`INSERT INTO identities (workspace_id, type, value, user_key, created_at)
      SELECT ${ws}, 'user_id', 'u' || ${g.str('i + 1')}, i + 1, ${now} FROM ${from}`);
    progress.update(hi);
  }
  progress.stop();
  await store.query(`UPDATE key_ranges SET next_value = ${users + 1} WHERE name = 'user_key' AND next_value <= ${users}`);
  const segment = async (name: string, salt: number, percent: number): Promise<Segment> => {
    const s = await createStaticSegment(store, ws, { name, userKeys: [] }, now);
    progress.start(`segment ${name}`, users);
    for (let lo = 0; lo < users; lo += chunk) {
      const hi = Math.min(users, lo + chunk);
      await store.query(`INSERT INTO segment_members (workspace_id, segment_id, user_key, entered_at)
        SELECT ${ws}, ${s.segmentId}, i + 1, ${now} FROM ${g.series(lo, hi)} WHERE ${g.hash('i + 1', salt)} % 100 < ${percent}`);
      progress.update(hi);
    }
    progress.stop();
    await store.query(
      `UPDATE segments SET member_count = (SELECT count(*) FROM segment_members WHERE workspace_id = $1 AND segment_id = $2)
       WHERE workspace_id = $1 AND segment_id = $2`,
      [ws, s.segmentId],
    );
    return s;
  };
  const returning = await segment('returning', 21, 30);
  const women = await segment('women', 22, 55);
  return { returning: returning.segmentId, women: women.segmentId };
}

/** Before timing: DuckDB writes its WAL into the file; PostgreSQL gets what autovacuum would have done. */
export async function settle(store: Store): Promise<void> {
  if (store.dialect === 'duckdb') {
    await store.query('CHECKPOINT');
    return;
  }
  for (const t of ['users', 'identities', 'segments', 'segment_members', 'segment_changes']) await store.query(`VACUUM (ANALYZE) ${t}`);
}

/**
 * Every person's variant by plain SQL: the same rules as the decider (returning first, then the
 * women's 50/50 split, the holdout among the targeted), with the same buckets in SQL. The
 * decider's counts must equal these.
 */
export async function expectedCounts(store: Store, ws: number, seg: SlotSegments): Promise<Record<string, number>> {
  const holdout = bucketSql('i.user_key', '$4');
  const split = bucketSql('i.user_key', '$5');
  const rows = await store.query<{ v: string; n: number }>(
    `SELECT v, count(*) AS n FROM (
       SELECT CASE
         WHEN a.user_key IS NULL AND b.user_key IS NULL THEN 'default'
         WHEN ${holdout} < ${HOLDOUT_PERCENT} THEN 'holdout'
         WHEN a.user_key IS NOT NULL THEN 'returning'
         WHEN ${split} < 50 THEN 'women-a' ELSE 'women-b' END AS v
       FROM identities i
       LEFT JOIN segment_members a ON a.workspace_id = i.workspace_id AND a.segment_id = $2 AND a.user_key = i.user_key
       LEFT JOIN segment_members b ON b.workspace_id = i.workspace_id AND b.segment_id = $3 AND b.user_key = i.user_key
       WHERE i.workspace_id = $1 AND i.type = 'user_id') x
     GROUP BY v ORDER BY v`,
    [ws, seg.returning, seg.women, saltHash('slot:home_banner:holdout'), saltHash('slot:home_banner:split:5')],
  );
  return Object.fromEntries(rows.map((r) => [r.v, Number(r.n)]));
}

/**
 * A refresh of "returning" as membership.ts records one: ~1 % of members leave, ~1 % of the others
 * enter, under the next refresh number. Returns how many changes it wrote.
 */
export async function simulateRefresh(store: Store, ws: number, segmentId: number, users: number, now: number): Promise<number> {
  const g = new GenSql(store.dialect, 7);
  return store.transaction(async (tx) => {
    // Inline integers: DuckDB cannot prepare UPDATE … RETURNING.
    const [bumped] = await tx.query<{ refresh_no: number }>(
      `UPDATE segments SET refresh_no = refresh_no + 1 WHERE workspace_id = ${ws} AND segment_id = ${segmentId} RETURNING refresh_no`,
    );
    const r = Number(bumped!.refresh_no);
    const insert = 'INSERT INTO segment_changes (workspace_id, segment_id, refresh_no, user_key, change, changed_at)';
    await tx.query(
      `${insert} SELECT $1, $2, $3, user_key, 'exited', $4 FROM segment_members
      WHERE workspace_id = $1 AND segment_id = $2 AND ${g.hash('user_key', 91)} % 100 = 0`,
      [ws, segmentId, r, now],
    );
    await tx.query(
      `${insert} SELECT $1, $2, $3, i + 1, 'entered', $4 FROM ${g.series(0, users)}
       WHERE ${g.hash('i + 1', 92)} % 100 = 0
         AND NOT EXISTS (SELECT 1 FROM segment_members m WHERE m.workspace_id = $1 AND m.segment_id = $2 AND m.user_key = i + 1)`,
      [ws, segmentId, r, now],
    );
    const thisRefresh = 'workspace_id = $1 AND segment_id = $2 AND refresh_no = $3';
    await tx.query(
      `DELETE FROM segment_members WHERE workspace_id = $1 AND segment_id = $2
         AND user_key IN (SELECT user_key FROM segment_changes WHERE ${thisRefresh} AND change = 'exited')`,
      [ws, segmentId, r],
    );
    await tx.query(
      `INSERT INTO segment_members (workspace_id, segment_id, user_key, entered_at)
       SELECT workspace_id, segment_id, user_key, changed_at FROM segment_changes WHERE ${thisRefresh} AND change = 'entered'`,
      [ws, segmentId, r],
    );
    const [n] = await tx.query<{ n: number }>(`SELECT count(*) AS n FROM segment_changes WHERE ${thisRefresh}`, [ws, segmentId, r]);
    return Number(n!.n);
  });
}

/**
 * The baseline: the same decision answered by the database on every request — the person's key
 * and their membership of both segments in one query, then the same bucket rules. Returns each
 * request's milliseconds, and the answers for a cross-check.
 */
export async function sqlDecides(
  store: Store,
  ws: number,
  seg: SlotSegments,
  userIds: readonly string[],
): Promise<{ ms: number[]; variants: string[] }> {
  const ms: number[] = [];
  const variants: string[] = [];
  const member = (p: string) =>
    `(SELECT count(*) FROM segment_members m WHERE m.workspace_id = $1 AND m.segment_id = ${p} AND m.user_key = i.user_key)`;
  const sql = `SELECT i.user_key, ${member('$3')} AS in_a, ${member('$4')} AS in_b FROM identities i
    WHERE i.workspace_id = $1 AND i.type = 'user_id' AND i.value = $2`;
  for (const userId of userIds) {
    const t = performance.now();
    const [row] = await store.query<{ user_key: number; in_a: number; in_b: number }>(sql, [ws, userId, seg.returning, seg.women]);
    let v = 'default';
    if (row && (Number(row.in_a) > 0 || Number(row.in_b) > 0)) {
      const k = Number(row.user_key);
      if (bucketOf(k, 'slot:home_banner:holdout') < HOLDOUT_PERCENT) v = 'holdout';
      else if (Number(row.in_a) > 0) v = 'returning';
      else v = bucketOf(k, 'slot:home_banner:split:5') < 50 ? 'women-a' : 'women-b';
    }
    ms.push(performance.now() - t);
    variants.push(v);
  }
  return { ms, variants };
}
