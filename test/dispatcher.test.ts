import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPartial, createTemplate, putChannelSettings } from '../src/messaging/index.ts';
import { engines } from './engines.ts';
import { HOUR, Shop } from './journey-fixtures.ts';
import { json, MockServer } from './mock-providers/mock-server.ts';
import { TwilioMock } from './mock-providers/twilio.ts';

const secret = `whsec_${Buffer.from('a-secret-of-at-least-24-bytes!!').toString('base64')}`;

/** A journey that sends one message on sign-up (channel and options per test). */
const welcome = (send: Record<string, unknown>) => ({
  nodes: [
    { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Signed Up' } },
    { id: 'msg', type: 'send', ...send },
  ],
  edges: [{ from: 'in', to: 'msg' }],
});

describe.each(engines)('dispatcher (%s)', (engine) => {
  let shop: Shop;
  const hook = new MockServer((req, res) => json(res, 200, { id: `wh-${req.headers['webhook-id']}` }));
  const twilio = new TwilioMock(`AC${'1'.repeat(32)}`, 'twilio-token');
  beforeAll(async () => {
    shop = await Shop.open(engine);
    await hook.start();
    await twilio.start();
    const now = shop.clock.now();
    await createTemplate(
      shop.store,
      shop.ws,
      {
        name: 'welcome-email',
        channel: 'email',
        fields: {
          subject: 'Welcome, {{ person.traits.name }}',
          html: '<p>Hi {{ person.traits.name }}</p><a href="https://shop.example/new?a=1&amp;b=2">New in</a> <a href="{{ unsubscribe_url }}">unsubscribe</a>',
        },
      },
      now,
    );
    await createTemplate(
      shop.store,
      shop.ws,
      { name: 'welcome-sms', channel: 'sms', fields: { text: 'Hi {{ person.traits.name }}, see https://shop.example/new' } },
      now,
    );
    await createTemplate(
      shop.store,
      shop.ws,
      { name: 'order-hook', channel: 'webhook', fields: { body: '{"user": {{ person.user_id }}}' } },
      now,
    );
  });
  afterAll(async () => {
    await shop.dispose();
    await hook.stop();
    await twilio.stop();
  });

  it('renders, records and sends once through the sandbox, with tracked links, an unsubscribe link and a Message Sent event', async () => {
    await shop.journey('welcome email', welcome({ channel: 'email', template: 'welcome-email' }));
    await shop.identify('ann', { name: 'Ann', email: 'ann@example.com' });
    await shop.track('ann', 'Signed Up');
    await shop.tick();
    expect(await shop.dispatch()).toBe(1);
    const [m] = await shop.messages('ann');
    expect(m).toMatchObject({ status: 'sent', channel: 'email', provider: 'sandbox', address: 'ann@example.com', attempts: 1 });
    const fields = m?.content?.fields as Record<string, string>;
    expect(fields.subject).toBe('Welcome, Ann');
    expect(fields.html).toMatch(/href="https:\/\/shop\.test\/c\/[\w-]+\.[\w-]+"/);
    expect(fields.html).toMatch(/href="https:\/\/shop\.test\/u\/[\w-]+\.[\w-]+">unsubscribe/);
    expect(m?.content?.links).toEqual(['https://shop.example/new?a=1&b=2']);
    expect(await shop.eventsOf('ann', 'Message Sent')).toEqual([
      expect.objectContaining({ message_key: m?.message_key, channel: 'email', provider: 'sandbox' }),
    ]);
    expect(await shop.dispatch()).toBe(0);
    expect(await shop.eventsOf('ann', 'Message Sent')).toHaveLength(1);
  });

  it('gives templates computed traits when a partial reads them, though the batch loads them only when something does', async () => {
    const now = shop.clock.now();
    await createPartial(
      shop.store,
      shop.ws,
      { name: 'standing', source: '{{ person.computed.lifecycle }} ({{ person.computed.order_count }})' },
      now,
    );
    await createTemplate(
      shop.store,
      shop.ws,
      { name: 'standing-sms', channel: 'sms', fields: { text: "You are {% render 'standing', person: person %}" } },
      now,
    );
    await shop.journey('standing', welcome({ channel: 'sandbox', template: 'standing-sms' }));
    await shop.identify('kim', { name: 'Kim', phone: '+12025550177' });
    await shop.store.query(
      `INSERT INTO computed_traits (workspace_id, user_key, order_count, total_spend, lifecycle, computed_at) VALUES ($1, $2, 4, 120, 'loyal', $3)`,
      [shop.ws, shop.key('kim'), now],
    );
    await shop.track('kim', 'Signed Up');
    await shop.tick();
    await shop.dispatch();
    // The earlier tests' sign-up journey tried to email Kim too (no address: skipped).
    const m = (await shop.messages('kim')).find((r) => r.status === 'sent');
    expect((m?.content?.fields as Record<string, string> | undefined)?.text).toBe('You are loyal (4)');
  });

  it('gives templates the identities they name, though a batch loads only those its channels and templates use', async () => {
    const now = shop.clock.now();
    await createPartial(shop.store, shop.ws, { name: 'member-card', source: 'card {{ person.member_no }}' }, now);
    await createTemplate(
      shop.store,
      shop.ws,
      { name: 'ids-sms', channel: 'sms', fields: { text: "{{ person.email }}, {% render 'member-card', person: person %}" } },
      now,
    );
    await shop.journey('ids', welcome({ channel: 'sms', template: 'ids-sms' }));
    await shop.identify('lou', { name: 'Lou', phone: '+12025550188', email: 'Lou@Example.com', member_no: 'M-88' });
    await shop.track('lou', 'Signed Up');
    await shop.tick();
    await shop.dispatch();
    // The earlier tests' sign-up journeys message Lou too (the sandbox, an email): this is the SMS.
    const m = (await shop.messages('lou')).find((r) => r.channel === 'sms' && r.node_id === 'msg' && r.status === 'sent');
    expect(m?.address).toBe('+12025550188');
    expect((m?.content?.fields as Record<string, string> | undefined)?.text).toMatch(/^lou@example\.com, card M-88/);
  });

  it('calls a webhook node signed (Standard Webhooks), retries a 503 after a backoff, and keeps one idempotency key', async () => {
    const now = shop.clock.now();
    await shop.store.transaction((tx) =>
      putChannelSettings(tx, shop.ws, 'webhook', { provider: 'webhook', config: { secret }, ratePerSecond: null }, now),
    );
    await shop.journey('order hook', {
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Order Placed' } },
        { id: 'erp', type: 'webhook', url: `${hook.url}/erp`, body: { kind: 'order' } },
      ],
      edges: [{ from: 'in', to: 'erp' }],
    });
    await shop.track('bob', 'Order Placed', { order_id: 'o1', total: 50 });
    await shop.tick();
    hook.misbehave({ kind: 'status', status: 503 });
    const before = hook.received.length;
    await shop.dispatch();
    let [m] = await shop.messages('bob');
    expect(m).toMatchObject({ status: 'queued', attempts: 1, provider: 'webhook' });
    expect(m?.reason).toMatch(/^retrying: HTTP 503/);
    // Not due before the backoff (at least half of 30 s).
    expect(await shop.dispatch()).toBe(0);
    await shop.advance(HOUR);
    await shop.dispatch();
    [m] = await shop.messages('bob');
    expect(m).toMatchObject({ status: 'sent', attempts: 2 });
    const calls = hook.received.slice(before);
    expect(calls).toHaveLength(2);
    expect(new Set(calls.map((c) => c.headers['webhook-id']))).toEqual(new Set([m?.message_key]));
    const last = calls[1];
    // The signature is over id.timestamp.body (the timestamp is the virtual clock's, so verify by re-signing).
    const at = new Date(Number(last?.headers['webhook-timestamp']) * 1000);
    expect(last?.headers['webhook-signature']).toBe(new Webhook(secret).sign(String(m?.message_key), at, last?.body ?? ''));
    expect(JSON.parse(last?.body ?? '')).toEqual({ kind: 'order' });
  });

  it('dead-letters a permanent failure with its reason and a Message Failed event; a vanished template fails without a call', async () => {
    const now = shop.clock.now();
    await shop.store.transaction((tx) => putChannelSettings(tx, shop.ws, 'sms', twilio.smsChannel(), now));
    await shop.journey('sms welcome', {
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Member Joined' } },
        { id: 'hi', type: 'send', channel: 'sms', template: 'welcome-sms' },
        { id: 'oops', type: 'send', channel: 'sms', template: 'vanished-template' },
      ],
      edges: [
        { from: 'in', to: 'hi' },
        { from: 'hi', to: 'oops' },
      ],
    });
    // Publishing refuses a missing template and the API will not delete one in use; a row removed
    // behind their back (by hand, or by another process between check and delete) still fails cleanly.
    await shop.store.query(`DELETE FROM templates WHERE workspace_id = $1 AND name = 'vanished-template'`, [shop.ws]);
    twilio.optedOut.add('+14155550199');
    await shop.identify('cat', { name: 'Cat', phone: '+14155550199' });
    await shop.track('cat', 'Member Joined');
    await shop.tick();
    await shop.dispatch();
    const rows = await shop.messages('cat');
    expect(rows.map((r) => [r.node_id, r.status])).toEqual([
      ['hi', 'failed'],
      ['oops', 'failed'],
    ]);
    expect(rows[0]?.reason).toMatch(/21610/);
    expect(rows[1]?.reason).toMatch(/no template named "vanished-template"/);
    const failed = await shop.eventsOf('cat', 'Message Failed');
    expect(failed.map((e) => e.node_id).sort()).toEqual(['hi', 'oops']);
  });

  it('falls back along the node’s channels: no address skips a channel, a permanent failure moves to the next', async () => {
    await shop.journey('fallback', {
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Cart Abandoned' } },
        {
          id: 'nudge',
          type: 'send',
          channel: 'push',
          template: 'welcome-push',
          fallback: [
            { channel: 'sms', template: 'welcome-sms' },
            { channel: 'email', template: 'welcome-email' },
          ],
        },
      ],
      edges: [{ from: 'in', to: 'nudge' }],
    });
    // No push token (push skipped), a phone Twilio refuses (sms fails for good), an email (sent).
    twilio.optedOut.add('+14155550198');
    await shop.identify('dan', { name: 'Dan', phone: '+14155550198', email: 'dan@example.com' });
    await shop.track('dan', 'Cart Abandoned');
    await shop.tick();
    await shop.dispatch();
    await shop.dispatch();
    const [m] = await shop.messages('dan');
    expect(m).toMatchObject({ status: 'sent', channel: 'email', address: 'dan@example.com' });
    const failed = await shop.eventsOf('dan', 'Message Failed');
    expect(failed).toEqual([expect.objectContaining({ channel: 'sms', message_key: m?.message_key })]);
    expect(await shop.eventsOf('dan', 'Message Sent')).toEqual([expect.objectContaining({ channel: 'email' })]);
  });

  it('skips a person with no address on any of the channels, with the reason', async () => {
    await shop.identify('eve', { name: 'Eve' });
    await shop.track('eve', 'Cart Abandoned');
    await shop.tick();
    await shop.dispatch();
    const [m] = await shop.messages('eve');
    expect(m).toMatchObject({ status: 'skipped', reason: 'no push address; no sms address; no email address' });
  });

  it('the background loop looks only when nudged, when a known message falls due, or after the idle poll', async () => {
    await shop.identify('gil', { name: 'Gil', email: 'gil@example.com' });
    await shop.dispatch();
    expect(await shop.dispatcher.tickWhenDue()).toBe(0); // the first background tick looks once
    const queue = (key: string, at: number) =>
      shop.store.query(
        `INSERT INTO outbox (workspace_id, message_key, journey_id, version, instance_id, node_id, user_key, action, channel, template, payload, status, transactional, attempts, created_at)
         VALUES ($1, $2, 99, 1, 0, 'm', $3, 'message', 'sandbox', 'welcome-email', '{"topic":"marketing"}', 'queued', FALSE, 0, $4)`,
        [shop.ws, key, shop.key('gil'), at],
      );
    // Queued behind its back (another process): not seen until the idle poll, unless nudged.
    await queue('bg-1', shop.clock.now());
    expect(await shop.dispatcher.tickWhenDue()).toBe(0);
    shop.dispatcher.nudge();
    expect(await shop.dispatcher.tickWhenDue()).toBe(1);
    await queue('bg-2', shop.clock.now());
    shop.clock.set(shop.clock.now() + shop.dispatcher.options.idlePollMs);
    expect(await shop.dispatcher.tickWhenDue()).toBe(1);
    // A message due later is looked for when it falls due.
    await queue('bg-3', shop.clock.now() + 60_000);
    shop.dispatcher.nudge();
    expect(await shop.dispatcher.tickWhenDue()).toBe(0);
    shop.clock.set(shop.clock.now() + 60_000);
    expect(await shop.dispatcher.tickWhenDue()).toBe(1);
  });
});
