import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY, HOUR } from '../src/core/clock.ts';
import {
  archiveSegment,
  compileSegment,
  createSegment,
  createStaticSegment,
  estimateSegment,
  getSegment,
  listChanges,
  listMembers,
  refreshSegment,
  type SegmentDefinition,
  segmentInputSchema,
  updateSegment,
} from '../src/segments/index.ts';
import { engines } from './engines.ts';
import { daysAgo, hoursAgo, NOW, openTestStore, type TestStore, type World } from './segment-fixtures.ts';

const active7d: SegmentDefinition = { type: 'performed', event: 'Ping', window: { last: '7d' } };
const input = (name: string, definition: SegmentDefinition) => segmentInputSchema.parse({ name, definition, refresh: { mode: 'manual' } });

describe.each(engines)('segment membership on %s', (engine) => {
  let t: TestStore;
  let w: World;
  let segmentId: number;
  const names = (keys: readonly number[]) => keys.map((k) => w.names.get(k)).sort();
  const members = async (id = segmentId) => {
    const rows = await t.store.query<{ user_key: number }>(
      'SELECT user_key FROM segment_members WHERE workspace_id = $1 AND segment_id = $2',
      [w.ws, id],
    );
    return names(rows.map((r) => Number(r.user_key)));
  };
  const changesOf = async (refreshNo: number, id = segmentId) => {
    const rows = await listChanges(t.store, w.ws, id, { afterRefresh: refreshNo - 1, limit: 1000 });
    const mine = rows.filter((r) => r.refreshNo === refreshNo);
    return {
      entered: names(mine.filter((r) => r.change === 'entered').map((r) => r.userKey)),
      exited: names(mine.filter((r) => r.change === 'exited').map((r) => r.userKey)),
      at: [...new Set(mine.map((r) => r.at))],
    };
  };

  beforeAll(async () => {
    t = await openTestStore(engine);
    w = await t.world('membership');
    await w.identify({ A: { name: 'Ann', email: 'ann@shop.example' }, D: { name: 'Dee' } });
    await w.track(
      ['A', 'Ping', {}, daysAgo(1)],
      ['B', 'Ping', {}, daysAgo(6)],
      ['C', 'Ping', {}, daysAgo(10)],
      ['E', 'Ping', {}, hoursAgo(2)],
    );
    segmentId = (await createSegment(t.store, w.ws, input('active 7d', active7d), NOW)).segmentId;
  });
  afterAll(async () => t?.dispose());

  // The tests below run in order: each one continues the segment's history.

  it('the first refresh records who entered, under refresh number 1', async () => {
    const r = await refreshSegment(t.store, w.ws, segmentId, NOW);
    expect(r).toMatchObject({ segmentId, refreshNo: 1, entered: 3, exited: 0, size: 3, incremental: false });
    expect(await members()).toEqual(['A', 'B', 'E']);
    expect(await changesOf(1)).toEqual({ entered: ['A', 'B', 'E'], exited: [], at: [NOW] });
    expect(await getSegment(t.store, w.ws, segmentId)).toMatchObject({ memberCount: 3, refreshNo: 1, refreshedAt: NOW });
  });

  it('re-running without new data changes nothing (but still counts as a refresh)', async () => {
    const r = await refreshSegment(t.store, w.ws, segmentId, NOW);
    expect(r).toMatchObject({ refreshNo: 2, entered: 0, exited: 0, size: 3 });
    expect(await members()).toEqual(['A', 'B', 'E']);
    expect(await listChanges(t.store, w.ws, segmentId, { afterRefresh: 1, limit: 100 })).toEqual([]);
  });

  it('time passing alone makes people leave "performed in the last 7 days"', async () => {
    t.clock.set(NOW + 2 * DAY);
    const r = await refreshSegment(t.store, w.ws, segmentId, t.clock.now());
    expect(r).toMatchObject({ refreshNo: 3, entered: 0, exited: 1, size: 2 });
    expect(await changesOf(3)).toEqual({ entered: [], exited: ['B'], at: [NOW + 2 * DAY] });
    expect(await members()).toEqual(['A', 'E']);
    t.clock.set(NOW + 6 * DAY + 20 * HOUR);
    const r2 = await refreshSegment(t.store, w.ws, segmentId, t.clock.now());
    expect(r2).toMatchObject({ refreshNo: 4, entered: 0, exited: 1, size: 1 });
    expect(await members()).toEqual(['E']); // E pinged 6d 22h ago: still inside; A 7d 20h ago
    expect(await getSegment(t.store, w.ws, segmentId)).toMatchObject({ memberCount: 1, refreshNo: 4 });
  });

  it('an incremental refresh (userKeys) only touches those people and agrees with a full refresh for them', async () => {
    const now = t.clock.now();
    await w.track(['C', 'Ping', {}, now - HOUR], ['D', 'Ping', {}, now - HOUR], ['B', 'Ping', {}, now - HOUR]);
    const only = [w.key('C'), w.key('B')];
    const compiled = compileSegment(active7d, { dialect: t.store.dialect, workspaceId: w.ws, now, restrictTo: only });
    const restricted = names((await t.store.query<{ user_key: number }>(compiled.sql, compiled.params)).map((r) => Number(r.user_key)));
    const full = compileSegment(active7d, { dialect: t.store.dialect, workspaceId: w.ws, now });
    const everyone = names((await t.store.query<{ user_key: number }>(full.sql, full.params)).map((r) => Number(r.user_key)));
    expect(restricted).toEqual(['B', 'C']);
    expect(everyone).toEqual(['B', 'C', 'D', 'E']);

    const r = await refreshSegment(t.store, w.ws, segmentId, now, { userKeys: only, eventsWatermark: now });
    expect(r).toMatchObject({ refreshNo: 5, entered: 2, exited: 0, size: 3, incremental: true });
    expect(await changesOf(5)).toEqual({ entered: ['B', 'C'], exited: [], at: [now] });
    expect(await members()).toEqual(['B', 'C', 'E']); // D qualifies but was not re-evaluated
    expect(await getSegment(t.store, w.ws, segmentId)).toMatchObject({ memberCount: 3, eventsWatermark: now });

    // An incremental refresh also records exits, and only of its people: E has left by now + 1d, A never returns.
    t.clock.set(now + DAY);
    const r2 = await refreshSegment(t.store, w.ws, segmentId, t.clock.now(), { userKeys: [w.key('E'), w.key('A')] });
    expect(r2).toMatchObject({ refreshNo: 6, entered: 0, exited: 1, size: 2 });
    expect(await members()).toEqual(['B', 'C']);

    // The full refresh catches up with D and agrees with the incremental ones for B, C, E.
    const r3 = await refreshSegment(t.store, w.ws, segmentId, t.clock.now(), { nextRefreshAt: t.clock.now() + HOUR });
    expect(r3).toMatchObject({ refreshNo: 7, entered: 1, exited: 0, size: 3, incremental: false });
    expect(await changesOf(7)).toEqual({ entered: ['D'], exited: [], at: [t.clock.now()] });
    expect(await getSegment(t.store, w.ws, segmentId)).toMatchObject({ nextRefreshAt: t.clock.now() + HOUR });
  });

  it('listMembers pages by person key', async () => {
    const first = await listMembers(t.store, w.ws, segmentId, { limit: 2 });
    expect(first.members.map((m) => m.userKey)).toEqual([w.key('B'), w.key('C'), w.key('D')].sort((a, b) => a - b).slice(0, 2));
    expect(first.next).toBe(first.members[1]!.userKey);
    const second = await listMembers(t.store, w.ws, segmentId, { after: first.next!, limit: 2 });
    expect(second.members).toHaveLength(1);
    expect(second.next).toBeNull();
    const all = [...first.members, ...second.members];
    expect(names(all.map((m) => m.userKey))).toEqual(['B', 'C', 'D']);
    const d = all.find((m) => m.userKey === w.key('D'))!;
    expect(d).toMatchObject({ userId: 'D', traits: { name: 'Dee' }, enteredAt: t.clock.now() });
    const exact = await listMembers(t.store, w.ws, segmentId, { limit: 3 });
    expect(exact.next).toBeNull();
  });

  it('listChanges follows a cursor (refresh number, person key), oldest first', async () => {
    const all = await listChanges(t.store, w.ws, segmentId, { afterRefresh: 0, limit: 1000 });
    expect(all.map((c) => [c.refreshNo, w.names.get(c.userKey), c.change])).toEqual([
      ...[w.key('A'), w.key('B'), w.key('E')].sort((a, b) => a - b).map((k) => [1, w.names.get(k), 'entered']),
      [3, 'B', 'exited'],
      [4, 'A', 'exited'],
      ...[w.key('B'), w.key('C')].sort((a, b) => a - b).map((k) => [5, w.names.get(k), 'entered']),
      [6, 'E', 'exited'],
      [7, 'D', 'entered'],
    ]);
    // Paging two at a time gives the same list.
    const paged: typeof all = [];
    let cursor = { afterRefresh: 0, afterUserKey: undefined as number | undefined };
    for (;;) {
      const page = await listChanges(t.store, w.ws, segmentId, { ...cursor, limit: 2 });
      if (page.length === 0) break;
      paged.push(...page);
      const last = page[page.length - 1]!;
      cursor = { afterRefresh: last.refreshNo, afterUserKey: last.userKey };
    }
    expect(paged).toEqual(all);
    // Without a person key the cursor means "after that whole refresh".
    expect((await listChanges(t.store, w.ws, segmentId, { afterRefresh: 5, limit: 10 })).map((c) => c.refreshNo)).toEqual([6, 7]);
  });

  it('estimateSegment: size and a sample of a draft, nothing saved', async () => {
    const before = await t.store.query('SELECT count(*) AS n FROM segment_changes');
    const e = await estimateSegment(t.store, w.ws, { type: 'performed', event: 'Ping' }, NOW, 2);
    expect(e.size).toBe(5);
    expect(e.sample).toHaveLength(2);
    const sorted = [...w.keys.values()].sort((a, b) => a - b);
    expect(e.sample.map((s) => s.userKey)).toEqual(sorted.slice(0, 2));
    const ann = e.sample.find((s) => s.userKey === w.key('A'));
    expect(ann).toMatchObject({ userId: 'A', email: 'ann@shop.example', traits: { name: 'Ann' } });
    expect(e.sql).toContain('SELECT u.user_key FROM users u');
    const none = await estimateSegment(t.store, w.ws, { type: 'performed', event: 'Nothing' }, NOW);
    expect(none).toMatchObject({ size: 0, sample: [] });
    expect(await t.store.query('SELECT count(*) AS n FROM segment_changes')).toEqual(before);
  });

  it('createStaticSegment: a fixed list; refreshes never change it', async () => {
    const keys = [w.key('A'), w.key('B'), w.key('A')];
    const s = await createStaticSegment(t.store, w.ws, { name: 'uploaded', userKeys: keys }, NOW);
    expect(s).toMatchObject({ kind: 'static', definition: null, memberCount: 2, refreshNo: 1 });
    expect(await members(s.segmentId)).toEqual(['A', 'B']);
    expect(await changesOf(1, s.segmentId)).toEqual({ entered: ['A', 'B'], exited: [], at: [NOW] });
    const r = await refreshSegment(t.store, w.ws, s.segmentId, NOW + 30 * DAY);
    expect(r).toMatchObject({ refreshNo: 1, entered: 0, exited: 0, size: 2 });
    expect(await members(s.segmentId)).toEqual(['A', 'B']);
    await expect(updateSegment(t.store, w.ws, s.segmentId, input('uploaded', active7d), NOW)).rejects.toMatchObject({
      code: 'invalid_request',
    });
  });

  describe('references between segments', () => {
    let base: number;
    let user: number;
    beforeAll(async () => {
      base = (await createSegment(t.store, w.ws, input('named', { type: 'trait', trait: 'name', op: 'exists' }), NOW)).segmentId;
      user = (
        await createSegment(
          t.store,
          w.ws,
          input('named and active', { type: 'and', conditions: [active7d, { type: 'in_segment', segmentId: base }] }),
          NOW,
        )
      ).segmentId;
    });

    it("in_segment reads the referenced segment's current members", async () => {
      await refreshSegment(t.store, w.ws, user, t.clock.now());
      expect(await members(user)).toEqual([]); // "named" has not been refreshed yet
      await refreshSegment(t.store, w.ws, base, t.clock.now());
      expect(await members(base)).toEqual(['A', 'D']);
      const r = await refreshSegment(t.store, w.ws, user, t.clock.now());
      expect(r).toMatchObject({ entered: 1 });
      expect(await members(user)).toEqual(['D']);
    });

    it('refuses an unknown referenced segment, naming the reference', async () => {
      const def: SegmentDefinition = {
        type: 'or',
        conditions: [active7d, { type: 'not', condition: { type: 'in_segment', segmentId: 999_999 } }],
      };
      await expect(createSegment(t.store, w.ws, input('dangling', def), NOW)).rejects.toMatchObject({
        code: 'invalid_request',
        path: 'definition.conditions[1].condition.segmentId',
      });
    });

    it('refuses a segment of another workspace', async () => {
      const other = await t.world('other');
      await expect(createSegment(t.store, other.ws, input('foreign', { type: 'in_segment', segmentId: base }), NOW)).rejects.toMatchObject({
        code: 'invalid_request',
        path: 'definition.segmentId',
      });
    });

    it('refuses cycles: A → B → A, and A → A', async () => {
      await expect(updateSegment(t.store, w.ws, base, input('named', { type: 'in_segment', segmentId: user }), NOW)).rejects.toMatchObject({
        code: 'invalid_request',
        path: 'definition.segmentId',
      });
      await expect(
        updateSegment(
          t.store,
          w.ws,
          base,
          input('named', { type: 'and', conditions: [active7d, { type: 'in_segment', segmentId: base }] }),
          NOW,
        ),
      ).rejects.toMatchObject({ code: 'invalid_request', path: 'definition.conditions[1].segmentId' });
      // A longer chain: C → user → base, then base → C.
      const c = (await createSegment(t.store, w.ws, input('chain', { type: 'in_segment', segmentId: user }), NOW)).segmentId;
      await expect(updateSegment(t.store, w.ws, base, input('named', { type: 'in_segment', segmentId: c }), NOW)).rejects.toMatchObject({
        code: 'invalid_request',
      });
      // The refused updates left the definition as it was.
      expect((await getSegment(t.store, w.ws, base))!.definition).toEqual({ type: 'trait', trait: 'name', op: 'exists' });
      await archiveSegment(t.store, w.ws, c, NOW);
    });

    it('refuses archiving a segment in use, and references to archived segments', async () => {
      await expect(archiveSegment(t.store, w.ws, base, NOW)).rejects.toMatchObject({ code: 'conflict' });
      const lone = (await createSegment(t.store, w.ws, input('lone', active7d), NOW)).segmentId;
      await refreshSegment(t.store, w.ws, lone, t.clock.now());
      await archiveSegment(t.store, w.ws, lone, NOW);
      expect(await members(lone)).toEqual([]);
      expect(await getSegment(t.store, w.ws, lone)).toMatchObject({ status: 'archived', memberCount: 0 });
      await expect(
        createSegment(t.store, w.ws, input('uses archived', { type: 'in_segment', segmentId: lone }), NOW),
      ).rejects.toMatchObject({
        code: 'invalid_request',
        path: 'definition.segmentId',
      });
      await expect(refreshSegment(t.store, w.ws, lone, NOW)).rejects.toMatchObject({ code: 'conflict' });
    });
  });
});
