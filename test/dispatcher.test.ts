import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTemplate, putChannelSettings } from '../src/messaging/index.ts';
import { engines } from './engines.ts';
import { HOUR, Shop } from './journey-fixtures.ts';
import { json, MockServer } from './mock-providers/mock-server.ts';

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
  beforeAll(async () => {
    shop = await Shop.open(engine);
    await hook.start();
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
});
