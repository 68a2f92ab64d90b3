import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertProducts } from '../src/commerce/index.ts';
import { bucketOf } from '../src/core/buckets.ts';
import { clickByToken, createTemplate, putChannelSettings, type TemplateDefinition } from '../src/messaging/index.ts';
import { engines } from './engines.ts';
import { DAY, HOUR, Shop } from './journey-fixtures.ts';
import { FcmMock } from './mock-providers/fcm.ts';
import { SmtpMock, type SmtpReceived } from './mock-providers/smtp.ts';
import { TwilioMock } from './mock-providers/twilio.ts';
import { WechatMock } from './mock-providers/wechat.ts';
import * as scenarios from './scenario-journeys.ts';
import { withSends } from './scenario-journeys.ts';

/**
 * The five journey scenarios end to end: journeys queue, the dispatcher renders and delivers, and
 * the messages arrive at real local servers — email over SMTP, SMS at a Twilio double, push at an
 * FCM double (OAuth2 included), WeChat at a WeChat double — or in the sandbox. The scenarios run one
 * after another on one shop (each with its own people), so each sees only its own journey at work.
 */

// ---------------------------------------------------------------------------------------------
// The journeys: the scenario tests' own, with channels and template names per channel.

/** Scenario 2: unpaid order (the coupon SMS to Twilio, the reminder push to FCM). */
const unpaidOrder = withSends(scenarios.unpaidOrder, {
  notice: { channel: 'sms', template: 'unpaid-coupon-sms' },
  reminder: { channel: 'push', template: 'unpaid-reminder-push' },
});
/** Scenario 1: first order (welcome email over SMTP, push and SMS reminders, picks by push). */
const firstOrder = withSends(scenarios.firstOrder, {
  'welcome-msg': { channel: 'email', template: 'welcome-coupon-email' },
  r1: { channel: 'push', template: 'first-reminder-push' },
  r3: { channel: 'sms', template: 'first-reminder-sms' },
  r15: { channel: 'sms', template: 'first-reminder-sms' },
  r30: { channel: 'sms', template: 'first-last-call-sms' },
  picks: { channel: 'push', template: 'first-picks-push' },
});
/** Scenario 3: interest group, everything to the sandbox. */
const interestGroup = scenarios.interestGroup;
const interestJourney = (segmentId: number) =>
  withSends(scenarios.interestJourney(segmentId), {
    sms: { channel: 'sandbox', template: 'interest-coupon-sms' },
    r6h: { channel: 'sandbox', template: 'interest-reminder-push' },
    r1d: { channel: 'sandbox', template: 'interest-reminder-push' },
    r3d: { channel: 'sandbox', template: 'interest-last-email' },
  });
/** Scenario 5: dormant recall (WeChat, email, WeChat with the coupon, SMS). */
const recall = (segmentId: number) =>
  withSends(scenarios.recall(segmentId), {
    d0: { channel: 'wechat', template: 'recall-wechat' },
    d7: { channel: 'email', template: 'recall-email' },
    'd14-msg': { channel: 'wechat', template: 'recall-coupon-wechat' },
    d28: { channel: 'sms', template: 'recall-last-sms' },
  });
/** Scenario 4: cross-sell (picks and the category coupon by push). */
const crossSell = withSends(scenarios.crossSell, {
  picks: { channel: 'push', template: 'xsell-picks-push' },
  tell: { channel: 'push', template: 'xsell-coupon-push' },
});

// ---------------------------------------------------------------------------------------------
// Templates: one per (name, channel); Liquid over the person, the trigger, the coupon and products.

const productList = '{% for p in products %}{{ p.name }}{% unless forloop.last %}, {% endunless %}{% endfor %}';
const templates: TemplateDefinition[] = [
  {
    name: 'unpaid-coupon-sms',
    channel: 'sms',
    fields: {
      text: 'Hi {{ person.traits.name }}, order {{ event.order_id }} ({{ event.total }}) is waiting. Pay with {{ coupon.code }} for {{ coupon.value }} off: https://shop.example/orders/{{ event.order_id }}',
    },
  },
  {
    name: 'unpaid-reminder-push',
    channel: 'push',
    fields: {
      title: 'Order {{ event.order_id }} is still unpaid',
      body: '{{ coupon.code }} still takes {{ coupon.value }} off',
      deepLink: 'shop://orders/{{ event.order_id }}',
    },
  },
  {
    name: 'welcome-coupon-email',
    channel: 'email',
    fields: {
      subject: 'Welcome, {{ person.traits.name }}: {{ coupon.value }} off your first order',
      html: '<p>Your code: <b>{{ coupon.code }}</b></p><a href="https://shop.example/new?coupon={{ coupon.code }}">Shop now</a> <a href="{{ unsubscribe_url }}">Unsubscribe</a>',
      text: 'Your code: {{ coupon.code }}',
    },
  },
  {
    name: 'first-reminder-push',
    channel: 'push',
    fields: {
      title: '{{ person.traits.name }}, your {{ coupon.value }} off is waiting',
      body: 'Use {{ coupon.code }} on your first order',
    },
  },
  {
    name: 'first-reminder-sms',
    channel: 'sms',
    fields: { text: '{{ person.traits.name }}, code {{ coupon.code }} still takes {{ coupon.value }} off: https://shop.example/new' },
  },
  { name: 'first-last-call-sms', channel: 'sms', fields: { text: 'Last call, {{ person.traits.name }}: {{ coupon.code }} expires soon' } },
  { name: 'first-picks-push', channel: 'push', fields: { title: 'Picked for you, {{ person.traits.name }}', body: productList } },
  {
    name: 'interest-coupon-sms',
    channel: 'sms',
    fields: { text: 'Still thinking it over, {{ person.traits.name }}? {{ coupon.code }} takes {{ coupon.value }} off' },
  },
  {
    name: 'interest-reminder-push',
    channel: 'push',
    fields: { title: 'Your cart, {{ person.traits.name }}', body: '{{ coupon.code }} is still valid' },
  },
  {
    name: 'interest-last-email',
    channel: 'email',
    fields: { subject: 'Last reminder: {{ coupon.code }}', html: '<p>{{ coupon.value }} off with {{ coupon.code }}</p>' },
  },
  {
    name: 'recall-wechat',
    channel: 'wechat',
    fields: {
      kind: 'template',
      templateId: 'TPL_RECALL',
      data: {
        first: '{{ person.traits.name }}, we miss you',
        keyword1: '{{ person.computed.order_count }} orders',
        keyword2: '{{ person.computed.total_spend }}',
      },
      url: 'https://shop.example/back',
    },
  },
  {
    name: 'recall-email',
    channel: 'email',
    fields: {
      subject: 'New since your last visit, {{ person.traits.name }}',
      html: '<p>It has been a while.</p><a href="https://shop.example/new">See what is new</a>',
    },
  },
  {
    name: 'recall-coupon-wechat',
    channel: 'wechat',
    fields: {
      kind: 'template',
      templateId: 'TPL_COUPON',
      data: {
        first: 'A gift for you, {{ person.traits.name }}',
        keyword1: '{{ coupon.code }}',
        keyword2: '{{ coupon.value }} off',
        remark: 'campaign {{ coupon.campaign }}',
      },
    },
  },
  {
    name: 'recall-last-sms',
    channel: 'sms',
    fields: { text: 'Last chance, {{ person.traits.name }}: {{ coupon.code }} still takes {{ coupon.value }} off' },
  },
  {
    name: 'xsell-picks-push',
    channel: 'push',
    fields: { title: 'Goes well with order {{ event.order_id }}', body: productList, deepLink: 'shop://products/{{ products.first.id }}' },
  },
  {
    name: 'xsell-coupon-push',
    channel: 'push',
    fields: { title: '{{ coupon.value }} off accessories', body: 'Use {{ coupon.code }}, {{ person.traits.name }}' },
  },
];

const catalog = [
  { product_id: 'tee', name: 'Classic Tee', category: 'Apparel > Tops > Tees', price: 10 },
  { product_id: 'mug', name: 'Mug', category: 'Home > Dining > Mugs', price: 12 },
  { product_id: 'phone-a', name: 'Phone A', category: 'Electronics > Phones > Smartphones', price: 500 },
  { product_id: 'phone-b', name: 'Phone B', category: 'Electronics > Phones > Smartphones', price: 400 },
  { product_id: 'buds', name: 'Earbuds', category: 'Electronics > Phones > Earphones', price: 50 },
  { product_id: 'watch', name: 'Watch', category: 'Electronics > Phones > Watches', price: 150 },
  { product_id: 'pan', name: 'Pan', category: 'Home > Kitchen > Pans', price: 30 },
];
const productName = new Map(catalog.map((p) => [p.product_id, p.name]));
const line = (product_id: string, price: number, quantity = 1) => ({ product_id, price, quantity });

/** Everyone's addresses on every channel, from their user id. */
const contact = (userId: string) => ({ email: `${userId}@example.com`, push: `device-${userId}`, openid: `o-${userId}` });
let phoneSeq = 100;
const phones = new Map<string, string>();
const phoneOf = (userId: string) => phones.get(userId) as string;

const rsa = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});

type Row = Awaited<ReturnType<Shop['messages']>>[number];
const trackedLink = /https:\/\/shop\.test\/c\/([\w.-]+)/;

describe.each(engines)('journey scenarios delivered through providers (%s)', (engine) => {
  let shop: Shop;
  const smtp = new SmtpMock();
  const twilio = new TwilioMock(`AC${'2'.repeat(32)}`, 'twilio-token');
  const wechat = new WechatMock('wxSHOP', 'wechat-secret');
  const fcm = new FcmMock({
    projectId: 'shop-app',
    clientEmail: 'push@shop-app.iam.gserviceaccount.com',
    publicKeyPem: rsa.publicKey,
    // Providers sign their token requests on the shop's virtual clock.
    now: () => shop.clock.now(),
  });

  // --- what arrived where
  const smsTo = (userId: string) => twilio.delivered.filter((d) => d.to === phoneOf(userId));
  const pushTo = (userId: string) => fcm.delivered.filter((d) => d.message['token'] === contact(userId).push);
  const pushFields = (d: (typeof fcm.delivered)[number]) => ({
    title: (d.message['notification'] as { title: string }).title,
    body: (d.message['notification'] as { body: string }).body,
    data: d.message['data'] as Record<string, string>,
  });
  const mailTo = (userId: string) => smtp.received.filter((m) => m.rcptTo.includes(contact(userId).email));
  const wechatTo = (userId: string) => wechat.delivered.filter((d) => d.body['touser'] === contact(userId).openid);
  const mailKey = (m: SmtpReceived) => /^<(.+)@shopflow>$/.exec(m.headers['message-id']?.[0] ?? '')?.[1];
  const counts = () => ({
    sms: twilio.delivered.length,
    push: fcm.delivered.length,
    email: smtp.received.length,
    wechat: wechat.delivered.length,
  });

  /** One round of the background work: segments, journeys, then the dispatcher. */
  const cycle = async () => {
    await shop.tick();
    await shop.dispatch();
  };
  /** Moves the clock forward in steps, running a cycle at each. */
  const run = async (ms: number, step: number) => {
    const end = shop.clock.now() + ms;
    while (shop.clock.now() < end) {
      shop.clock.set(Math.min(end, shop.clock.now() + step));
      await cycle();
    }
  };
  const coupons = async (journeyId: number, userId: string) =>
    new Map(
      (await shop.path(journeyId, userId)).map((p) => [
        p.key,
        (p.outbox.find((o) => o.action === 'coupon')?.payload as { code: string } | undefined)?.code as string,
      ]),
    );
  /** The (first) coupon code a person's journey issued. */
  const codeOf = async (journeyId: number, userId: string) => [...(await coupons(journeyId, userId)).values()][0] as string;
  const sentRows = async (userId: string) => (await shop.messages(userId)).filter((m) => m.status === 'sent');
  const byNode = (rows: Row[], nodeId: string) => rows.filter((r) => r.node_id === nodeId);

  /**
   * Nothing is sent twice: dispatching again sends nothing, every message sent has exactly one
   * Message Sent event, and every message is at its provider exactly once (by its key).
   */
  const expectSentOnce = async (userIds: string[]) => {
    const before = counts();
    expect(await shop.dispatch()).toBe(0);
    expect(counts()).toEqual(before);
    for (const userId of userIds) {
      const rows = await shop.messages(userId);
      expect(rows.filter((r) => r.status !== 'sent')).toEqual([]);
      const events = await shop.eventsOf(userId, 'Message Sent');
      expect(events.map((e) => String(e['message_key'])).sort()).toEqual(rows.map((r) => r.message_key).sort());
      for (const r of rows) {
        const event = events.find((e) => e['message_key'] === r.message_key);
        expect(event).toMatchObject({ channel: r.channel, provider: r.provider, node_id: r.node_id });
        const copies =
          r.provider === 'twilio'
            ? twilio.delivered.filter((d) => d.idempotencyToken === r.message_key).length
            : r.provider === 'fcm'
              ? fcm.delivered.filter((d) => (d.message['data'] as Record<string, string>)['message_key'] === r.message_key).length
              : r.provider === 'smtp'
                ? smtp.received.filter((m) => mailKey(m) === r.message_key).length
                : null;
        if (copies !== null) expect(copies, `${r.message_key} at ${r.provider}`).toBe(1);
      }
      const byProvider = (p: string) => rows.filter((r) => r.provider === p).length;
      expect(smsTo(userId)).toHaveLength(byProvider('twilio'));
      expect(pushTo(userId)).toHaveLength(byProvider('fcm'));
      expect(mailTo(userId)).toHaveLength(byProvider('smtp'));
      expect(wechatTo(userId)).toHaveLength(byProvider('wechat'));
    }
  };

  const identify = (userId: string, name: string) => {
    phones.set(userId, `+1415555${String(phoneSeq++).padStart(4, '0')}`);
    const c = contact(userId);
    return shop.identify(userId, { name, email: c.email, phone: phoneOf(userId), push_token: c.push, wechat_openid: c.openid });
  };

  beforeAll(async () => {
    shop = await Shop.open(engine);
    await Promise.all([smtp.start(), twilio.start(), wechat.start(), fcm.start()]);
    const now = shop.clock.now();
    await shop.store.transaction(async (tx) => {
      await putChannelSettings(
        tx,
        shop.ws,
        'email',
        {
          provider: 'smtp',
          config: { host: '127.0.0.1', port: smtp.port, secure: false, from: 'Shop <news@shop.example>' },
          ratePerSecond: null,
        },
        now,
      );
      await putChannelSettings(tx, shop.ws, 'sms', twilio.smsChannel(), now);
      await putChannelSettings(
        tx,
        shop.ws,
        'push',
        {
          provider: 'fcm',
          config: {
            serviceAccount: {
              type: 'service_account',
              project_id: 'shop-app',
              private_key_id: 'key-1',
              private_key: rsa.privateKey,
              client_email: 'push@shop-app.iam.gserviceaccount.com',
              token_uri: fcm.tokenUri,
            },
            baseUrl: fcm.baseUrl,
          },
          ratePerSecond: null,
        },
        now,
      );
      await putChannelSettings(
        tx,
        shop.ws,
        'wechat',
        { provider: 'wechat', config: { appId: wechat.appId, appSecret: wechat.appSecret, baseUrl: wechat.url }, ratePerSecond: null },
        now,
      );
    });
    for (const t of templates) await createTemplate(shop.store, shop.ws, t, now);
    await upsertProducts(shop.store, shop.ws, catalog as never, now);
  });
  afterAll(async () => {
    await shop?.dispose();
    await Promise.all([smtp.stop(), twilio.stop(), wechat.stop(), fcm.stop()]);
  });

  it('unpaid order: the coupon SMS reaches Twilio with its order and code; only the order left unpaid gets the FCM reminder', async () => {
    for (const [who, name] of [
      ['u-ann', 'Ann'],
      ['u-cat', 'Cat'],
    ] as const)
      await identify(who, name);
    const journeyId = await shop.journey('Unpaid order', unpaidOrder);
    await shop.track('u-ann', 'Order Placed', { order_id: 'A1', total: 120 });
    await shop.track('u-ann', 'Order Placed', { order_id: 'A2', total: 10 });
    await shop.track('u-cat', 'Order Placed', { order_id: 'C1', total: 500 });
    await cycle();
    const ann = await coupons(journeyId, 'u-ann');
    const cat = await coupons(journeyId, 'u-cat');
    const sms = (userId: string, order: string) => {
      const found = smsTo(userId).filter((d) => d.body.includes(`order ${order} `));
      expect(found, `SMS about ${order}`).toHaveLength(1);
      return found[0]!;
    };
    for (const [userId, name, order, total, code, value] of [
      ['u-ann', 'Ann', 'A1', 120, ann.get('A1'), 15],
      ['u-ann', 'Ann', 'A2', 10, ann.get('A2'), 5],
      ['u-cat', 'Cat', 'C1', 500, cat.get('C1'), 40],
    ] as const) {
      expect(code).toMatch(/\w{4,}/);
      const d = sms(userId, order);
      expect(d.from).toBe('+15005550006');
      expect(d.body).toMatch(
        new RegExp(
          `^Hi ${name}, order ${order} \\(${total}\\) is waiting\\. Pay with ${code} for ${value} off: https://shop\\.test/c/[\\w.-]+$`,
        ),
      );
    }
    expect(smsTo('u-ann')).toHaveLength(2);
    // The stored content is what went out; the link is tracked, its target kept.
    const [a1] = (await sentRows('u-ann')).filter((r) =>
      String((r.content?.['fields'] as { text?: string } | undefined)?.text).includes('order A1 '),
    );
    expect(a1).toMatchObject({ channel: 'sms', provider: 'twilio', address: phoneOf('u-ann') });
    expect(a1?.content?.['links']).toEqual(['https://shop.example/orders/A1']);
    expect(fcm.delivered).toHaveLength(0);

    // An hour later ann pays A2 (not A1), cat pays C1 with her coupon.
    shop.clock.advance(HOUR);
    await shop.track('u-ann', 'Order Completed', { order_id: 'A2', total: 10 });
    await shop.track('u-cat', 'Order Completed', { order_id: 'C1', total: 460, coupon: cat.get('C1') });
    await run(5 * HOUR, HOUR);
    const [reminder] = pushTo('u-ann');
    expect(pushTo('u-ann')).toHaveLength(1);
    expect(pushFields(reminder!)).toEqual({
      title: 'Order A1 is still unpaid',
      body: `${ann.get('A1')} still takes 15 off`,
      data: { message_key: byNode(await sentRows('u-ann'), 'reminder')[0]?.message_key, deep_link: 'shop://orders/A1' },
    });
    expect(pushTo('u-cat')).toEqual([]);
    // Nothing more later.
    const after = counts();
    await run(5 * HOUR, HOUR);
    expect(counts()).toEqual(after);
    expect((await sentRows('u-ann')).map((r) => r.provider)).toEqual(['twilio', 'twilio', 'fcm']);
    await expectSentOnce(['u-ann', 'u-cat']);
  });

  it('first order: the welcome email arrives over SMTP with its subject, List-Unsubscribe and tracked links; reminders and picks follow', async () => {
    for (const [who, name] of [
      ['f-ann', 'Ann'],
      ['f-bob', 'Bob'],
      ['f-cat', 'Cat'],
    ] as const)
      await identify(who, name);
    // Some shop history, so "bestsellers" has something to recommend.
    await shop.track(
      'f-old',
      'Order Completed',
      { order_id: 'O1', total: 42, products: [line('tee', 10, 3), line('mug', 12)] },
      shop.clock.now() - 5 * DAY,
    );
    const journeyId = await shop.journey('First order', firstOrder);
    for (const who of ['f-ann', 'f-bob', 'f-cat']) await shop.track(who, 'Signed Up');
    await cycle();
    const code = (userId: string) => codeOf(journeyId, userId);

    for (const [who, name] of [
      ['f-ann', 'Ann'],
      ['f-bob', 'Bob'],
      ['f-cat', 'Cat'],
    ] as const) {
      const [row] = await sentRows(who);
      expect(row).toMatchObject({ node_id: 'welcome-msg', channel: 'email', provider: 'smtp', address: contact(who).email });
      const c = await code(who);
      const [mail] = mailTo(who);
      expect(mailTo(who)).toHaveLength(1);
      expect(mail!.mailFrom).toBe('news@shop.example');
      expect(mail!.headers['from']).toEqual(['Shop <news@shop.example>']);
      expect(mail!.headers['subject']).toEqual([`Welcome, ${name}: 10 off your first order`]);
      expect(mail!.headers['message-id']).toEqual([`<${row!.message_key}@shopflow>`]);
      const unsubscribe = String(row!.content?.['unsubscribe_url']);
      expect(unsubscribe).toMatch(/^https:\/\/shop\.test\/u\/[\w-]+\.[\w-]+$/);
      expect(mail!.headers['list-unsubscribe']).toEqual([`<${unsubscribe}>`]);
      expect(mail!.headers['list-unsubscribe-post']).toEqual(['List-Unsubscribe=One-Click']);
      expect(mail!.parts.map((p) => p.contentType)).toEqual(['text/plain', 'text/html']);
      expect(mail!.parts[0]!.body.trim()).toBe(`Your code: ${c}`);
      const html = mail!.parts[1]!.body;
      expect(html).toContain(`<b>${c}</b>`);
      expect(html).toMatch(/<a href="https:\/\/shop\.test\/c\/[\w-]+\.[\w-]+">Shop now<\/a>/);
      expect(html).toContain(`<a href="${unsubscribe}">Unsubscribe</a>`);
      expect(row!.content?.['links']).toEqual([`https://shop.example/new?coupon=${c}`]);
    }

    // Day 1: a push reminder to all three; ann then orders with her coupon.
    await run(DAY + HOUR, 12 * HOUR);
    for (const [who, name] of [
      ['f-ann', 'Ann'],
      ['f-bob', 'Bob'],
      ['f-cat', 'Cat'],
    ] as const) {
      expect(pushTo(who).map(pushFields)).toEqual([
        {
          title: `${name}, your 10 off is waiting`,
          body: `Use ${await code(who)} on your first order`,
          data: { message_key: byNode(await sentRows(who), 'r1')[0]?.message_key },
        },
      ]);
    }
    await shop.track('f-ann', 'Order Completed', { order_id: 'FA1', total: 45, coupon: await code('f-ann') });
    await run(HOUR, HOUR);

    // Day 3: SMS reminders; cat clicks the tracked link in hers.
    await run(2 * DAY, 12 * HOUR);
    expect(smsTo('f-ann')).toEqual([]);
    for (const [who, name] of [
      ['f-bob', 'Bob'],
      ['f-cat', 'Cat'],
    ] as const) {
      expect(smsTo(who).map((d) => d.body)).toEqual([
        expect.stringMatching(new RegExp(`^${name}, code ${await code(who)} still takes 10 off: https://shop\\.test/c/[\\w.-]+$`)),
      ]);
    }
    const token = trackedLink.exec(smsTo('f-cat')[0]!.body)?.[1] ?? '';
    expect(await clickByToken(shop.store, token, shop.clock.now())).toBe('https://shop.example/new');

    // Day 15: the third reminder; day 30: bob (silent) gets picks, cat (who clicked) the last call.
    await run(12 * DAY, DAY);
    expect(smsTo('f-bob')).toHaveLength(2);
    expect(smsTo('f-cat')).toHaveLength(2);
    await run(16 * DAY, DAY);
    const bobPush = pushTo('f-bob').map(pushFields);
    expect(bobPush).toHaveLength(2);
    expect(bobPush[1]).toEqual({
      title: 'Picked for you, Bob',
      body: 'Classic Tee, Mug',
      data: { message_key: byNode(await sentRows('f-bob'), 'picks')[0]?.message_key },
    });
    expect(smsTo('f-bob')).toHaveLength(2);
    expect(smsTo('f-cat').map((d) => d.body)[2]).toBe(`Last call, Cat: ${await code('f-cat')} expires soon`);
    expect(pushTo('f-cat')).toHaveLength(1);
    expect(mailTo('f-ann')).toHaveLength(1);
    expect(pushTo('f-ann')).toHaveLength(1);
    expect((await sentRows('f-bob')).map((r) => `${r.node_id}:${r.provider}`)).toEqual([
      'welcome-msg:smtp',
      'r1:fcm',
      'r3:twilio',
      'r15:twilio',
      'picks:fcm',
    ]);
    expect((await sentRows('f-cat')).map((r) => `${r.node_id}:${r.provider}`)).toEqual([
      'welcome-msg:smtp',
      'r1:fcm',
      'r3:twilio',
      'r15:twilio',
      'r30:twilio',
    ]);
    await expectSentOnce(['f-ann', 'f-bob', 'f-cat']);
  });

  it('interest group through the sandbox: every message is recorded sent with its rendered content, and no provider hears of it', async () => {
    await identify('i-ann', 'Ann');
    await identify('i-dan', 'Dan');
    const now = shop.clock.now();
    await shop.track('i-ann', 'Product Added', { product_id: 'p1', price: 20 }, now - 5 * DAY);
    await shop.track('i-dan', 'Product Added', { product_id: 'p4' }, now - 20 * DAY);
    const before = counts();
    const segmentId = await shop.segment('Interest group', interestGroup as never);
    const journeyId = await shop.journey('Interest group', interestJourney(segmentId));
    await cycle();
    await run(3 * DAY + 6 * HOUR, 6 * HOUR);
    const code = await codeOf(journeyId, 'i-ann');
    const rows = await shop.messages('i-ann');
    expect(rows.map((r) => [r.node_id, r.status, r.channel, r.provider, r.address])).toEqual([
      ['sms', 'sent', 'sandbox', 'sandbox', 'i-ann'],
      ['r6h', 'sent', 'sandbox', 'sandbox', 'i-ann'],
      ['r1d', 'sent', 'sandbox', 'sandbox', 'i-ann'],
      ['r3d', 'sent', 'sandbox', 'sandbox', 'i-ann'],
    ]);
    expect(rows.map((r) => r.content?.['fields'])).toEqual([
      { text: `Still thinking it over, Ann? ${code} takes 8 off` },
      { title: 'Your cart, Ann', body: `${code} is still valid` },
      { title: 'Your cart, Ann', body: `${code} is still valid` },
      { subject: `Last reminder: ${code}`, html: `<p>8 off with ${code}</p>` },
    ]);
    expect(rows.map((r) => r.content?.['template'])).toEqual([
      'interest-coupon-sms',
      'interest-reminder-push',
      'interest-reminder-push',
      'interest-last-email',
    ]);
    const events = await shop.eventsOf('i-ann', 'Message Sent');
    expect(events.map((e) => e['provider_message_id']).sort()).toEqual(rows.map((r) => `sandbox-${r.message_key}`).sort());
    expect(await shop.messages('i-dan')).toEqual([]);
    expect(counts()).toEqual(before);
    await expectSentOnce(['i-ann', 'i-dan']);
  });

  it('dormant recall: WeChat template messages with their data fields, an email and an SMS to the test group; nothing to the holdout', async () => {
    const people = Array.from({ length: 8 }, (_, i) => `d-p${i}`);
    for (const [i, userId] of people.entries()) await identify(userId, `P${i}`);
    for (const [i, userId] of people.entries()) {
      await shop.store.query(
        `INSERT INTO computed_traits (workspace_id, user_key, order_count, total_spend, lifecycle, computed_at) VALUES ($1, $2, 3, $3, 'dormant', $4)`,
        [shop.ws, shop.key(userId), i % 2 === 0 ? 900 : 50, shop.clock.now()],
      );
    }
    const segmentId = await shop.segment('Dormant high value', {
      type: 'and',
      conditions: [
        { type: 'computed', trait: 'lifecycle', op: 'eq', value: 'dormant' },
        { type: 'computed', trait: 'total_spend', op: 'gte', value: 500 },
      ],
    } as never);
    const journeyId = await shop.journey('Dormant recall', recall(segmentId));
    const highValue = people.filter((_, i) => i % 2 === 0);
    const holdout = highValue.filter((p) => bucketOf(shop.key(p), `journey:${journeyId}`) < 10);
    const treated = highValue.filter((p) => !holdout.includes(p));
    expect(treated.length).toBeGreaterThanOrEqual(2);
    await cycle();

    for (const who of treated) {
      const i = people.indexOf(who);
      expect(wechatTo(who).map((d) => ({ kind: d.kind, body: d.body }))).toEqual([
        {
          kind: 'template',
          body: {
            touser: contact(who).openid,
            template_id: 'TPL_RECALL',
            url: 'https://shop.example/back',
            data: { first: { value: `P${i}, we miss you` }, keyword1: { value: '3 orders' }, keyword2: { value: '900' } },
          },
        },
      ]);
    }
    await run(10 * DAY, DAY);
    const [buyer, ...rest] = treated;
    await shop.track(buyer!, 'Order Completed', { order_id: `o-${buyer}`, total: 100 });
    await run(19 * DAY, DAY);

    for (const who of rest) {
      const i = people.indexOf(who);
      const code = await codeOf(journeyId, who);
      expect(code).toMatch(/\w{4,}/);
      const messages = wechatTo(who);
      expect(messages).toHaveLength(2);
      expect(messages[1]!.body).toEqual({
        touser: contact(who).openid,
        template_id: 'TPL_COUPON',
        data: {
          first: { value: `A gift for you, P${i}` },
          keyword1: { value: code },
          keyword2: { value: '20 off' },
          remark: { value: 'campaign recall' },
        },
      });
      const [mail] = mailTo(who);
      expect(mail!.headers['subject']).toEqual([`New since your last visit, P${i}`]);
      expect(mail!.headers['list-unsubscribe']?.[0]).toMatch(/^<https:\/\/shop\.test\/u\/[\w.-]+>$/);
      expect(mail!.parts.find((p) => p.contentType === 'text/html')?.body).toMatch(
        /href="https:\/\/shop\.test\/c\/[\w.-]+">See what is new/,
      );
      expect(smsTo(who).map((d) => d.body)).toEqual([`Last chance, P${i}: ${code} still takes 20 off`]);
      const rows = await sentRows(who);
      expect(rows.map((r) => `${r.node_id}:${r.provider}`)).toEqual(['d0:wechat', 'd7:smtp', 'd14-msg:wechat', 'd28:twilio']);
      // Day 0, 7, 14 and 28 after the first.
      const at = (await shop.path(journeyId, who))[0]!.outbox.filter((o) => o.action !== 'coupon').map((o) => o.at);
      expect(at.map((t) => Math.round((t - at[0]!) / DAY))).toEqual([0, 7, 14, 28]);
    }
    // The buyer left after day 7's email; the holdout and the low-value people got nothing anywhere.
    expect((await sentRows(buyer!)).map((r) => r.node_id)).toEqual(['d0', 'd7']);
    expect(wechatTo(buyer!)).toHaveLength(1);
    for (const who of [...holdout, ...people.filter((p) => !highValue.includes(p))]) {
      expect(await shop.messages(who)).toEqual([]);
      expect([wechatTo(who), mailTo(who), smsTo(who), pushTo(who)].flat()).toEqual([]);
    }
    await expectSentOnce(people);
  });

  it('cross-sell: the recommendation push at FCM names the products, and the category coupon follows a view without a purchase', async () => {
    for (const [who, name] of [
      ['x-ann', 'Ann'],
      ['x-bob', 'Bob'],
      ['x-cat', 'Cat'],
    ] as const)
      await identify(who, name);
    // Earbuds sell best, then the watch: the order recommendations come in.
    const past = shop.clock.now() - 10 * DAY;
    await shop.track('x-x', 'Order Completed', { order_id: 'X1', total: 100, products: [line('buds', 50), line('buds', 50)] }, past);
    await shop.track('x-y', 'Order Completed', { order_id: 'Y1', total: 180, products: [line('watch', 150), line('pan', 30)] }, past);
    const journeyId = await shop.journey('Cross-sell', crossSell);
    await shop.track('x-ann', 'Order Completed', { order_id: 'XA1', total: 500, products: [line('phone-a', 500)] });
    await shop.track('x-bob', 'Order Completed', { order_id: 'XB1', total: 500, products: [line('phone-a', 500)] });
    await shop.track('x-cat', 'Order Completed', { order_id: 'XC1', total: 30, products: [line('pan', 30)] });
    await cycle();

    for (const [who, order] of [
      ['x-ann', 'XA1'],
      ['x-bob', 'XB1'],
      ['x-cat', 'XC1'],
    ] as const) {
      const picks = await shop.outboxRow(journeyId, who, 'picks');
      const ids = picks.payload['products'] as string[];
      expect(ids).toHaveLength(2);
      expect(pushTo(who).map(pushFields)).toEqual([
        {
          title: `Goes well with order ${order}`,
          body: ids.map((id) => productName.get(id)).join(', '),
          data: { message_key: picks.message_key, deep_link: `shop://products/${ids[0]}` },
        },
      ]);
    }
    // Same category first (phone → earphones, watch), bestsellers first.
    expect(pushFields(pushTo('x-ann')[0]!).body).toBe('Earbuds, Watch');
    expect(pushFields(pushTo('x-bob')[0]!).body).toBe('Earbuds, Watch');

    const annPicks = await shop.outboxRow(journeyId, 'x-ann', 'picks');
    const bobPicks = await shop.outboxRow(journeyId, 'x-bob', 'picks');
    await run(2 * DAY, DAY);
    await shop.track('x-ann', 'Product Viewed', { product_id: 'buds', recommendation_id: annPicks.message_key });
    await shop.track('x-bob', 'Product Viewed', { product_id: 'watch', recommendation_id: bobPicks.message_key });
    await shop.track('x-bob', 'Order Completed', { order_id: 'XB2', total: 150, products: [line('watch', 150)] });
    await shop.track('x-cat', 'Product Viewed', { product_id: 'buds' });
    await run(14 * DAY, DAY);

    const code = (await shop.outboxRow(journeyId, 'x-ann', 'coupon')).payload['code'];
    expect(pushTo('x-ann').map(pushFields)[1]).toEqual({
      title: '5 off accessories',
      body: `Use ${code}, Ann`,
      data: { message_key: (await shop.outboxRow(journeyId, 'x-ann', 'tell')).message_key },
    });
    expect(pushTo('x-ann')).toHaveLength(2);
    expect(pushTo('x-bob')).toHaveLength(1);
    expect(pushTo('x-cat')).toHaveLength(1);
    // The shop's history buyers were not enrolled (their orders predate the journey).
    expect(await shop.messages('x-x')).toEqual([]);
    await expectSentOnce(['x-ann', 'x-bob', 'x-cat']);
  });

  it('over all five: every message sent was delivered once, with one Message Sent event, and a last dispatch sends nothing', async () => {
    const before = counts();
    expect(await shop.dispatch()).toBe(0);
    expect(counts()).toEqual(before);
    const rows = await shop.store.query<{ status: string; provider: string | null; n: number }>(
      `SELECT status, provider, count(*) AS n FROM outbox WHERE workspace_id = $1 AND action <> 'coupon' GROUP BY status, provider ORDER BY provider`,
      [shop.ws],
    );
    expect(rows.map((r) => [r.status, r.provider, Number(r.n)])).toEqual([
      ['sent', 'fcm', before.push],
      ['sent', 'sandbox', 4],
      ['sent', 'smtp', before.email],
      ['sent', 'twilio', before.sms],
      ['sent', 'wechat', before.wechat],
    ]);
    const [events] = await shop.store.query<{ n: number; keys: number }>(
      `SELECT count(*) AS n, count(DISTINCT CAST(properties ->> 'message_key' AS TEXT)) AS keys FROM events WHERE workspace_id = $1 AND event = 'Message Sent'`,
      [shop.ws],
    );
    const total = before.push + before.email + before.sms + before.wechat + 4;
    expect([Number(events!.n), Number(events!.keys)]).toEqual([total, total]);
    // Keyed providers got each message key once.
    const keys = [
      ...twilio.delivered.map((d) => d.idempotencyToken),
      ...fcm.delivered.map((d) => (d.message['data'] as Record<string, string>)['message_key']),
      ...smtp.received.map(mailKey),
    ];
    expect(new Set(keys).size).toBe(keys.length);
    expect(fcm.tokensRefused).toBe(0);
  });
});
