import { randomUUID } from 'node:crypto';
import { AppError } from '../../core/errors.ts';
import { type IdentityType, normalizeIdentity } from '../../core/identities.ts';
import { type SqlExecutor, type Store, writingEvents } from '../../store/index.ts';
import { insertCouponEvents } from './events.ts';
import { isMemberSql } from './membership.ts';
import type { CouponScope, RedeemRequest, RefusalReason, VerifyRequest } from './schema.ts';
import { couponWrites } from './serial.ts';
import { type BasketLine, discountOn, inScope } from './terms.ts';
import { type CodeRow, type CouponView, codeRow, toView } from './views.ts';

export interface TillAnswer {
  valid: boolean;
  /** Why the code does not apply (null when it does). */
  reason: RefusalReason | null;
  coupon: CouponView | null;
  /** The part of the basket the coupon applies to (null when no amount was given). */
  eligibleAmount: number | null;
  /** What the code takes off this basket. */
  discount: number | null;
}

export interface Redemption extends TillAnswer {
  valid: true;
  /** The basket after the discount (the revenue the coupon is credited with). */
  payable: number;
  /** The same idempotency key was redeemed before: this is that first answer. */
  replay: boolean;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/** The person the till names, by identity; null when nobody has it. */
async function tillPerson(db: SqlExecutor, workspaceId: number, person: { type: IdentityType; value: string }): Promise<number | null> {
  const value = normalizeIdentity(person.type, person.value);
  if (value === null) throw new AppError('invalid_request', `not a valid ${person.type}`, 'person.value');
  const [hit] = await db.query<{ user_key: number }>(
    'SELECT user_key FROM identities WHERE workspace_id = $1 AND type = $2 AND value = $3',
    [workspaceId, person.type, value],
  );
  if (hit) return Number(hit.user_key);
  if (person.type !== 'member_no') return null;
  // A member number given when joining (API or `Member Joined`) lives in the members table even
  // when the shop never sent it as an identity.
  const [member] = await db.query<{ user_key: number }>(
    'SELECT user_key FROM members WHERE workspace_id = $1 AND member_no = $2 ORDER BY joined_at LIMIT 1',
    [workspaceId, person.value],
  );
  return member ? Number(member.user_key) : null;
}

/** The basket amount the coupon applies to: everything for a shop-wide coupon, else the lines in scope. */
async function eligibleAmount(db: SqlExecutor, workspaceId: number, scope: CouponScope, input: VerifyRequest): Promise<number | null> {
  if (scope.kind === 'shop') {
    if (input.orderTotal !== undefined) return input.orderTotal;
    return input.lines ? round2(input.lines.reduce((s, l) => s + l.price * l.quantity, 0)) : null;
  }
  if (!input.lines) {
    if (input.orderTotal === undefined) return null;
    throw new AppError('invalid_request', `this coupon is for some ${scope.kind} only: send the basket lines`, 'lines');
  }
  const missing = input.lines.filter((l) => l.category === undefined).map((l) => l.product_id);
  const catalog = new Map<string, string>();
  if (scope.kind === 'categories' && missing.length > 0) {
    const rows = await db.query<{ product_id: string; category_path: string }>(
      'SELECT product_id, category_path FROM products WHERE workspace_id = $1 AND product_id IN (SELECT unnest($2::text[]))',
      [workspaceId, missing],
    );
    for (const r of rows) catalog.set(r.product_id, r.category_path);
  }
  const lines: BasketLine[] = input.lines;
  return round2(
    lines
      .filter((l) => inScope(scope, l.product_id, l.category ?? catalog.get(l.product_id) ?? null))
      .reduce((s, l) => s + l.price * l.quantity, 0),
  );
}

/** Checks a code against a basket and a person, reading only. */
async function evaluate(
  db: SqlExecutor,
  workspaceId: number,
  input: VerifyRequest,
  now: number,
): Promise<{ row: CodeRow | null; answer: TillAnswer }> {
  const row = await codeRow(db, workspaceId, input.code, now);
  const answer = (reason: RefusalReason | null, eligible: number | null = null, discount: number | null = null): TillAnswer => ({
    valid: reason === null,
    reason,
    coupon: row ? toView(row) : null,
    eligibleAmount: eligible,
    discount,
  });
  if (!row) return { row, answer: answer('unknown_code') };
  if (row.state === 'redeemed') return { row, answer: answer('already_redeemed') };
  if (now < Number(row.valid_from)) return { row, answer: answer('not_yet_valid') };
  if (row.state === 'expired') return { row, answer: answer('expired') };
  const personKey = input.person ? await tillPerson(db, workspaceId, input.person) : null;
  if (row.member_only) {
    if (!input.person) return { row, answer: answer('member_required') };
    const member =
      personKey !== null &&
      (await db.query<{ member: boolean }>(`SELECT ${isMemberSql('$1', '$2')} AS member`, [workspaceId, personKey]))[0]?.member === true;
    if (!member) return { row, answer: answer('not_a_member') };
  }
  // Codes are bearer codes, but a person who is named and known must be the one it was issued to.
  if (personKey !== null && personKey !== Number(row.user_key)) return { row, answer: answer('not_holder') };
  const scope = (typeof row.scope === 'string' ? JSON.parse(row.scope) : (row.scope ?? { kind: 'shop' })) as CouponScope;
  const eligible = await eligibleAmount(db, workspaceId, scope, input);
  if (eligible === null) return { row, answer: answer(null) };
  if (scope.kind !== 'shop' && eligible <= 0) return { row, answer: answer('nothing_in_scope', eligible) };
  if (eligible < Number(row.min_spend)) return { row, answer: answer('min_spend_not_met', eligible) };
  return { row, answer: answer(null, eligible, discountOn(row, eligible)) };
}

/** Whether a code applies at the till now, and what it takes off the basket. Changes nothing. */
export async function verifyCoupon(store: Store, workspaceId: number, input: VerifyRequest, now: number): Promise<TillAnswer> {
  return (await evaluate(store, workspaceId, input, now)).answer;
}

/**
 * Redeems a code at the till, once. The conditional UPDATE (only if not redeemed yet) is what
 * makes it once: of two tills redeeming one code at the same moment, PostgreSQL lets the second
 * UPDATE wait for the first and then finds nothing to change, and the redemption key read back
 * says who won. A retry with the same idempotency key gets the first answer again.
 */
export async function redeemCoupon(store: Store, workspaceId: number, input: RedeemRequest, now: number): Promise<Redemption> {
  return couponWrites(store, () =>
    writingEvents(store, workspaceId, now, async (tx) => {
      const basket = input.orderTotal ?? round2((input.lines ?? []).reduce((s, l) => s + l.price * l.quantity, 0));
      const earlier = await codeRow(tx, workspaceId, input.code, now);
      if (earlier?.state === 'redeemed' && input.idempotencyKey !== undefined && earlier.redemption_key === input.idempotencyKey) {
        const discount = Number(earlier.discount ?? 0);
        return {
          valid: true,
          reason: null,
          coupon: toView(earlier),
          eligibleAmount: null,
          discount,
          payable: round2(basket - discount),
          replay: true,
        };
      }
      const { row, answer } = await evaluate(tx, workspaceId, input, now);
      if (!row) throw new AppError('not_found', `no coupon "${input.code}"`, 'code');
      if (!answer.valid) throw new AppError('conflict', `${answer.reason}: the code cannot be redeemed`, 'code');
      const discount = answer.discount ?? 0;
      const key = input.idempotencyKey ?? randomUUID();
      const personKey = input.person ? await tillPerson(tx, workspaceId, input.person) : null;
      await tx.query(
        `UPDATE coupon_codes SET state = 'redeemed', redeemed_at = $3, redeemed_via = 'till', redeemed_by = $4, redemption_key = $5,
           order_id = $6, order_total = $7, discount = $8, store_id = $9
         WHERE workspace_id = $1 AND code = $2 AND state <> 'redeemed' AND valid_from <= $3 AND expires_at > $3`,
        [
          workspaceId,
          input.code,
          now,
          personKey ?? Number(row.user_key),
          key,
          input.orderId ?? null,
          round2(basket - discount),
          discount,
          input.storeId ?? null,
        ],
      );
      const [after] = await tx.query<{ redemption_key: string | null }>(
        'SELECT redemption_key FROM coupon_codes WHERE workspace_id = $1 AND code = $2',
        [workspaceId, input.code],
      );
      if (after?.redemption_key !== key) throw new AppError('conflict', 'already_redeemed: the code was redeemed a moment ago', 'code');
      await insertCouponEvents(tx, { dialect: store.dialect, workspaceId, now }, 'Coupon Redeemed', '$1', [input.code]);
      const coupon = toView((await codeRow(tx, workspaceId, input.code, now)) as CodeRow);
      return { ...answer, valid: true, coupon, discount, payable: round2(basket - discount), replay: false };
    }),
  );
}
