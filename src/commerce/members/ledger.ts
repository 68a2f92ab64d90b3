import { DAY } from '../../core/clock.ts';
import { AppError } from '../../core/errors.ts';
import type { EventsTx, SqlExecutor, Store } from '../../store/index.ts';
import { expireDue } from './expiry.ts';
import { addToBalances, ledgerTransaction, lockMembers } from './ledger-tx.ts';
import { recordLedgerEvents } from './member-events.ts';
import type { LedgerEntry, LedgerKind } from './schema.ts';
import { getMembershipSettings } from './settings.ts';

/** A ledger row as stored. */
type LedgerRow = {
  entry_id: number;
  user_key: number;
  kind: LedgerKind;
  points: number;
  balance_after: number;
  idempotency_key: string;
  reason: string | null;
  reference: string | null;
  order_id: string | null;
  multiplier: number | null;
  campaign_id: number | null;
  lot_entry_id: number | null;
  expires_at: number | null;
  occurred_at: number;
  created_at: number;
};

const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());
const numOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export const ledgerColumns =
  'entry_id, user_key, kind, points, balance_after, idempotency_key, reason, reference, order_id, multiplier, campaign_id, lot_entry_id, expires_at, occurred_at, created_at';

export function toLedgerEntry(r: LedgerRow): LedgerEntry {
  return {
    entryId: Number(r.entry_id),
    kind: r.kind,
    points: Number(r.points),
    balanceAfter: Number(r.balance_after),
    reason: r.reason,
    reference: r.reference,
    orderId: r.order_id,
    multiplier: numOrNull(r.multiplier),
    campaignId: numOrNull(r.campaign_id),
    lotEntryId: numOrNull(r.lot_entry_id),
    expiresAt: iso(numOrNull(r.expires_at)),
    occurredAt: iso(Number(r.occurred_at))!,
    createdAt: iso(Number(r.created_at))!,
  };
}

export interface PointsMove {
  userKey: number;
  /** Signed: positive credits, negative debits. */
  points: number;
  /** Unique per workspace: the same key moves points once; reusing it for a different move is a 409. */
  idempotencyKey: string;
  kind: 'spend' | 'adjust';
  reason: string;
  reference?: string;
}

export interface PointsMoveResult {
  entry: LedgerEntry;
  balance: number;
  /** True when the key had been used before: nothing moved, the first entry is returned. */
  replayed: boolean;
}

/**
 * Called inside the transaction that recorded a spend, before it commits: issue what the points
 * pay for (e.g. a coupon) with `tx`. If it throws, the spend is rolled back too, so points and
 * what they bought never disagree. It must use `tx`, not the store (on DuckDB this transaction
 * holds the ledger's turn; another transaction on the same rows would wait for it or conflict).
 */
export type OnSpent = (tx: EventsTx, entry: LedgerEntry) => Promise<void>;

/**
 * Moves points for one member in one transaction: lock the balance row (PostgreSQL) or take the
 * ledger's turn (DuckDB); replay a known idempotency key; expire what is due; refuse a debit larger
 * than the balance; append the entry and update the balance.
 */
export async function movePoints(
  store: Store,
  workspaceId: number,
  move: PointsMove,
  now: number,
  onSpent?: OnSpent,
): Promise<PointsMoveResult> {
  const settings = move.points > 0 ? await getMembershipSettings(store, workspaceId) : null;
  return ledgerTransaction(store, workspaceId, now, async (tx) => {
    await lockMembers(store, tx, workspaceId, [move.userKey]);
    const [member] = await tx.query<{ status: string }>('SELECT status FROM members WHERE workspace_id = $1 AND user_key = $2', [
      workspaceId,
      move.userKey,
    ]);
    if (member?.status !== 'active') throw new AppError('not_found', 'this person is not a member', 'id');
    const replay = await replayOf(tx, workspaceId, move);
    if (replay) return replay;

    if (move.points < 0) await expireDue(store.dialect, tx, workspaceId, now, [move.userKey]);
    const balance = await balanceOf(tx, workspaceId, move.userKey);
    if (balance + move.points < 0) {
      throw new AppError('conflict', `not enough points: the balance is ${balance}, ${-move.points} asked`, 'points');
    }
    const expiresAt = move.points > 0 && settings?.expiryDays ? now + settings.expiryDays * DAY : null;
    const inserted = await tx.query<LedgerRow>(
      `INSERT INTO points_ledger (workspace_id, entry_id, user_key, kind, points, balance_after, idempotency_key, reason, reference,
         expires_at, occurred_at, created_at)
       VALUES ($1, nextval('points_entry_seq'), $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
       ON CONFLICT DO NOTHING RETURNING ${ledgerColumns}`,
      [
        workspaceId,
        move.userKey,
        move.kind,
        move.points,
        balance + move.points,
        move.idempotencyKey,
        move.reason,
        move.reference ?? null,
        expiresAt,
        now,
      ],
    );
    const row = inserted[0];
    if (!row) {
      // The key was taken meanwhile by a move for another person (whose row we did not lock).
      const again = await replayOf(tx, workspaceId, move);
      if (again) return again;
      throw new AppError('conflict', 'this idempotency key was just used for another request', 'idempotencyKey');
    }
    await addToBalances(tx, workspaceId, [{ user_key: move.userKey, points: move.points }], now);
    await recordLedgerEvents(tx, { dialect: store.dialect, workspaceId, now }, [Number(row.entry_id)]);
    const entry = toLedgerEntry(row);
    if (onSpent && move.points < 0) await onSpent(tx, entry);
    return { entry, balance: balance + move.points, replayed: false };
  });
}

/** The earlier result of a retried move, or null for a new key; a different move under the key is a 409. */
async function replayOf(tx: SqlExecutor, workspaceId: number, move: PointsMove): Promise<PointsMoveResult | null> {
  const [prior] = await tx.query<LedgerRow>(`SELECT ${ledgerColumns} FROM points_ledger WHERE workspace_id = $1 AND idempotency_key = $2`, [
    workspaceId,
    move.idempotencyKey,
  ]);
  if (!prior) return null;
  if (Number(prior.user_key) !== move.userKey || prior.kind !== move.kind || Number(prior.points) !== move.points) {
    throw new AppError('conflict', 'this idempotency key was already used for a different points move', 'idempotencyKey');
  }
  return { entry: toLedgerEntry(prior), balance: await balanceOf(tx, workspaceId, move.userKey), replayed: true };
}

async function balanceOf(db: SqlExecutor, workspaceId: number, userKey: number): Promise<number> {
  const [row] = await db.query<{ points_balance: number }>('SELECT points_balance FROM members WHERE workspace_id = $1 AND user_key = $2', [
    workspaceId,
    userKey,
  ]);
  return Number(row?.points_balance ?? 0);
}

export interface SpendRequest {
  userKey: number;
  points: number;
  idempotencyKey: string;
  reason?: string;
  reference?: string;
}

/**
 * Redeems points: the hook for "points → coupon" (the coupons module passes `onSpent` to issue the
 * coupon in the same transaction). Throws 409 when the balance is smaller, 404 for a non-member.
 */
export async function spendPoints(
  store: Store,
  workspaceId: number,
  req: SpendRequest,
  now: number,
  onSpent?: OnSpent,
): Promise<PointsMoveResult> {
  if (!Number.isSafeInteger(req.points) || req.points < 1)
    throw new AppError('invalid_request', 'points must be a positive whole number', 'points');
  return movePoints(
    store,
    workspaceId,
    {
      userKey: req.userKey,
      points: -req.points,
      idempotencyKey: `api:${req.idempotencyKey}`,
      kind: 'spend',
      reason: req.reason ?? 'redeem',
      reference: req.reference,
    },
    now,
    onSpent,
  );
}

/** A manual credit or debit (customer service); a debit never takes the balance below 0. */
export function adjustPoints(
  store: Store,
  workspaceId: number,
  req: { userKey: number; points: number; idempotencyKey: string; reason: string; reference?: string },
  now: number,
): Promise<PointsMoveResult> {
  return movePoints(store, workspaceId, { ...req, idempotencyKey: `api:${req.idempotencyKey}`, kind: 'adjust' }, now);
}

/** A member's ledger, newest first; `before` pages by entry id. */
export async function listLedger(
  db: SqlExecutor,
  workspaceId: number,
  userKey: number,
  options: { limit: number; before?: number },
): Promise<LedgerEntry[]> {
  const rows = await db.query<LedgerRow>(
    `SELECT ${ledgerColumns} FROM points_ledger WHERE workspace_id = $1 AND user_key = $2 AND entry_id < $3
     ORDER BY entry_id DESC LIMIT ${Math.trunc(options.limit)}`,
    [workspaceId, userKey, options.before ?? Number.MAX_SAFE_INTEGER],
  );
  return rows.map(toLedgerEntry);
}
