import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketOf } from '../src/core/buckets.ts';
import {
  archiveJourney,
  enrollViaApi,
  graphProblems,
  journeyDefinitionSchema,
  requireJourney,
  setJourneyRunning,
  updateJourney,
} from '../src/journeys/index.ts';
import { compileSegment } from '../src/segments/index.ts';
import { engines } from './engines.ts';
import { DAY, HOUR, killAtSecondStepEvents, Shop } from './journey-fixtures.ts';
import { addMissingTemplates } from './template-fixtures.ts';

/** A linear journey triggered by `event`: entry → the given nodes in order. */
function line(event: string, nodes: Record<string, unknown>[], settings: Record<string, unknown> = {}, key?: string) {
  const all = [{ id: 'in', type: 'entry', trigger: { kind: 'event', event, ...(key ? { key } : {}) } }, ...nodes];
  return {
    nodes: all,
    edges: all.slice(1).map((n, i) => ({ from: all[i]!.id, to: n.id as string })),
    settings,
  };
}
const send = (id: string, template = id) => ({ id, type: 'send', channel: 'sms', template });

describe('journey graph checks', () => {
  const parse = (d: unknown) => journeyDefinitionSchema.parse(d);
  it('reports every problem at once, each with its path', () => {
    const problems = graphProblems(
      parse({
        nodes: [
          { id: 'a', type: 'entry', trigger: { kind: 'api' } },
          { id: 'b', type: 'entry', trigger: { kind: 'api' } },
          {
            id: 'split',
            type: 'split',
            variants: [
              { branch: 'A', percent: 50 },
              { branch: 'B', percent: 50 },
            ],
          },
          { id: 'lonely', type: 'send', channel: 'sms', template: 't' },
          { id: 'x', type: 'exit' },
          { id: 'x', type: 'exit' },
        ],
        edges: [
          { from: 'a', to: 'split' },
          { from: 'split', branch: 'A', to: 'x' },
          { from: 'split', branch: 'C', to: 'x' },
          { from: 'x', to: 'a' },
          { from: 'ghost', to: 'x' },
        ],
      }),
    );
    const messages = problems.map((p) => `${p.path}: ${p.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^definition\.nodes\[5\]\.id: node id "x" is used twice/),
        expect.stringMatching(/exactly one entry node \(found 2\)/),
        expect.stringMatching(/^definition\.edges\[2\]\.branch: node "split" \(split\) has no branch "C"/),
        expect.stringMatching(/^definition\.edges\[3\]\.to: no edge may lead into the entry node/),
        expect.stringMatching(/^definition\.edges\[4\]\.from: edge from unknown node "ghost"/),
        expect.stringMatching(/^definition\.nodes\[2\]: branch "B" of node "split" is not connected/),
        expect.stringMatching(/node "lonely" cannot be reached/),
      ]),
    );
  });

  it('refuses a loop without a wait, allows one through a wait', () => {
    const loop = (withWait: boolean) =>
      parse({
        nodes: [
          { id: 'in', type: 'entry', trigger: { kind: 'api' } },
          { id: 's', type: 'send', channel: 'sms', template: 't' },
          withWait
            ? { id: 'w', type: 'wait', wait: { kind: 'duration', duration: '7d' } }
            : { id: 'w', type: 'update_trait', set: { a: 1 } },
        ],
        edges: [
          { from: 'in', to: 's' },
          { from: 's', to: 'w' },
          { from: 'w', to: 's' },
        ],
      });
    expect(graphProblems(loop(false)).map((p) => p.message)).toEqual(['the path s → w → s loops without a wait']);
    expect(graphProblems(loop(true))).toEqual([]);
  });

  it('refuses a condition on the coupon, message or recommendation of a node that is missing or of another type', () => {
    const asking = (when: object[]) =>
      parse({
        nodes: [
          { id: 'in', type: 'entry', trigger: { kind: 'api' } },
          { id: 'gift', type: 'coupon', campaign: 'c', value: 5 },
          { id: 'hi', type: 'send', channel: 'sms', template: 't' },
          { id: 'ask', type: 'condition', cases: when.map((w, k) => ({ branch: `b${k}`, when: w })), otherwise: 'no' },
          { id: 'done', type: 'exit' },
        ],
        edges: [
          { from: 'in', to: 'gift' },
          { from: 'gift', to: 'hi' },
          { from: 'hi', to: 'ask' },
          ...['no', ...when.map((_, k) => `b${k}`)].map((branch) => ({ from: 'ask', branch, to: 'done' })),
        ],
      });
    const ask = (when: object[]) => graphProblems(asking(when));
    expect(ask([{ kind: 'coupon_used', node: 'gift' }, { kind: 'message_clicked', node: 'hi' }, { kind: 'coupon_used' }])).toEqual([]);
    expect(
      ask([
        { kind: 'coupon_used', node: 'gfit' },
        { kind: 'message_clicked', node: 'gift' },
        { kind: 'recommendation_viewed', node: 'hi' },
      ]),
    ).toEqual([
      { code: 'invalid_request', message: 'no node "gfit"', path: 'definition.nodes[3].cases[0].when.node' },
      {
        code: 'invalid_request',
        message: 'node "gift" is a coupon node; message_clicked reads a send node',
        path: 'definition.nodes[3].cases[1].when.node',
      },
      {
        code: 'invalid_request',
        message: 'node "hi" is a send node; recommendation_viewed reads a recommend node',
        path: 'definition.nodes[3].cases[2].when.node',
      },
    ]);
  });
});

describe.each(engines)('journey engine (%s)', (engine) => {
  let shop: Shop;
  beforeAll(async () => {
    shop = await Shop.open(engine);
  });
  afterAll(() => shop.dispose());

  it('a crashed tick is rolled back whole and redone once: no message lost, none doubled', async () => {
    const id = await shop.journey('crash', line('Crash Test', [send('hello'), send('again')]));
    await shop.track('ann', 'Crash Test');
    await shop.track('bob', 'Crash Test');
    // The step of "again" dies half-way: after its outbox rows are written, at its step events.
    const crash = killAtSecondStepEvents(shop.store);
    await expect(shop.engine.tickWorkspace(shop.ws)).rejects.toThrow('process killed');
    expect(crash.restore()).toBe(1);
    // A journey's tick is one transaction: neither the entry nor "hello" before the crash stayed.
    expect(await shop.sent(id, 'ann')).toEqual([]);
    expect(await shop.path(id, 'ann')).toEqual([]);
    await shop.tick();
    await shop.tick();
    for (const who of ['ann', 'bob']) {
      expect(await shop.sent(id, who)).toEqual(['hello:hello', 'again:again']);
      const [p] = await shop.path(id, who);
      expect(p!.steps.map((s) => s.nodeId)).toEqual(['hello', 'again']); // people start after the entry
    }
    const events = await shop.store.query<{ n: number }>(
      `SELECT count(*) AS n FROM events WHERE workspace_id = $1 AND event = 'Journey Step' AND (properties ->> 'journey_id') = $2`,
      [shop.ws, String(id)],
    );
    expect(Number(events[0]!.n)).toBe(4); // hello and again for each (leaving the entry is `Journey Entered`)
  });

  it('keeps people on the version they entered; new entries take the edited one', async () => {
    const v1 = line('Version Test', [
      send('v1-first'),
      { id: 'wait', type: 'wait', wait: { kind: 'duration', duration: '1d' } },
      send('v1-last'),
    ]);
    const id = await shop.journey('versions', v1);
    await shop.track('ann', 'Version Test');
    await shop.tick();
    const v2 = line('Version Test', [
      send('v2-first'),
      { id: 'wait', type: 'wait', wait: { kind: 'duration', duration: '1d' } },
      send('v2-last'),
    ]);
    await addMissingTemplates(shop.store, shop.ws, v2, shop.clock.now());
    const j = await updateJourney(
      shop.store,
      shop.ws,
      id,
      { name: 'versions', definition: journeyDefinitionSchema.parse(v2) },
      shop.clock.now(),
    );
    expect(j).toMatchObject({ version: 2, status: 'published' });
    await shop.track('bob', 'Version Test');
    await shop.advance(DAY + HOUR);
    expect(await shop.sent(id, 'ann')).toEqual(['v1-first:v1-first', 'v1-last:v1-last']);
    expect(await shop.sent(id, 'bob')).toEqual(['v2-first:v2-first', 'v2-last:v2-last']);
    expect((await shop.path(id, 'ann'))[0]!.version).toBe(1);
  });

  it('pauses (no entries, nobody moves) and resumes; archiving lets everyone out', async () => {
    const id = await shop.journey(
      'pause',
      line('Pause Test', [send('first'), { id: 'wait', type: 'wait', wait: { kind: 'duration', duration: '2h' } }, send('second')]),
    );
    await shop.track('ann', 'Pause Test');
    await shop.tick();
    await setJourneyRunning(shop.store, shop.ws, id, false, shop.clock.now());
    await shop.track('bob', 'Pause Test');
    await shop.advance(3 * HOUR);
    expect(await shop.sent(id, 'ann')).toEqual(['first:first']);
    expect(await shop.path(id, 'bob')).toEqual([]);
    await setJourneyRunning(shop.store, shop.ws, id, true, shop.clock.now());
    await shop.tick();
    expect(await shop.sent(id, 'ann')).toEqual(['first:first', 'second:second']);
    // Events that came while paused do not enrol anyone later.
    expect(await shop.path(id, 'bob')).toEqual([]);
    await shop.track('cat', 'Pause Test');
    await shop.tick();
    await archiveJourney(shop.store, shop.ws, id, shop.clock.now());
    expect((await shop.path(id, 'cat'))[0]).toMatchObject({ status: 'exited', exitReason: 'archived' });
    expect((await requireJourney(shop.store, shop.ws, id)).status).toBe('archived');
  });

  it('waits for an event of the same key, or times out', async () => {
    const id = await shop.journey('wait-for-event', {
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Order Shipped', key: 'order_id' } },
        { id: 'await', type: 'wait_for_event', event: 'Order Delivered', timeout: '3d' },
        send('thanks'),
        send('sorry'),
      ],
      edges: [
        { from: 'in', to: 'await' },
        { from: 'await', branch: 'event', to: 'thanks' },
        { from: 'await', branch: 'timeout', to: 'sorry' },
      ],
    });
    await shop.track('ann', 'Order Shipped', { order_id: 'S1', total: 10 });
    await shop.track('ann', 'Order Shipped', { order_id: 'S2', total: 10 });
    await shop.tick();
    await shop.advance(HOUR);
    await shop.track('ann', 'Order Delivered', { order_id: 'S1' });
    await shop.advance(HOUR);
    const paths = await shop.path(id, 'ann');
    expect(paths.find((p) => p.key === 'S1')!.outbox.map((o) => o.template)).toEqual(['thanks']);
    expect(paths.find((p) => p.key === 'S2')!.outbox).toEqual([]);
    await shop.advance(3 * DAY, 6 * HOUR);
    const later = await shop.path(id, 'ann');
    expect(later.find((p) => p.key === 'S2')!.outbox.map((o) => o.template)).toEqual(['sorry']);
    expect(later.find((p) => p.key === 'S2')!.steps.find((s) => s.nodeId === 'await')!.branch).toBe('timeout');
  });

  it("waits until a local time of day in each person's time zone, across a DST change", async () => {
    await shop.identify('ny', { timezone: 'America/New_York' });
    await shop.identify('sh', { timezone: 'Asia/Shanghai' });
    await shop.identify('nozone', {});
    const id = await shop.journey(
      'local-time',
      line('Local Time Test', [{ id: 'ten', type: 'wait', wait: { kind: 'local_time', at: '10:00' } }, send('morning')], {
        timezone: 'Europe/Berlin',
      }),
    );
    // Saturday 2026-03-07 20:00 UTC; New York moves its clocks forward on Sunday 2026-03-08.
    shop.clock.set(Date.UTC(2026, 2, 7, 20));
    for (const who of ['ny', 'sh', 'nozone']) await shop.track(who, 'Local Time Test');
    await shop.advance(2 * DAY, HOUR);
    const at = async (who: string) => new Date((await shop.path(id, who))[0]!.outbox[0]!.at).toISOString();
    expect(await at('ny')).toBe('2026-03-08T14:00:00.000Z'); // 10:00 EDT (UTC−4), the first day of summer time
    expect(await at('sh')).toBe('2026-03-08T02:00:00.000Z'); // 10:00 in Shanghai
    expect(await at('nozone')).toBe('2026-03-08T09:00:00.000Z'); // the journey's zone: 10:00 in Berlin
  });

  it('waits until a date trait minus an offset; people without it go on at once', async () => {
    const due = shop.clock.now() + 5 * DAY;
    await shop.identify('renewer', { renewal_date: new Date(due).toISOString() });
    await shop.identify('unknown', {});
    const id = await shop.journey(
      'trait-wait',
      line('Trait Wait Test', [
        { id: 'before', type: 'wait', wait: { kind: 'trait', trait: 'renewal_date', offset: '-3d' } },
        send('renew-soon'),
      ]),
    );
    await shop.track('renewer', 'Trait Wait Test');
    await shop.track('unknown', 'Trait Wait Test');
    await shop.advance(HOUR);
    expect(await shop.sent(id, 'unknown')).toEqual(['renew-soon:renew-soon']);
    expect(await shop.sent(id, 'renewer')).toEqual([]);
    await shop.advance(2 * DAY, HOUR);
    const [p] = await shop.path(id, 'renewer');
    expect(p!.outbox[0]!.at).toBeGreaterThanOrEqual(due - 3 * DAY);
    expect(p!.outbox[0]!.at).toBeLessThan(due - 3 * DAY + HOUR);
  });

  it('splits A/B stably per person, the same draw as in JS', async () => {
    const id = await shop.journey('split', {
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Split Test' } },
        {
          id: 'ab',
          type: 'split',
          variants: [
            { branch: 'A', percent: 30 },
            { branch: 'B', percent: 70 },
          ],
        },
        send('a'),
        send('b'),
      ],
      edges: [
        { from: 'in', to: 'ab' },
        { from: 'ab', branch: 'A', to: 'a' },
        { from: 'ab', branch: 'B', to: 'b' },
      ],
      settings: { reentry: { mode: 'after_exit' } },
    });
    const people = Array.from({ length: 40 }, (_, i) => `s${i}`);
    await shop.send(people.map((userId) => ({ userId, event: 'Split Test' })));
    await shop.tick();
    await shop.send(people.map((userId) => ({ userId, event: 'Split Test' })));
    await shop.tick();
    for (const p of people) {
      const expected = bucketOf(shop.key(p), `journey:${id}:ab`) < 30 ? 'a:a' : 'b:b';
      expect(await shop.sent(id, p)).toEqual([expected, expected]);
    }
  });

  it('re-enters after N days, and keyed journeys cap concurrent instances', async () => {
    const again = await shop.journey('after-days', line('Again Test', [send('hi')], { reentry: { mode: 'after_days', days: 7 } }));
    await shop.track('ann', 'Again Test');
    await shop.tick();
    await shop.advance(3 * DAY, DAY);
    await shop.track('ann', 'Again Test');
    await shop.tick();
    expect(await shop.path(again, 'ann')).toHaveLength(1);
    await shop.advance(5 * DAY, DAY);
    await shop.track('ann', 'Again Test');
    await shop.tick();
    expect(await shop.path(again, 'ann')).toHaveLength(2);

    const capped = await shop.journey(
      'capped',
      line('Cap Test', [{ id: 'w', type: 'wait', wait: { kind: 'duration', duration: '1d' } }], { maxConcurrent: 2 }, 'order_id'),
    );
    await shop.send(['c1', 'c2', 'c3'].map((order_id) => ({ userId: 'bob', event: 'Cap Test', properties: { order_id } })));
    await shop.send([{ userId: 'bob', event: 'Cap Test', properties: { order_id: 'c1' } }]);
    await shop.tick();
    expect((await shop.path(capped, 'bob')).map((p) => p.key)).toEqual(['c1', 'c2']);
  });

  it('enrols a segment on a schedule (recurring in a time zone, or once at a date-time)', async () => {
    await shop.identify('vip1', { tier: 'vip' });
    await shop.identify('vip2', { tier: 'vip' });
    const vips = await shop.segment('VIPs', { type: 'trait', trait: 'tier', op: 'eq', value: 'vip' } as never);
    const start = shop.clock.now();
    // Mondays 10:00 in Shanghai = 02:00 UTC.
    const weekly = await shop.journey('weekly', {
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'schedule', cron: '0 10 * * 1', timezone: 'Asia/Shanghai', segmentId: vips } },
        send('weekly-news'),
      ],
      edges: [{ from: 'in', to: 'weekly-news' }],
    });
    const once = await shop.journey('once', {
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'schedule', cron: '2026-03-20T09:30:00', timezone: 'UTC', segmentId: vips } },
        send('flash-sale'),
      ],
      edges: [{ from: 'in', to: 'flash-sale' }],
    });
    await shop.advance(22 * DAY, 6 * HOUR);
    const weeks = (await shop.path(weekly, 'vip1')).map((p) => new Date(p.enteredAt).toISOString());
    expect(weeks.length).toBeGreaterThanOrEqual(3);
    for (const w of weeks) expect(w).toMatch(/T0[2-7]:00:00\.000Z$/);
    expect(new Date(weeks[0]!).getUTCDay()).toBe(1);
    expect(await shop.sent(once, 'vip2')).toEqual(['flash-sale:flash-sale']);
    expect((await shop.path(once, 'vip2'))[0]!.enteredAt).toBeGreaterThanOrEqual(Date.UTC(2026, 2, 20, 9, 30));
    expect(start).toBeLessThan(Date.UTC(2026, 2, 20));
  });

  it("enrols on a schedule in each person's own time zone", async () => {
    await shop.identify('tokyo', { timezone: 'Asia/Tokyo', club: 'daily' });
    await shop.identify('paris', { timezone: 'Europe/Paris', club: 'daily' });
    await shop.identify('nowhere', { club: 'daily' });
    const club = await shop.segment('Daily club', { type: 'trait', trait: 'club', op: 'eq', value: 'daily' } as never);
    const id = await shop.journey('local-schedule', {
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'schedule', cron: '0 9 * * *', timezone: 'user', segmentId: club } },
        send('good-morning'),
      ],
      edges: [{ from: 'in', to: 'good-morning' }],
      settings: { timezone: 'America/Sao_Paulo' },
    });
    const from = shop.clock.now();
    await shop.advance(2 * DAY, HOUR);
    // The local hour of each entry in the zone that should apply (DST included).
    const localHours = async (who: string, zone: string) =>
      (await shop.path(id, who))
        .filter((p) => p.enteredAt > from)
        .map((p) => Number(new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: 'numeric', hourCycle: 'h23' }).format(p.enteredAt)));
    expect(await localHours('tokyo', 'Asia/Tokyo')).toEqual([9, 9]);
    expect(await localHours('paris', 'Europe/Paris')).toEqual([9, 9]);
    expect(await localHours('nowhere', 'America/Sao_Paulo')).toEqual([9, 9]); // no zone of their own: the journey's
  });

  it('API entry is idempotent per key; update_trait sets traits and tags', async () => {
    const id = await shop.journey('api', {
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'api' } },
        { id: 'tag', type: 'update_trait', set: { vip: true, tier: 'gold', name: null }, tag: 'recalled' },
      ],
      edges: [{ from: 'in', to: 'tag' }],
      settings: { reentry: { mode: 'after_exit' } },
    });
    await shop.identify('dee', { name: 'Dee', email: 'dee@example.com', tags: { early: true } });
    const first = await enrollViaApi(shop.store, shop.ws, id, { userKey: shop.key('dee'), idempotencyKey: 'req-1' }, shop.clock.now());
    const retry = await enrollViaApi(shop.store, shop.ws, id, { userKey: shop.key('dee'), idempotencyKey: 'req-1' }, shop.clock.now());
    expect(first.entered).toBe(true);
    expect(retry).toEqual({ entered: false, instanceId: first.instanceId });
    await shop.tick();
    const [user] = await shop.store.query<{ traits: unknown }>('SELECT traits FROM users WHERE workspace_id = $1 AND user_key = $2', [
      shop.ws,
      shop.key('dee'),
    ]);
    const traits = typeof user!.traits === 'string' ? JSON.parse(user!.traits) : user!.traits;
    expect(traits).toEqual({ email: 'dee@example.com', vip: true, tier: 'gold', tags: { early: true, recalled: true } });
  });

  it('a tick records the entry of people who start at a wait (no step moves them)', async () => {
    const id = await shop.journey(
      'wait-first',
      line('Wait First', [{ id: 'pause', type: 'wait', wait: { kind: 'duration', duration: '1d' } }, send('later')]),
    );
    await shop.track('ann', 'Wait First');
    await shop.track('bob', 'Wait First');
    await shop.tick();
    const [entered] = await shop.store.query<{ n: number }>(
      `SELECT count(*) AS n FROM events WHERE workspace_id = $1 AND event = 'Journey Entered' AND (properties ->> 'journey_id') = $2`,
      [shop.ws, String(id)],
    );
    expect(Number(entered!.n)).toBe(2);
    expect((await shop.path(id, 'ann'))[0]!.nodeId).toBe('pause');
  });

  it('writes journey events that segments can use', async () => {
    const id = await shop.journey('events', line('Events Test', [send('ping')]));
    await shop.track('eve', 'Events Test');
    await shop.tick();
    const definition = {
      type: 'performed',
      event: 'Journey Step',
      where: [
        { property: 'journey_id', op: 'eq', value: id },
        { property: 'node_id', op: 'eq', value: 'ping' },
      ],
    } as const;
    const compiled = compileSegment(definition as never, { dialect: shop.store.dialect, workspaceId: shop.ws, now: shop.clock.now() });
    const members = await shop.store.query<{ user_key: number }>(compiled.sql, compiled.params);
    expect(members.map((m) => Number(m.user_key))).toEqual([shop.key('eve')]);
    const names = await shop.store.query<{ event: string }>(
      `SELECT event FROM events WHERE workspace_id = $1 AND user_key = $2 AND source = 'journey' ORDER BY ts, message_id`,
      [shop.ws, shop.key('eve')],
    );
    expect(names.map((n) => n.event).sort()).toEqual(['Journey Entered', 'Journey Exited', 'Journey Step']);
  });
});
