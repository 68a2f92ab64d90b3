import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY, VirtualClock } from '../src/core/clock.ts';
import { AppError } from '../src/core/errors.ts';
import {
  defaultRenderLimits,
  type OutboxMessageLike,
  type RenderContext,
  renderMessage,
  renderTemplate,
  UNSUBSCRIBE_URL_PLACEHOLDER,
} from '../src/messaging/index.ts';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

const START = Date.UTC(2026, 2, 2, 8);

describe.each(engines)('message templates (%s)', (engine) => {
  let h: Harness;
  const clock = new VirtualClock(START);
  const call: Harness['admin'] = (method, url, body) => h.admin(method, url, body);
  const tracking = async (type: 'track' | 'identify', payload: Record<string, unknown>) => {
    const res = await h.server.app.inject({
      method: 'POST',
      url: `/v1/${type}`,
      headers: { authorization: h.writeAuth },
      payload: { timestamp: new Date(clock.now()).toISOString(), ...payload },
    });
    expect(res.statusCode).toBe(200);
  };
  const preview = (name: string, body: Record<string, unknown>) => call('POST', `/api/templates/${name}/preview`, body);
  /** Saves a template and previews it for ann. */
  const renderForAnn = async (name: string, channel: string, fields: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const saved = await call('POST', '/api/templates', { name, channel, fields });
    expect(saved.status, JSON.stringify(saved.body)).toBe(201);
    return preview(name, { userId: 'ann', ...extra });
  };

  beforeAll(async () => {
    h = await startHarness(engine, clock);
    const products = [
      {
        product_id: 'p1',
        name: 'Phone X',
        category: 'Electronics > Phones > Smartphones',
        price: 699,
        image_url: 'https://img.example/p1.jpg',
      },
      {
        product_id: 'p2',
        name: 'Earbuds',
        category: 'Electronics > Audio > Earbuds',
        price: 59.5,
        image_url: 'https://img.example/p2.jpg',
      },
      { product_id: 'p3', name: 'Case <Pro>', category: 'Electronics > Phones > Cases', price: 19 },
    ];
    expect((await call('POST', '/api/products', { products })).status).toBe(200);
    await tracking('identify', {
      userId: 'ann',
      traits: { first_name: 'Ann', bio: '<script>alert("x")</script>', email: 'Ann@Example.com', phone: '+8613812345678', tier: 'gold' },
    });
    await tracking('track', {
      userId: 'ann',
      event: 'Order Completed',
      properties: { order_id: 'A0', total: 699, products: [{ product_id: 'p1', price: 699, quantity: 1 }] },
    });
    for (const who of ['bob', 'cat']) {
      await tracking('track', {
        userId: who,
        event: 'Order Completed',
        properties: {
          order_id: `${who}-1`,
          total: 78.5,
          products: [
            { product_id: 'p2', price: 59.5, quantity: 2 },
            { product_id: 'p3', price: 19, quantity: 1 },
          ],
        },
      });
    }
    await h.server.ingest.flush();
    await h.server.profiles.tickWorkspace(h.keys.workspaceId);
  });
  afterAll(() => h.dispose());

  it('saves a template after parsing every field: syntax errors are 400 with the field path, line and column', async () => {
    const ok = await call('POST', '/api/templates', {
      name: 'order-sms',
      channel: 'sms',
      description: 'Order confirmation',
      fields: { text: 'Hi {{ person.traits.first_name }}, order {{ event.order_id }} is confirmed.' },
    });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ name: 'order-sms', channel: 'sms', fields: { text: expect.any(String) }, createdAt: START });

    const broken = await call('POST', '/api/templates', {
      name: 'broken',
      channel: 'email',
      fields: { subject: 'Hi {{ person.traits.first_name ', html: '<p>Hello</p>\n  {% if coupon %}<b>{{ coupon.code }}</b>' },
    });
    expect(broken.status).toBe(400);
    expect(broken.body).toMatchObject({ code: 'invalid_request', path: 'fields.subject' });
    expect(broken.body.errors.map((e: { path: string }) => e.path)).toEqual(['fields.subject', 'fields.html']);
    expect(broken.body.errors[1].message).toMatch(/not closed \(line 2, column 3\)/);

    const filter = await call('POST', '/api/templates', { name: 'f', channel: 'push', fields: { title: '{{ x | shout }}', body: 'b' } });
    expect(filter.body).toMatchObject({ code: 'invalid_request', path: 'fields.title' });
    expect(filter.body.message).toMatch(/undefined filter: shout/);

    const layout = await call('POST', '/api/templates', { name: 'l', channel: 'voice', fields: { script: "{% layout 'x' %}" } });
    expect(layout.body).toMatchObject({ code: 'invalid_request', path: 'fields.script' });

    // Fields belong to the channel.
    const wrongFields = await call('POST', '/api/templates', { name: 'w', channel: 'sms', fields: { subject: 'x', text: 'y' } });
    expect(wrongFields.status).toBe(400);
    const badName = await call('POST', '/api/templates', { name: 'a b', channel: 'sms', fields: { text: 'y' } });
    expect(badName.body).toMatchObject({ code: 'invalid_request', path: 'name' });
    expect((await call('GET', '/api/templates/broken')).status).toBe(404);

    const dupe = await call('POST', '/api/templates', { name: 'order-sms', channel: 'sms', fields: { text: 'again' } });
    expect(dupe.status).toBe(409);
  });

  it('lists, reads, replaces and deletes templates', async () => {
    await call('POST', '/api/templates', {
      name: 'wechat-paid',
      channel: 'wechat',
      fields: {
        templateId: 'TPL-1',
        data: { first: '{{ person.traits.first_name }}', keyword1: '{{ event.order_id }}' },
        url: 'https://m.example/o',
      },
    });
    const all = await call('GET', '/api/templates');
    expect(all.body.templates.map((t: { name: string }) => t.name)).toEqual(['order-sms', 'wechat-paid']);
    const wechat = await call('GET', '/api/templates?channel=wechat');
    expect(wechat.body.templates.map((t: { name: string }) => t.name)).toEqual(['wechat-paid']);

    clock.advance(1000);
    const put = await call('PUT', '/api/templates/order-sms', { channel: 'sms', fields: { text: 'Order {{ event.order_id }} confirmed' } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ name: 'order-sms', createdAt: START, updatedAt: START + 1000 });
    expect((await call('GET', '/api/templates/order-sms')).body.fields.text).toBe('Order {{ event.order_id }} confirmed');
    const rename = await call('PUT', '/api/templates/order-sms', { name: 'other', channel: 'sms', fields: { text: 'x' } });
    expect(rename.body).toMatchObject({ code: 'invalid_request', path: 'name' });
    const badPut = await call('PUT', '/api/templates/order-sms', { channel: 'sms', fields: { text: '{% for %}' } });
    expect(badPut.body).toMatchObject({ code: 'invalid_request', path: 'fields.text' });

    expect((await call('PUT', '/api/templates/nope', { channel: 'sms', fields: { text: 'x' } })).status).toBe(404);
    expect((await call('DELETE', '/api/templates/wechat-paid')).status).toBe(204);
    expect((await call('GET', '/api/templates/wechat-paid')).status).toBe(404);
    expect((await call('DELETE', '/api/templates/wechat-paid')).status).toBe(404);
    const nope = await call('GET', '/api/templates/nope');
    expect(nope.body).toMatchObject({ code: 'not_found', path: 'name' });
  });

  it('partials: saved per workspace, checked on save, rendered by name, refused deletion while in use', async () => {
    const bad = await call('POST', '/api/template-partials', { name: 'oops', source: '{% if x %}' });
    expect(bad.body).toMatchObject({ code: 'invalid_request', path: 'source' });
    const footer = await call('POST', '/api/template-partials', {
      name: 'footer',
      source: '<p class="f">{{ person.traits.first_name }} · <a href="{{ unsubscribe_url }}">unsubscribe</a></p>',
    });
    expect(footer.status).toBe(201);
    expect((await call('POST', '/api/template-partials', { name: 'footer', source: 'x' })).status).toBe(409);
    expect(
      (await call('POST', '/api/template-partials', { name: 'card', source: '[{{ product.name }} {{ product.price }}]' })).status,
    ).toBe(201);
    expect((await call('GET', '/api/template-partials')).body.partials.map((p: { name: string }) => p.name)).toEqual(['card', 'footer']);
    expect((await call('GET', '/api/template-partials/card')).body.source).toContain('product.name');

    const missing = await call('POST', '/api/templates', {
      name: 'uses-missing',
      channel: 'email',
      fields: { subject: 's', html: "{% render 'header' %}" },
    });
    expect(missing.body).toMatchObject({ code: 'invalid_request', path: 'fields.html', message: 'no partial named "header"' });

    const r = await renderForAnn(
      'with-footer',
      'email',
      {
        subject: 'Picks',
        html: "{% for p in products %}{% render 'card', product: p %}{% endfor %}\n{% include 'footer' %}",
      },
      { products: ['p2', 'p3'] },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.fields.html).toBe(
      `[Earbuds 59.5][Case &lt;Pro&gt; 19]\n<p class="f">Ann · <a href="${UNSUBSCRIBE_URL_PLACEHOLDER}">unsubscribe</a></p>`,
    );

    // An edited partial is what the next render uses.
    expect((await call('PUT', '/api/template-partials/card', { source: '<{{ product.id }}>' })).status).toBe(200);
    const again = await preview('with-footer', { userId: 'ann', products: ['p2'] });
    expect(again.body.fields.html.startsWith('<p2>')).toBe(true);

    const inUse = await call('DELETE', '/api/template-partials/card');
    expect(inUse.status).toBe(409);
    expect(inUse.body.message).toContain('template "with-footer"');
    expect((await call('PUT', '/api/template-partials/nope', { source: 'x' })).status).toBe(404);
    expect((await call('DELETE', '/api/template-partials/nope')).status).toBe(404);
    expect((await call('POST', '/api/template-partials', { name: 'unused', source: 'x' })).status).toBe(201);
    expect((await call('DELETE', '/api/template-partials/unused')).status).toBe(204);
  });

  it('preview renders every part of the context for a real person; email HTML escapes user data, text does not', async () => {
    const html = [
      '<h1>Hi {{ person.traits.first_name }}</h1>',
      '<p>{{ person.traits.bio }}</p>',
      '<p>{{ person.email }} {{ person.phone }} {{ person.user_id }} {{ person.traits.tier | upcase }}</p>',
      '<p>orders={{ person.computed.order_count }} spend={{ person.computed.total_spend }} last={{ person.computed.last_order_at | date: "%Y-%m-%d" }} lifecycle={{ person.computed.lifecycle }}</p>',
      '<p>order {{ event.order_id }}: {{ event.total }}</p>',
      '<p>{{ coupon.code }} worth {{ coupon.value }} until {{ coupon.expires_at | date: "%Y-%m-%d %H:%M" }}</p>',
      '{% for p in products %}<img src="{{ p.image_url }}" alt="{{ p.name }}">{{ p.category }} {{ p.price }};{% endfor %}',
      '<a href="{{ unsubscribe_url }}">x</a>{{ journey.id }}|{{ now }}',
    ].join('\n');
    const r = await renderForAnn(
      'everything',
      'email',
      { subject: 'Hi {{ person.traits.first_name }} <3', html, text: '{{ person.traits.bio }}' },
      {
        event: { order_id: 'A1', total: 120 },
        coupon: { code: 'SAVE15', value: 15, expires_at: '2026-03-09T08:00:00Z' },
        products: ['p1', 'p2', 'gone'],
      },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ template: 'everything', channel: 'email' });
    expect(r.body.fields.subject).toBe('Hi Ann <3');
    expect(r.body.fields.text).toBe('<script>alert("x")</script>');
    const lines = r.body.fields.html.split('\n');
    expect(lines[0]).toBe('<h1>Hi Ann</h1>');
    expect(lines[1]).toBe('<p>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</p>');
    expect(lines[2]).toBe('<p>ann@example.com +8613812345678 ann GOLD</p>');
    expect(lines[3]).toBe('<p>orders=1 spend=699 last=2026-03-02 lifecycle=new</p>');
    expect(lines[4]).toBe('<p>order A1: 120</p>');
    expect(lines[5]).toBe('<p>SAVE15 worth 15 until 2026-03-09 08:00</p>');
    expect(lines[6]).toBe(
      '<img src="https://img.example/p1.jpg" alt="Phone X">Electronics &gt; Phones &gt; Smartphones 699;' +
        '<img src="https://img.example/p2.jpg" alt="Earbuds">Electronics &gt; Audio &gt; Earbuds 59.5;',
    );
    expect(lines[7]).toBe(`<a href="${UNSUBSCRIBE_URL_PLACEHOLDER}">x</a>|${new Date(clock.now()).toISOString()}`);
    // The context the template saw comes back, so authors can see what is available.
    expect(r.body.context.person).toMatchObject({ user_id: 'ann', email: 'ann@example.com', traits: { tier: 'gold' } });
    expect(r.body.context.products.map((p: { id: string }) => p.id)).toEqual(['p1', 'p2']);

    // Any identity names the person, normalised as on ingest.
    const byEmail = await preview('everything', { identity: { type: 'email', value: 'ANN@example.com' } });
    expect(byEmail.status).toBe(200);
    expect(byEmail.body.fields.subject).toBe('Hi Ann <3');
    expect(byEmail.body.context).toMatchObject({ coupon: null, products: [], event: {} });
  });

  it('preview: 404 for an unknown person or template, 400 when nobody is named', async () => {
    expect(await preview('everything', { userId: 'nobody' })).toMatchObject({ status: 404, body: { code: 'not_found', path: 'userId' } });
    expect(await preview('nope', { userId: 'ann' })).toMatchObject({ status: 404, body: { code: 'not_found', path: 'name' } });
    expect(await preview('everything', {})).toMatchObject({ status: 400, body: { path: 'userId' } });
    expect(await preview('everything', { userId: 'ann', products: 'p1' })).toMatchObject({ status: 400, body: { path: 'products' } });
  });

  it('email bodies in MJML compile to responsive HTML when saved; Liquid inside renders per person; bad MJML is a 400 with the line', async () => {
    const mjml = `<mjml><mj-body><mj-section><mj-column>
      <mj-text>Hi {{ person.traits.first_name }}</mj-text>
      <mj-raw>{% for p in products %}<p class="pick">{{ p.name }}</p>{% endfor %}</mj-raw>
      <mj-button href="https://shop.example/">Shop now</mj-button>
    </mj-column></mj-section></mj-body></mjml>`;
    const r = await renderForAnn('mjml-news', 'email', { subject: 'News', mjml }, { products: ['p1'] });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.fields.html).toMatch(/<!doctype html>/i);
    expect(r.body.fields.html).toContain('Hi Ann');
    expect(r.body.fields.html).toMatch(/<p class="pick">[^<]+<\/p>/);
    const stored = await call('GET', '/api/templates/mjml-news');
    expect(stored.body.fields.mjml).toBe(mjml);
    const bad = await call('POST', '/api/templates', {
      name: 'mjml-bad',
      channel: 'email',
      fields: { subject: 'x', mjml: '<mjml><mj-body>\n<mj-section><mj-column><mj-foo/></mj-column></mj-section></mj-body></mjml>' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'invalid_request', path: 'fields.mjml' });
    expect(bad.body.message).toMatch(/^line 2: mj-foo/);
    const none = await call('POST', '/api/templates', { name: 'no-body', channel: 'email', fields: { subject: 'x' } });
    expect(none.body).toMatchObject({ code: 'invalid_request', path: 'fields.html' });
  });

  it('no prototype access: constructor and __proto__ probes render nothing', async () => {
    const probes = [
      '{{ person.constructor }}',
      '{{ person.traits.__proto__ }}',
      '{{ person["constructor"]["constructor"] }}',
      '{{ products.constructor }}',
      '{{ "abc".constructor }}',
      '{{ event.order_id.constructor.name }}',
      '{{ person | map: "constructor" }}',
      '{{ products | map: "__proto__" | map: "toString" }}',
      '{{ coupon.value.toFixed }}',
      '{{ person.traits.hasOwnProperty }}',
    ].join('|');
    const r = await renderForAnn(
      'probes',
      'sms',
      { text: probes },
      { event: { order_id: 'A1' }, coupon: { code: 'C', value: 1 }, products: ['p1'] },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.fields.text).toBe('|||||||||');
  });

  it('hostile templates fail quickly with a clear error naming the field, and the server keeps answering', async () => {
    expect((await call('POST', '/api/template-partials', { name: 'loop', source: "again {% render 'loop' %}" })).status).toBe(201);
    const hostile: [string, Record<string, unknown>, RegExp][] = [
      ['huge-range', { title: 'ok', body: '{% for i in (1..1000000000) %}x{% endfor %}' }, /too much data/],
      [
        'slow-loops',
        {
          title: 'ok',
          body: '{% for i in (1..2000) %}{% for j in (1..2000) %}{% for k in (1..2000) %}{{ k }}{% endfor %}{% endfor %}{% endfor %}',
        },
        /took longer than \d+ ms/,
      ],
      [
        'doubling',
        {
          title: 'ok',
          body: '{% assign s = "0123456789" %}{% for i in (1..40) %}{% capture s %}{{ s }}{{ s }}{% endcapture %}{% endfor %}{{ s }}',
        },
        /output is over the limit|too much data/,
      ],
      [
        'huge-output',
        { title: 'ok', body: `{% for i in (1..200000) %}${'A'.repeat(1000)}{% endfor %}` },
        /output is over the limit|too much data/,
      ],
      ['recursion', { title: 'ok', body: "{% render 'loop' %}" }, /nested more than \d+ deep.*partial "loop"/],
      [
        'appending',
        { title: 'ok', body: '{% assign s = "x" %}{% for i in (1..64) %}{% assign s = s | append: s %}{% endfor %}' },
        /too much data/,
      ],
    ];
    for (const [name, fields, message] of hostile) {
      const started = performance.now();
      const r = await renderForAnn(name, 'push', fields);
      expect(r.status, `${name}: ${JSON.stringify(r.body)}`).toBe(400);
      expect(r.body).toMatchObject({ code: 'invalid_request', path: 'fields.body' });
      expect(r.body.message, name).toMatch(message);
      // Generous: the limits stop each of these within a fraction of a second.
      expect(performance.now() - started, name).toBeLessThan(10_000);
    }
    const notJson = await renderForAnn('not-json', 'webhook', { body: '{"name": {{ person.traits.first_name | raw }}}' });
    expect(notJson.body).toMatchObject({ code: 'invalid_request', path: 'fields.body' });
    expect(notJson.body.message).toMatch(/does not render to JSON/);
    expect((await h.server.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });

  it('webhook bodies JSON-encode every output, so user data cannot break out of a string', async () => {
    const r = await renderForAnn(
      'hook',
      'webhook',
      {
        body: '{"user": {{ person.user_id }}, "bio": {{ person.traits.bio }}, "skus": {{ products | map: "id" }}, "coupon": {{ coupon.code }}}',
      },
      { products: ['p1', 'p3'] },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.fields.body).toEqual({ user: 'ann', bio: '<script>alert("x")</script>', skus: ['p1', 'p3'], coupon: null });
  });

  it('renders queued messages from the outbox: trigger, the instance’s coupon, recommended products, journey', async () => {
    await call('POST', '/api/templates', {
      name: 'coupon-sms',
      channel: 'sms',
      fields: {
        text: '{{ person.traits.first_name }}: pay order {{ event.order_id }} with {{ coupon.code }} (-{{ coupon.value }}) by {{ coupon.expires_at | date: "%m/%d" }}. j{{ journey.id }}/{{ journey.node }}',
      },
    });
    await call('POST', '/api/templates', {
      name: 'recs',
      channel: 'push',
      fields: {
        title: 'For you, {{ person.traits.first_name }}',
        body: '{{ products | map: "name" | join: ", " }}',
        deepLink: 'shop://p/{{ products.first.id }}',
      },
    });
    const definition = {
      nodes: [
        { id: 'placed', type: 'entry', trigger: { kind: 'event', event: 'Order Placed', key: 'order_id' } },
        { id: 'coupon', type: 'coupon', campaign: 'pay-now', value: 15, validFor: '7d' },
        { id: 'notice', type: 'send', channel: 'sms', template: 'coupon-sms' },
        { id: 'picks', type: 'recommend', strategy: 'bestsellers', count: 2, channel: 'push', template: 'recs' },
      ],
      edges: [
        { from: 'placed', to: 'coupon' },
        { from: 'coupon', to: 'notice' },
        { from: 'notice', to: 'picks' },
      ],
    };
    const created = await call('POST', '/api/journeys', { name: 'Unpaid', definition });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const journeyId = created.body.journeyId;
    expect((await call('POST', `/api/journeys/${journeyId}/publish`)).status).toBe(200);
    clock.advance(1000);
    await tracking('track', { userId: 'ann', event: 'Order Placed', properties: { order_id: 'A7', total: 120 } });
    await h.server.ingest.flush();
    await h.server.journeys.tickWorkspace(h.keys.workspaceId);

    const rows = await h.store.query<OutboxMessageLike & { action: string; node_id: string } & Record<string, unknown>>(
      `SELECT template, channel, user_key, payload, journey_id, node_id, instance_id, created_at, action FROM outbox
       WHERE workspace_id = $1 AND journey_id = $2 AND action <> 'coupon' ORDER BY node_id`,
      [h.keys.workspaceId, journeyId],
    );
    expect(rows.map((r) => r.node_id)).toEqual(['notice', 'picks']);
    const sms = await renderMessage(h.store, h.keys.workspaceId, rows[0]!, clock.now());
    const [coupon] = await h.store.query<{ payload: { code: string } | string }>(
      `SELECT payload FROM outbox WHERE workspace_id = $1 AND journey_id = $2 AND action = 'coupon'`,
      [h.keys.workspaceId, journeyId],
    );
    const code = (typeof coupon!.payload === 'string' ? JSON.parse(coupon!.payload) : coupon!.payload).code;
    const expires = new Date(clock.now() + 7 * DAY);
    const mmdd = `${String(expires.getUTCMonth() + 1).padStart(2, '0')}/${String(expires.getUTCDate()).padStart(2, '0')}`;
    expect(sms).toEqual({
      template: 'coupon-sms',
      channel: 'sms',
      fields: { text: `Ann: pay order A7 with ${code} (-15) by ${mmdd}. j${journeyId}/notice` },
    });
    // Bestsellers the person has not bought (ann bought p1).
    const push = await renderMessage(h.store, h.keys.workspaceId, rows[1]!, clock.now());
    expect(push.fields).toEqual({ title: 'For you, Ann', body: 'Earbuds, Case <Pro>', deepLink: 'shop://p/p2' });

    // The sandbox channel takes any template; another real channel does not.
    expect((await renderMessage(h.store, h.keys.workspaceId, { ...rows[0]!, channel: 'sandbox' }, clock.now())).channel).toBe('sms');
    const mismatch = await renderMessage(h.store, h.keys.workspaceId, { ...rows[0]!, channel: 'email' }, clock.now()).catch((e) => e);
    expect(mismatch).toBeInstanceOf(AppError);
    expect(mismatch).toMatchObject({ code: 'invalid_request', path: 'channel' });
    const unknown = await renderMessage(h.store, h.keys.workspaceId, { ...rows[0]!, template: 'gone' }, clock.now()).catch((e) => e);
    expect(unknown).toMatchObject({ code: 'not_found', path: 'template' });

    // A template a journey sends with cannot be deleted.
    const inUse = await call('DELETE', '/api/templates/coupon-sms');
    expect(inUse.status).toBe(409);
    expect(inUse.body.message).toContain('"Unpaid"');
  });

  it('renders a message queued for a person merged since as the survivor, with their traits and identities', async () => {
    await call('POST', '/api/templates', {
      name: 'merged-sms',
      channel: 'sms',
      fields: { text: 'Hi {{ person.traits.first_name }} ({{ person.email }})' },
    });
    // A visitor is messaged before signing in; signing in as ann merges the visitor into her.
    await tracking('track', { anonymousId: 'visitor-9', event: 'Product Viewed', properties: { product_id: 'p2' } });
    await h.server.ingest.flush();
    const keyOf = async (type: string, value: string) =>
      Number(
        (
          await h.store.query<{ user_key: number }>(
            'SELECT user_key FROM identities WHERE workspace_id = $1 AND type = $2 AND value = $3',
            [h.keys.workspaceId, type, value],
          )
        )[0]?.user_key,
      );
    const visitor = await keyOf('anonymous_id', 'visitor-9');
    const ann = await keyOf('user_id', 'ann');
    expect(visitor).not.toBe(ann);
    await tracking('identify', { userId: 'ann', anonymousId: 'visitor-9' });
    await h.server.ingest.flush();
    const [merged] = await h.store.query<{ merged_into: number }>(
      'SELECT merged_into FROM users WHERE workspace_id = $1 AND user_key = $2',
      [h.keys.workspaceId, visitor],
    );
    expect(Number(merged?.merged_into)).toBe(ann);

    const row = (userKey: number): OutboxMessageLike => ({ template: 'merged-sms', channel: 'sms', user_key: userKey, payload: {} });
    const text = async (userKey: number) => (await renderMessage(h.store, h.keys.workspaceId, row(userKey), clock.now())).fields.text;
    expect(await text(visitor)).toBe('Hi Ann (ann@example.com)');
    expect(await text(ann)).toBe('Hi Ann (ann@example.com)');
    const nobody = await renderMessage(h.store, h.keys.workspaceId, row(987_654_321), clock.now()).catch((e) => e);
    expect(nobody).toMatchObject({ code: 'not_found', path: 'user_key' });
  });

  it('describes the API in the OpenAPI document', async () => {
    const doc = (await h.server.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/templates', '/api/templates/{name}', '/api/templates/{name}/preview', '/api/template-partials/{name}']),
    );
    expect(doc.components.schemas.Template).toBeDefined();
    expect(doc.components.schemas.TemplatePreviewRequest).toBeDefined();
  });

  it('needs the admin key', async () => {
    const res = await h.server.app.inject({ method: 'GET', url: '/api/templates' });
    expect(res.statusCode).toBe(401);
  });
});

describe('template sandbox limits', () => {
  const context: RenderContext = {
    person: { traits: { first_name: 'Ann' }, computed: {} },
    event: {},
    coupon: null,
    products: [],
    journey: null,
    unsubscribe_url: UNSUBSCRIBE_URL_PLACEHOLDER,
    now: new Date(0).toISOString(),
  };
  const sms = (text: string) => ({ name: 't', channel: 'sms' as const, fields: { text } });

  it('counts the characters of partials against the parse limit, each distinct partial once', async () => {
    const limits = { ...defaultRenderLimits, parseChars: 200 };
    const partials = new Map([
      ['small', 'x'.repeat(50)],
      ['big', 'y'.repeat(300)],
    ]);
    // Rendered ten times, parsed once.
    const ok = await renderTemplate(sms("{% for i in (1..10) %}{% render 'small' %}{% endfor %}"), context, partials, limits);
    expect(ok.fields.text).toBe('x'.repeat(500));
    const err = await renderTemplate(sms("{% render 'big' %}"), context, partials, limits).catch((e) => e);
    expect(err).toMatchObject({ code: 'invalid_request', path: 'fields.text', message: expect.stringMatching(/over 200 characters/) });
  });

  it('bounds partial nesting by the configured depth, and a failed render leaves nothing behind', async () => {
    const partials = new Map([
      ['a', "a{% render 'b' %}"],
      ['b', "b{% render 'c' %}"],
      ['c', 'c'],
    ]);
    const shallow = { ...defaultRenderLimits, partialDepth: 2 };
    const err = await renderTemplate(sms("{% render 'a' %}"), context, partials, shallow).catch((e) => e);
    expect(err).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/nested more than 2 deep.*partial "b"/) });
    expect((await renderTemplate(sms("{% render 'a' %}"), context, partials)).fields.text).toBe('abc');
  });
});
