import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redeemCoupon } from '../src/commerce/coupons/index.ts';
import { renderMessage } from '../src/messaging/templates/render.ts';
import { engines } from './engines.ts';
import { Shop } from './journey-fixtures.ts';

describe.each(engines)('coupon.state in templates (%s)', (engine) => {
  let shop: Shop;
  beforeAll(async () => {
    shop = await Shop.open(engine);
  });
  afterAll(() => shop.dispose());
  it('renders the state now', async () => {
    await shop.store.query(`INSERT INTO templates VALUES ($1, 'st', 'sms', CAST($2 AS ${engine === 'duckdb' ? 'JSON' : 'JSONB'}), 0, 0)`, [
      shop.ws,
      JSON.stringify({ name: 'st', channel: 'sms', fields: { text: '{{ coupon.code }} {{ coupon.state }} {{ coupon.kind }}' } }),
    ]);
    const j = await shop.journey('J', {
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Signed Up' } },
        { id: 'c', type: 'coupon', campaign: 'x', value: 5 },
        { id: 's', type: 'send', channel: 'sandbox', template: 'st' },
      ],
      edges: [
        { from: 'in', to: 'c' },
        { from: 'c', to: 's' },
      ],
    });
    await shop.track('ann', 'Signed Up');
    await shop.tick();
    const rows = await shop.store.query<Record<string, unknown>>(`SELECT * FROM outbox WHERE node_id = 's'`);
    const code = (await shop.outboxRow(j, 'ann', 'c')).payload.code as string;
    const r1 = await renderMessage(shop.store, shop.ws, rows[0] as never, shop.clock.now());
    expect(r1.fields.text).toBe(`${code} issued amount`);
    await redeemCoupon(shop.store, shop.ws, { code, orderTotal: 20 } as never, shop.clock.now());
    const r2 = await renderMessage(shop.store, shop.ws, rows[0] as never, shop.clock.now());
    expect(r2.fields.text).toBe(`${code} redeemed amount`);
  });
});
