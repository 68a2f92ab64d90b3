/**
 * The (x, tx, T) summary BG/NBD needs, computed set-based in SQL from paid orders.
 *
 * - A purchase is an `Order Completed` event (paid), at or before `now`.
 * - Like the paper's CDNOW data, purchases are counted per distinct day (UTC): several orders on
 *   one day are one transaction, and every purchase is placed at the start of its day.
 * - x = distinct purchase days − 1 (repeat purchases), tx = last − first purchase day,
 *   T = now − first purchase day, all in days. tx and the first day are whole numbers, so people
 *   share (x, tx, first_day) and the model is evaluated once per distinct triple.
 * - Only people (users not merged into another) are summarised; events of merged people are
 *   already rewritten to the survivor's key.
 */
import { DAY } from '../../core/clock.ts';
import type { Dialect, SqlParam } from '../../store/index.ts';
import { arrayCast } from '../../store/index.ts';

export const PAID_ORDER_EVENT = 'Order Completed';

export type SummaryRow = {
  user_key: number;
  x: number;
  tx_days: number;
  first_day: number;
};

/** Days since the epoch, fractional: T = nowDays(now) − first_day. */
export const nowDays = (now: number) => now / DAY;

/**
 * SELECT user_key, x, tx_days, first_day — one row per person with at least one paid order.
 * Parameters: $1 workspace, $2 now (epoch ms), and with `onlyUserKeys` $3 a BIGINT array.
 */
export function summarySelect(dialect: Dialect, onlyUserKeys: boolean): string {
  const filter = onlyUserKeys ? `AND e.user_key IN (SELECT unnest($3::${arrayCast(dialect, 'bigint')}))` : '';
  return `SELECT d.user_key, count(*) - 1 AS x, max(d.day) - min(d.day) AS tx_days, min(d.day) AS first_day
    FROM (
      SELECT e.user_key, CAST(floor(e.ts / ${DAY}.0) AS BIGINT) AS day
      FROM events e
      WHERE e.workspace_id = $1 AND e.event = '${PAID_ORDER_EVENT}' AND e.ts <= $2 ${filter}
      GROUP BY 1, 2
    ) d
    JOIN users u ON u.workspace_id = $1 AND u.user_key = d.user_key AND u.merged_into IS NULL
    GROUP BY d.user_key`;
}

export function summaryParams(workspaceId: number, now: number, userKeys?: readonly number[]): SqlParam[] {
  return userKeys ? [workspaceId, now, userKeys] : [workspaceId, now];
}
