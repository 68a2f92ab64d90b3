import { type Dialect, type EventsTx, jsonObject, type SqlParam } from '../../store/index.ts';

export type CouponEvent = 'Coupon Issued' | 'Coupon Redeemed' | 'Coupon Expired';

const suffix: Record<CouponEvent, string> = { 'Coupon Issued': 'issued', 'Coupon Redeemed': 'redeemed', 'Coupon Expired': 'expired' };

/**
 * Writes a lifecycle event for each code that `codesSql` selects (a subquery of codes), as the
 * coupon's holder, into the event store: segments, journey triggers and splits use coupon states
 * like any behaviour ("got a Coupon Issued of campaign X and no Coupon Redeemed"). The code is
 * property `code`, not `coupon`: these events are not uses of the coupon. Message ids are
 * deterministic per code and state, and callers write an event only for the transition they just
 * made; PostgreSQL's unique index on message ids also turns a racing duplicate into a no-op.
 */
export async function insertCouponEvents(
  tx: EventsTx,
  ctx: { dialect: Dialect; workspaceId: number; now: number },
  event: CouponEvent,
  codesSql: string,
  params: readonly SqlParam[],
): Promise<void> {
  const args: SqlParam[] = [...params, ctx.workspaceId, tx.receivedAt];
  const ws = `$${params.length + 1}`;
  const received = `$${params.length + 2}`;
  // Only where used: PostgreSQL cannot type a parameter no expression mentions.
  const now = () => {
    args.push(ctx.now);
    return `$${args.length}`;
  };
  const properties = jsonObject(ctx.dialect, [
    ['code', 'c.code'],
    ['campaign', 'k.name'],
    ['campaign_id', 'c.campaign_id'],
    ['kind', 'c.kind'],
    ['value', 'c.value'],
    ['expires_at', 'c.expires_at'],
    ['journey_id', 'c.journey_id'],
    ...(event === 'Coupon Redeemed'
      ? ([
          ['order_id', 'c.order_id'],
          ['discount', 'c.discount'],
          ['via', 'c.redeemed_via'],
          ['store_id', 'c.store_id'],
        ] as const)
      : []),
  ]);
  // When it happened: redeemed at the till or in the order; expired at its end.
  const ts = event === 'Coupon Redeemed' ? `COALESCE(c.redeemed_at, ${now()})` : event === 'Coupon Expired' ? 'c.expires_at' : now();
  await tx.query(
    `INSERT INTO events (workspace_id, message_id, user_key, type, event, ts, received_at, source, properties)
     SELECT ${ws}, 'coupon.' || c.code || '.${suffix[event]}', c.user_key, 'track', '${event}', ${ts}, ${received}, 'coupons', ${properties}
     FROM coupon_codes c JOIN coupon_campaigns k ON k.workspace_id = c.workspace_id AND k.campaign_id = c.campaign_id
     WHERE c.workspace_id = ${ws} AND c.code IN (${codesSql})${ctx.dialect === 'postgres' ? ' ON CONFLICT DO NOTHING' : ''}`,
    args,
  );
}
