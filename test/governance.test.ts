import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyCallback,
  createTemplate,
  messagingSettingsSchema,
  putMessagingSettings,
  unsubscribeByToken,
} from '../src/messaging/index.ts';
import { setSubscription } from '../src/messaging/subscriptions.ts';
import { refreshComputedTraits } from '../src/profiles/computed-traits/index.ts';
import { engines } from './engines.ts';
import { DAY, HOUR, Shop } from './journey-fixtures.ts';

/**
 * Contact governance through the dispatcher, on both engines: caps, quiet hours (across a DST
 * change), transactional exemption, unsubscribe and STOP, consent, non-responders, send time.
 * Each journey sends on an event named after the test, so the tests share one shop.
 */
const sender = (event: string, send: Record<string, unknown>) => ({
  nodes: [
    { id: 'in', type: 'entry', trigger: { kind: 'event', event } },
    { id: 'msg', type: 'send', channel: 'sms', template: 'promo', ...send },
  ],
  edges: [{ from: 'in', to: 'msg' }],
  settings: { reentry: { mode: 'after_exit' } },
});

describe.each(engines)('contact governance (%s)', (engine) => {
  let shop: Shop;
  const rules = (s: Record<string, unknown>) =>
    putMessagingSettings(shop.store, shop.ws, messagingSettingsSchema.parse(s), shop.clock.now());
  /** The person gets the journey's message now: returns the status and reason of their latest message. */
  const trigger = async (userId: string, event: string) => {
    await shop.track(userId, event);
    await shop.tick();
    await shop.dispatch();
    return (await shop.messages(userId)).at(-1);
  };

  beforeAll(async () => {
    shop = await Shop.open(engine);
    const now = shop.clock.now();
    await createTemplate(
      shop.store,
      shop.ws,
      { name: 'promo', channel: 'sms', fields: { text: '20% off today: https://shop.example/sale' } },
      now,
    );
    await createTemplate(shop.store, shop.ws, { name: 'shipped', channel: 'sms', fields: { text: 'Your order has shipped' } }, now);
    await createTemplate(
      shop.store,
      shop.ws,
      { name: 'promo-mail', channel: 'email', fields: { subject: 'Sale', html: '<p>Sale</p>' } },
      now,
    );
  });
  afterAll(() => shop.dispose());

  it('caps marketing per calendar day in the person’s zone, and transactional messages are exempt', async () => {
    await rules({ frequencyCaps: [{ channel: 'sms', period: 'day', max: 1 }], smsOptOutText: '回T退订' });
    await shop.journey('cap promo', sender('Cap Promo', {}));
    await shop.journey('cap shipped', sender('Cap Shipped', { template: 'shipped', transactional: true }));
    await shop.identify('ann', { phone: '+8613800000001', timezone: 'Asia/Shanghai' });
    expect(await trigger('ann', 'Cap Promo')).toMatchObject({ status: 'sent' });
    expect(await trigger('ann', 'Cap Promo')).toMatchObject({ status: 'skipped', reason: 'frequency cap: at most 1 sms a day' });
    const shipped = await trigger('ann', 'Cap Shipped');
    expect(shipped).toMatchObject({ status: 'sent' });
    // Marketing SMS carry the opt-out line; transactional ones do not.
    const [promo] = await shop.messages('ann');
    const textOf = (m: typeof promo) => (m?.content?.fields as { text?: string } | undefined)?.text;
    expect(textOf(promo)).toMatch(/ 回T退订$/);
    expect(textOf(shipped)).toBe('Your order has shipped');
    // Shanghai's next day starts at 16:00 UTC.
    await shop.advance(16 * HOUR - (shop.clock.now() % DAY));
    expect(await trigger('ann', 'Cap Promo')).toMatchObject({ status: 'sent' });
  });

  it('defers marketing out of quiet hours to the next allowed local time, across the spring-forward night', async () => {
    await rules({ quietHours: { start: '21:00', end: '08:00', action: 'defer' } });
    await shop.journey('quiet promo', sender('Quiet Promo', {}));
    await shop.identify('bob', { phone: '+12125550101', timezone: 'America/New_York' });
    // Saturday 7 March 23:00 EST; the clocks jump at 02:00; 08:00 EDT on Sunday is 12:00 UTC.
    shop.clock.set(Date.parse('2026-03-08T04:00:00Z'));
    const m = await trigger('bob', 'Quiet Promo');
    expect(m).toMatchObject({ status: 'queued', reason: 'deferred: quiet hours 21:00–08:00 (America/New_York)' });
    shop.clock.set(Date.parse('2026-03-08T11:59:00Z'));
    expect(await shop.dispatch()).toBe(0);
    shop.clock.set(Date.parse('2026-03-08T12:00:00Z'));
    expect(await shop.dispatch()).toBe(1);
    expect((await shop.messages('bob')).at(-1)).toMatchObject({ status: 'sent' });
  });

  it('one-click unsubscribe stops marketing on that channel and topic at once; transactional messages still go', async () => {
    await rules({});
    await shop.journey('mail promo', sender('Mail Promo', { channel: 'email', template: 'promo-mail' }));
    await shop.identify('cat', { email: 'cat@example.com', phone: '+12125550102' });
    const first = await trigger('cat', 'Mail Promo');
    const token = /\/u\/([\w.-]+)$/.exec(String(first?.content?.unsubscribe_url))?.[1] ?? '';
    expect(await unsubscribeByToken(shop.store, token, shop.clock.now())).toEqual({ channel: 'email', topic: 'marketing' });
    expect(await unsubscribeByToken(shop.store, `${token.slice(0, -2)}xx`, shop.clock.now())).toBeNull();
    expect(await shop.eventsOf('cat', 'Unsubscribed')).toEqual([expect.objectContaining({ channel: 'email', topic: 'marketing' })]);
    expect(await trigger('cat', 'Mail Promo')).toMatchObject({ status: 'skipped', reason: 'unsubscribed from marketing on email' });
    // Another topic, or another channel, is still allowed.
    await shop.journey('mail news', sender('Mail News', { channel: 'email', template: 'promo-mail', topic: 'newsletter' }));
    expect(await trigger('cat', 'Mail News')).toMatchObject({ status: 'sent' });
    await shop.journey('cat shipped', sender('Cat Shipped', { template: 'shipped', transactional: true }));
    expect(await trigger('cat', 'Cat Shipped')).toMatchObject({ status: 'sent' });
  });

  it('an SMS STOP reply is a hard opt-out: not even transactional SMS go out', async () => {
    await shop.journey('stop shipped', sender('Stop Shipped', { template: 'shipped', transactional: true }));
    await shop.identify('dan', { phone: '+12125550103' });
    expect(await trigger('dan', 'Stop Shipped')).toMatchObject({ status: 'sent' });
    const applied = await applyCallback(
      shop.store,
      shop.ws,
      'sms',
      { ok: true, receipts: [], replies: [{ from: '+12125550103', text: ' stop ' }] },
      shop.clock.now(),
    );
    expect(applied.optOuts).toBe(1);
    expect(await trigger('dan', 'Stop Shipped')).toMatchObject({ status: 'skipped', reason: 'opted out of sms' });
    // 退订 works the same; other replies do nothing.
    await shop.identify('eve', { phone: '+8613800000002' });
    await applyCallback(
      shop.store,
      shop.ws,
      'sms',
      { ok: true, receipts: [], replies: [{ from: '+8613800000002', text: '好的' }] },
      shop.clock.now(),
    );
    expect(await trigger('eve', 'Stop Shipped')).toMatchObject({ status: 'sent' });
    await applyCallback(
      shop.store,
      shop.ws,
      'sms',
      { ok: true, receipts: [], replies: [{ from: '+8613800000002', text: '退订' }] },
      shop.clock.now(),
    );
    expect(await trigger('eve', 'Stop Shipped')).toMatchObject({ status: 'skipped' });
  });

  it('delivery receipts settle sent messages and write Message Delivered', async () => {
    await shop.journey('receipt promo', sender('Receipt Promo', {}));
    await shop.identify('fay', { phone: '+12125550104' });
    const m = await trigger('fay', 'Receipt Promo');
    const applied = await applyCallback(
      shop.store,
      shop.ws,
      'sms',
      { ok: true, receipts: [{ providerMessageId: `sandbox-${m?.message_key}`, status: 'delivered' }], replies: [] },
      shop.clock.now(),
    );
    expect(applied.receipts).toBe(1);
    expect((await shop.messages('fay')).at(-1)).toMatchObject({ status: 'delivered' });
    expect(await shop.eventsOf('fay', 'Message Delivered')).toEqual([expect.objectContaining({ message_key: m?.message_key })]);
  });

  it('requires consent where the workspace says so', async () => {
    await rules({ requireConsent: ['sms'] });
    await shop.journey('consent promo', sender('Consent Promo', {}));
    await shop.identify('gus', { phone: '+12125550105' });
    expect(await trigger('gus', 'Consent Promo')).toMatchObject({ status: 'skipped', reason: 'no consent for sms' });
    await setSubscription(
      shop.store,
      shop.ws,
      shop.key('gus'),
      { channel: 'sms', topic: 'marketing', subscribed: true },
      'test',
      shop.clock.now(),
    );
    expect(await trigger('gus', 'Consent Promo')).toMatchObject({ status: 'sent' });
  });

  it('suppresses people who clicked none of their last N messages on a channel', async () => {
    await rules({ nonResponder: { channels: ['sms'], lastMessages: 2 } });
    await shop.journey('quiet person', sender('Nr Promo', {}));
    await shop.identify('hal', { phone: '+12125550106' });
    expect(await trigger('hal', 'Nr Promo')).toMatchObject({ status: 'sent' });
    expect(await trigger('hal', 'Nr Promo')).toMatchObject({ status: 'sent' });
    expect(await trigger('hal', 'Nr Promo')).toMatchObject({ status: 'skipped', reason: 'no response to the last 2 messages on sms' });
  });

  it('delivers at the person’s most active hour within the window', async () => {
    await rules({ sendTime: { mode: 'most_active_hour', windowHours: 24 } });
    await shop.journey('timed promo', sender('Timed Promo', {}));
    await shop.identify('ivy', { phone: '+12125550107', timezone: 'UTC' });
    // Ivy browses in the evening: the computed trait `active_hour` says 20.
    shop.clock.set(Date.parse('2026-03-10T09:30:00Z'));
    for (const day of [7, 8, 9]) await shop.track('ivy', 'Product Viewed', { product_id: 'p1' }, Date.parse(`2026-03-0${day}T20:15:00Z`));
    await refreshComputedTraits(shop.store, shop.ws, shop.clock.now());
    const m = await trigger('ivy', 'Timed Promo');
    expect(m).toMatchObject({ status: 'queued', reason: 'deferred: send time: most active hour 20:00 (UTC)' });
    shop.clock.set(Date.parse('2026-03-10T20:00:00Z'));
    await shop.dispatch();
    expect((await shop.messages('ivy')).at(-1)).toMatchObject({ status: 'sent' });
  });
});
