import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slotDecider } from '../src/api/slot-routes.ts';
import { splitSalt } from '../src/commerce/slots/index.ts';
import { bucketOf } from '../src/core/buckets.ts';
import { DAY, HOUR, VirtualClock } from '../src/core/clock.ts';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

/**
 * The targeted home banner of the Double-11 scenario end to end through the HTTP API on both
 * engines: segments from events, a slot with targeted, A/B-split and default content, the shop's
 * decide calls (write key), membership changes reaching decisions, impressions and clicks sent
 * back as events, and the report with conversions against the holdout.
 */
const start = Date.parse('2026-10-25T00:00:00Z');
const at = (ms: number) => new Date(ms).toISOString();

const identify = (userId: string, traits: Record<string, unknown>) => ({
  type: 'identify',
  userId,
  traits,
  timestamp: at(start - 20 * DAY),
});
const order = (userId: string, when: number, total = 100) => ({
  type: 'track',
  userId,
  event: 'Order Completed',
  properties: { order_id: `${userId}-${when}`, total, currency: 'CNY' },
  timestamp: at(when),
});

const women = ['w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7', 'w8'];
const history = [
  ...women.map((u) => identify(u, { gender: 'female' })),
  identify('m1', { gender: 'male' }),
  identify('m2', { gender: 'male' }),
  order('w1', start - 10 * DAY),
  order('m1', start - 12 * DAY),
];

const banner = (returningId: number, womenId: number) => ({
  name: 'home_banner',
  placement: 'home_banner',
  description: 'Double-11 warm-up',
  defaultContent: { title: 'Double 11 is coming', image: 'https://cdn.example/generic.jpg', link: '/sale' },
  variants: [
    {
      id: 'returning',
      segmentId: returningId,
      priority: 10,
      content: { title: 'Welcome back: 15 off your next order', image: 'https://cdn.example/back.jpg', link: '/vip' },
    },
    { id: 'women-dresses', segmentId: womenId, priority: 5, content: { title: 'Dresses', link: '/c/dresses' } },
    { id: 'women-shoes', segmentId: womenId, priority: 5, content: { title: 'Shoes', link: '/c/shoes' } },
  ],
});

describe.each(engines)('content slots API on %s', (engine) => {
  let h: Harness;
  const clock = new VirtualClock(start);
  let returningId = 0;
  let womenId = 0;
  const keyOf = new Map<string, number>();

  const admin = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) =>
    h.server.app.inject({ method, url, headers: { authorization: h.adminAuth }, payload });
  const decide = (query: string, auth = h.writeAuth) =>
    h.server.app.inject({ method: 'GET', url: `/v1/decide?${query}`, headers: auth ? { authorization: auth } : {} });
  const variantOf = async (userId: string) => (await decide(`slot=home_banner&userId=${userId}`)).json().variant;
  const batch = async (events: object[]) => {
    const res = await h.server.app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { authorization: h.writeAuth },
      payload: { batch: events },
    });
    expect(res.statusCode).toBe(200);
  };

  beforeAll(async () => {
    h = await startHarness(engine, clock);
    await batch(history);
    const seg = async (name: string, definition: object) => {
      const res = await admin('POST', '/api/segments', { name, definition });
      expect(res.statusCode).toBe(201);
      return res.json().segmentId as number;
    };
    returningId = await seg('returning', { type: 'performed', event: 'Order Completed', window: { last: '365d' } });
    womenId = await seg('women', { type: 'trait', trait: 'gender', op: 'eq', value: 'female' });
    const rows = await h.store.query<{ value: string; user_key: number }>(
      `SELECT value, user_key FROM identities WHERE workspace_id = $1 AND type = 'user_id'`,
      [h.keys.workspaceId],
    );
    for (const r of rows) keyOf.set(r.value, Number(r.user_key));
  });
  afterAll(async () => h?.dispose());

  it('creates a slot (validated: segments must exist, names are unique) and lists it', async () => {
    const bad = await admin('POST', '/api/slots', banner(returningId, 999_999));
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'invalid_request', path: 'variants[1].segmentId' });
    const reserved = await admin('POST', '/api/slots', { ...banner(returningId, womenId), variants: [{ id: 'holdout', content: {} }] });
    expect(reserved.statusCode).toBe(400);
    expect(reserved.json().path).toBe('variants[0].id');

    const created = await admin('POST', '/api/slots', banner(returningId, womenId));
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ name: 'home_banner', status: 'active', holdoutPercent: 0, createdAt: start });
    expect(created.json().variants[0]).toMatchObject({ id: 'returning', priority: 10, weight: 1 });
    expect((await admin('POST', '/api/slots', banner(returningId, womenId))).statusCode).toBe(409);
    expect((await admin('GET', '/api/slots')).json().slots.map((s: { name: string }) => s.name)).toEqual(['home_banner']);
    expect((await admin('GET', '/api/slots/home_banner')).json().variants).toHaveLength(3);
    expect((await admin('GET', '/api/slots/nope')).statusCode).toBe(404);
  });

  it('decides per person: priority first, a stable A/B split within a priority, the default for the rest', async () => {
    const res = await decide('slot=home_banner&userId=w1');
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const d = res.json();
    // w1 is a returning customer and a woman: the higher priority wins.
    expect(d).toMatchObject({ slot: 'home_banner', variant: 'returning', source: 'variant', content: { link: '/vip' } });
    expect(d.decisionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(d.track).toEqual({ slot: 'home_banner', variant: 'returning', decision_id: d.decisionId });
    expect(await variantOf('m1')).toBe('returning');
    // Women who have not ordered: one of the two split variants, the one their bucket says, every time.
    const salt = splitSalt('home_banner', 5);
    for (const u of women.slice(1)) {
      const expected = bucketOf(keyOf.get(u)!, salt) < 50 ? 'women-dresses' : 'women-shoes';
      expect(await variantOf(u), u).toBe(expected);
      expect(await variantOf(u), u).toBe(expected);
    }
    expect(new Set(await Promise.all(women.slice(1).map(variantOf))).size).toBe(2);
    // m2: no variant targets him; an unknown visitor neither.
    expect((await decide('slot=home_banner&userId=m2')).json()).toMatchObject({
      variant: 'default',
      source: 'default',
      content: { link: '/sale' },
    });
    expect((await decide('slot=home_banner&anonymousId=never-seen')).json()).toMatchObject({ variant: 'default', source: 'default' });
    // A user id the store does not know yet, with a known anonymous id: the anonymous person.
    await batch([{ type: 'track', anonymousId: 'anon-w', event: 'Page Viewed', timestamp: at(start - HOUR) }]);
    expect((await decide('slot=home_banner&userId=brand-new&anonymousId=anon-w')).json().variant).toBe('default');
  });

  it('authenticates like the tracking API and names bad input', async () => {
    expect((await decide('slot=home_banner&userId=w1', '')).statusCode).toBe(401);
    const wrong = await decide('slot=home_banner&userId=w1', `Basic ${Buffer.from('nope:').toString('base64')}`);
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ code: 'unauthorized', path: 'authorization' });
    expect((await decide('slot=home_banner')).json()).toMatchObject({ code: 'invalid_request', path: 'userId' });
    expect((await decide('slot=side_bar&userId=w1')).json()).toMatchObject({ code: 'not_found', path: 'slot' });
    // The admin key is not a write key.
    expect((await decide('slot=home_banner&userId=w1', h.adminAuth)).statusCode).toBe(401);
  });

  it('answers over real HTTP too', async () => {
    const base = await h.listen();
    const res = await fetch(`${base}/v1/decide?slot=home_banner&userId=m1`, { headers: { authorization: h.writeAuth } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ variant: 'returning' });
  });

  it('follows segment membership: a first order moves a person to the returning banner after the next refresh', async () => {
    const before = await variantOf('w2');
    expect(before).toMatch(/^women-/);
    clock.advance(HOUR);
    await batch([order('w2', clock.now())]);
    await h.server.segments.tickWorkspace(h.keys.workspaceId);
    // The decider syncs every second in the background; this sync applies the entry unless that one just did.
    const sync = await slotDecider(h.server.app).sync();
    expect(sync[0]).toMatchObject({ slots: 1, segments: 2, loaded: 0 });
    expect(sync[0]!.changes).toBeLessThanOrEqual(1);
    expect(await variantOf('w2')).toBe('returning');
  });

  it('edits apply at once: pause, a schedule window, then the holdout', async () => {
    const def = banner(returningId, womenId);
    const paused = await admin('PUT', '/api/slots/home_banner', { ...def, status: 'paused' });
    expect(paused.statusCode).toBe(200);
    expect((await decide('slot=home_banner&userId=w1')).json()).toMatchObject({ variant: 'default', source: 'paused' });
    expect((await admin('PUT', '/api/slots/home_banner', { ...def, name: 'other' })).json().path).toBe('name');

    // The returning banner only from the burst day: before it, w1 falls through to the women's split.
    const burst = { ...def.variants[0], startAt: at(start + 17 * DAY), endAt: at(start + 18 * DAY) };
    await admin('PUT', '/api/slots/home_banner', { ...def, variants: [burst, ...def.variants.slice(1)] });
    expect(await variantOf('w1')).toMatch(/^women-/);
    clock.set(start + 17 * DAY + HOUR);
    expect(await variantOf('w1')).toBe('returning');
    clock.set(start + HOUR);

    // Half held out (stable per person): they get the generic banner, labelled `holdout`.
    await admin('PUT', '/api/slots/home_banner', { ...def, holdoutPercent: 50 });
    const targeted = ['w1', 'w2', 'm1', ...women.slice(2)];
    const outcomes = await Promise.all(targeted.map(async (u) => (await decide(`slot=home_banner&userId=${u}`)).json()));
    for (const [i, u] of targeted.entries()) {
      const held = bucketOf(keyOf.get(u)!, 'slot:home_banner:holdout') < 50;
      if (held) expect(outcomes[i], u).toMatchObject({ variant: 'holdout', source: 'holdout', content: { link: '/sale' } });
      else expect(outcomes[i].variant, u).not.toBe('holdout');
    }
    // Only people a variant reaches are held out: m2 sees the default either way.
    expect(await variantOf('m2')).toBe('default');
  });

  it('reports impressions, clicks, CTR and conversions against the holdout from the events the shop sends', async () => {
    const people = ['w1', 'w2', 'm1', 'm2', ...women.slice(2)];
    const decisions = await Promise.all(people.map(async (u) => ({ u, d: (await decide(`slot=home_banner&userId=${u}`)).json() })));
    const now = clock.now();
    const events: object[] = [];
    for (const { u, d } of decisions) {
      events.push({ type: 'track', userId: u, event: 'Content Viewed', properties: d.track, timestamp: at(now + 60_000) });
      events.push({ type: 'track', userId: u, event: 'Content Viewed', properties: d.track, timestamp: at(now + 120_000) });
    }
    // Everyone who saw a variant clicks; the first two of them buy within the week, one holdout person buys too.
    const treated = decisions.filter((x) => x.d.source === 'variant');
    const held = decisions.filter((x) => x.d.source === 'holdout');
    expect(treated.length).toBeGreaterThan(1);
    expect(held.length).toBeGreaterThan(0);
    for (const { u, d } of treated)
      events.push({ type: 'track', userId: u, event: 'Content Clicked', properties: d.track, timestamp: at(now + 180_000) });
    await batch(events);
    clock.set(now + 2 * DAY);
    await batch([...treated.slice(0, 2), held[0]!].map(({ u }) => order(u, now + 2 * DAY, 250)));
    // An order long after the window does not count.
    clock.set(now + 20 * DAY);
    await batch([order(treated.at(-1)!.u, now + 20 * DAY, 999)]);
    clock.set(now + 21 * DAY);

    const res = await admin('GET', `/api/slots/home_banner/report?from=${encodeURIComponent(at(now - DAY))}`);
    expect(res.statusCode).toBe(200);
    const report = res.json();
    expect(report).toMatchObject({ slot: 'home_banner', conversionEvent: 'Order Completed', windowDays: 7, to: now + 21 * DAY });
    const byVariant = new Map(report.variants.map((v: { variant: string }) => [v.variant, v]));
    const expectedCount = (variant: string) => decisions.filter((x) => x.d.variant === variant).length;
    for (const variant of ['returning', 'women-dresses', 'women-shoes']) expect(byVariant.has(variant)).toBe(true);
    for (const [variant, v] of byVariant as Map<string, Record<string, number>>) {
      const n = expectedCount(variant);
      expect(v.impressions, variant).toBe(2 * n);
      expect(v.viewers, variant).toBe(n);
      const clicked = variant === 'holdout' || variant === 'default' ? 0 : n;
      expect(v.clicks, variant).toBe(clicked);
      expect(v.ctr, variant).toBe(n === 0 ? null : clicked / (2 * n));
    }
    const converted = (variant: string) => [...treated.slice(0, 2), held[0]!].filter((x) => x.d.variant === variant).length;
    let treatedConverters = 0;
    for (const [variant, v] of byVariant as Map<string, Record<string, number>>) {
      expect(v.converters, variant).toBe(converted(variant));
      expect(v.revenue, variant).toBe(250 * converted(variant));
      if (variant !== 'holdout') treatedConverters += v.converters ?? 0;
    }
    expect(treatedConverters).toBe(2);
    const holdout = byVariant.get('holdout') as { conversionRate: number; liftVsHoldout: number | null };
    expect(holdout.conversionRate).toBe(1 / held.length);
    expect(holdout.liftVsHoldout).toBeNull();
    const someVariant = byVariant.get(treated[0]!.d.variant) as { conversionRate: number; liftVsHoldout: number };
    expect(someVariant.liftVsHoldout).toBeCloseTo((someVariant.conversionRate - holdout.conversionRate) / holdout.conversionRate, 10);
  });

  it('previews for the operator and deletes', async () => {
    const preview = await admin('GET', '/api/slots/home_banner/preview?userId=m2');
    expect(preview.json()).toMatchObject({ variant: 'default' });
    expect((await admin('DELETE', '/api/slots/home_banner')).statusCode).toBe(204);
    expect((await decide('slot=home_banner&userId=w1')).statusCode).toBe(404);
    expect((await admin('DELETE', '/api/slots/home_banner')).statusCode).toBe(404);
  });
});
