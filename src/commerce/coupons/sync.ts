import { SqlBuilder } from '../../segments/index.ts';
import { advisoryLock, eventsSettledAt, type SqlExecutor, type Store, writingEvents } from '../../store/index.ts';
import { normalizeCodeSql } from './codes.ts';
import { insertCouponEvents } from './events.ts';
import { followCouponMerges } from './merges.ts';
import { couponWrites } from './serial.ts';

/** Events received this long before the last sync are read again (a batch may commit late). */
const OVERLAP_MS = 10_000;
/** PostgreSQL: how long a sync waits for an event write in progress (short: API reads run it first). */
const SETTLE_WAIT_MS = 200;
const JOB = 'coupons';

export interface SyncResult {
  /** Codes moved from merged-away people to their survivors. */
  merged: number;
  redeemed: number;
  attributed: number;
  reminded: number;
  expired: number;
}

/**
 * Brings coupon states up to date from what happened, set-at-a-time, in one transaction:
 * 0. codes of people merged into someone else move to the survivor (merges.ts);
 * 1. redemptions: `Coupon Applied` and `Order Completed` events received since the last sync
 *    whose `coupon` (or `coupon_id`) is an issued code;
 * 2. attributed revenue: the paid total of the order a code was redeemed on, once it is paid;
 * 3. reminded: a code whose journey instance has sent the person a second message since it was
 *    issued (the first is the "your coupon is here" notice);
 * 4. expired: past their end and unused.
 * Each transition writes its lifecycle event (`Coupon Redeemed`, `Coupon Expired`) for segments.
 * Safe to run anywhere at any time: on PostgreSQL one process syncs a workspace at a time, the
 * others skip; the reads of the API run it first so they are current.
 */
export function syncCoupons(store: Store, workspaceId: number, now: number): Promise<SyncResult | null> {
  return couponWrites(store, async () => {
    // PostgreSQL: new events are taken only as far as their writes are known committed (see
    // eventsSettledAt); while a long write holds the workspace's turn, none are (API reads run
    // this first and must not wait for it), and the next sync takes them.
    const settled = store.dialect === 'postgres' ? await eventsSettledAt(store, workspaceId, () => now, SETTLE_WAIT_MS) : now;
    return store.session((session) =>
      writingEvents(
        store,
        workspaceId,
        now,
        async (tx) => {
          if (store.dialect === 'postgres') {
            const [lock] = await tx.query<{ ok: boolean }>(`SELECT pg_try_advisory_xact_lock(${advisoryLock.couponSync}, $1) AS ok`, [
              workspaceId,
            ]);
            if (!lock?.ok) return null;
          }
          const [state] = await tx.query<{ watermark: number | null }>(
            'SELECT watermark FROM job_state WHERE workspace_id = $1 AND job = $2',
            [workspaceId, JOB],
          );
          const watermark = state?.watermark === null || state?.watermark === undefined ? null : Number(state.watermark);
          const since = watermark === null ? 0 : watermark - OVERLAP_MS;
          const upTo = settled ?? watermark ?? 0;
          const ctx = { dialect: store.dialect, workspaceId, now };
          const merged = await followCouponMerges(tx, workspaceId, since);
          const redeemed = await detectRedemptions(tx, store, workspaceId, since, upTo);
          if (redeemed > 0) await insertCouponEvents(tx, ctx, 'Coupon Redeemed', 'SELECT code FROM coupon_used_now', []);
          const attributed = await attributeRevenue(tx, workspaceId);
          const reminded = await markReminded(tx, workspaceId, now);
          const expired = await markExpired(tx, workspaceId, now);
          if (expired > 0) await insertCouponEvents(tx, ctx, 'Coupon Expired', 'SELECT code FROM coupon_expiring', []);
          await tx.query(
            `INSERT INTO job_state (workspace_id, job, watermark, ran_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (workspace_id, job) DO UPDATE SET watermark = excluded.watermark, ran_at = excluded.ran_at`,
            [workspaceId, JOB, upTo, now],
          );
          return { merged, redeemed, attributed, reminded, expired };
        },
        session,
      ),
    );
  });
}

const count = async (tx: SqlExecutor, table: string) =>
  Number((await tx.query<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))[0]?.n ?? 0);

/** The discount a code gave when the event does not say (SQL over the codes table `t` and the paid total). */
function impliedDiscount(t: string, total: string): string {
  // An order total is after the discount: p % off leaves (100 − p) %.
  return `CASE WHEN ${t}.kind = 'amount' THEN ${t}.value
    WHEN ${total} IS NOT NULL AND ${t}.value < 100 THEN LEAST(${total} * ${t}.value / (100 - ${t}.value), COALESCE(${t}.max_discount, 1e15)) END`;
}

/** Codes first used in events received after `since`, up to `upTo`. */
async function detectRedemptions(tx: SqlExecutor, store: Store, workspaceId: number, since: number, upTo: number): Promise<number> {
  const b = new SqlBuilder(store.dialect);
  const ws = b.param(workspaceId);
  const code = normalizeCodeSql(`COALESCE(${b.jsonText('e.properties', 'coupon')}, ${b.jsonText('e.properties', 'coupon_id')})`);
  await tx.query('DROP TABLE IF EXISTS coupon_used_now');
  // The first use of each code among the new events; later uses of a code are the shop's business.
  await tx.query(
    `CREATE TEMP TABLE coupon_used_now AS
     SELECT u.code, u.user_key, u.ts, u.order_id, u.total, u.discount FROM (
       SELECT ${code} AS code, e.user_key, e.ts, e.order_id, CASE WHEN e.event = 'Order Completed' THEN e.total END AS total,
         ${b.toNumber(b.jsonText('e.properties', 'discount'))} AS discount,
         row_number() OVER (PARTITION BY ${code} ORDER BY e.ts, e.message_id) AS rn
       FROM events e WHERE e.workspace_id = ${ws} AND e.event IN ('Coupon Applied', 'Order Completed')
         AND e.received_at > ${b.param(since)} AND e.received_at <= ${b.param(upTo)}
         AND COALESCE(${b.jsonText('e.properties', 'coupon')}, ${b.jsonText('e.properties', 'coupon_id')}) IS NOT NULL) u
     JOIN coupon_codes c ON c.workspace_id = ${ws} AND c.code = u.code AND c.state <> 'redeemed'
     WHERE u.rn = 1`,
    b.params,
  );
  const n = await count(tx, 'coupon_used_now');
  if (n === 0) return 0;
  await tx.query(
    `UPDATE coupon_codes SET state = 'redeemed', redeemed_at = u.ts, redeemed_via = 'event', redeemed_by = u.user_key, order_id = u.order_id,
       order_total = u.total, discount = COALESCE(u.discount, ${impliedDiscount('coupon_codes', 'u.total')})
     FROM coupon_used_now u WHERE coupon_codes.workspace_id = $1 AND coupon_codes.code = u.code AND coupon_codes.state <> 'redeemed'`,
    [workspaceId],
  );
  return n;
}

/** Redeemed on an order (e.g. `Coupon Applied` at checkout) that has been paid since: credit its total. */
async function attributeRevenue(tx: SqlExecutor, workspaceId: number): Promise<number> {
  const open = `SELECT order_id FROM coupon_codes WHERE workspace_id = $1 AND state = 'redeemed' AND order_total IS NULL AND order_id IS NOT NULL`;
  const [{ n }] = (await tx.query<{ n: number }>(`SELECT count(*) AS n FROM (${open}) x`, [workspaceId])) as [{ n: number }];
  if (Number(n) === 0) return 0;
  await tx.query(
    `UPDATE coupon_codes SET order_total = o.total, discount = COALESCE(coupon_codes.discount, ${impliedDiscount('coupon_codes', 'o.total')})
     FROM (SELECT order_id, max(total) AS total FROM events WHERE workspace_id = $1 AND event = 'Order Completed' AND order_id IN (${open})
       GROUP BY order_id) o
     WHERE coupon_codes.workspace_id = $1 AND coupon_codes.order_id = o.order_id AND coupon_codes.order_total IS NULL
       AND coupon_codes.state = 'redeemed'`,
    [workspaceId],
  );
  const [after] = await tx.query<{ n: number }>(`SELECT count(*) AS n FROM (${open}) x`, [workspaceId]);
  return Number(n) - Number(after?.n ?? 0);
}

async function markReminded(tx: SqlExecutor, workspaceId: number, now: number): Promise<number> {
  await tx.query('DROP TABLE IF EXISTS coupon_reminded');
  // Messages the issuing instance queued after the code, not held back or failed: the first says it is here, a second reminds.
  await tx.query(
    `CREATE TEMP TABLE coupon_reminded AS SELECT c.code FROM coupon_codes c
     JOIN outbox o ON o.workspace_id = c.workspace_id AND o.instance_id = c.instance_id
     WHERE c.workspace_id = $1 AND c.state = 'issued' AND c.expires_at > $2 AND c.instance_id IS NOT NULL
       AND o.action IN ('message', 'recommend') AND o.created_at >= c.issued_at AND o.status NOT IN ('skipped', 'failed')
     GROUP BY c.code HAVING count(*) >= 2`,
    [workspaceId, now],
  );
  const n = await count(tx, 'coupon_reminded');
  if (n > 0) {
    await tx.query(
      `UPDATE coupon_codes SET state = 'reminded', reminded_at = $2 WHERE workspace_id = $1 AND state = 'issued'
         AND code IN (SELECT code FROM coupon_reminded)`,
      [workspaceId, now],
    );
  }
  return n;
}

async function markExpired(tx: SqlExecutor, workspaceId: number, now: number): Promise<number> {
  await tx.query('DROP TABLE IF EXISTS coupon_expiring');
  await tx.query(
    `CREATE TEMP TABLE coupon_expiring AS SELECT code FROM coupon_codes
     WHERE workspace_id = $1 AND state IN ('issued', 'reminded') AND expires_at <= $2`,
    [workspaceId, now],
  );
  const n = await count(tx, 'coupon_expiring');
  if (n > 0) {
    await tx.query(
      `UPDATE coupon_codes SET state = 'expired', expired_at = expires_at WHERE workspace_id = $1 AND state IN ('issued', 'reminded')
         AND code IN (SELECT code FROM coupon_expiring)`,
      [workspaceId],
    );
  }
  return n;
}

/** Syncs every workspace that has coupon campaigns (the server's background loop). */
export async function syncAllCoupons(store: Store, now: number): Promise<void> {
  const rows = await store.query<{ workspace_id: number }>('SELECT DISTINCT workspace_id FROM coupon_campaigns');
  for (const r of rows) await syncCoupons(store, Number(r.workspace_id), now);
}
