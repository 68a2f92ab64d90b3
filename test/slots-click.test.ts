import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../src/core/clock.ts';
import { signedToken } from '../src/core/signed-token.ts';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

/** A decision's clickUrl: a signed redirect that records the click, for content shown where no script runs. */
describe.each(engines)('slot click redirects (%s)', (engine) => {
  let h: Harness;
  const clock = new VirtualClock(Date.parse('2026-11-05T08:00:00Z'));
  const decide = async (query: string) =>
    (await h.server.app.inject({ method: 'GET', url: `/v1/decide?${query}`, headers: { authorization: h.writeAuth } })).json();
  const follow = (url: string) => h.server.app.inject({ method: 'GET', url: new URL(url).pathname });
  const clicks = async () => {
    await h.server.ingest.flush();
    return h.store.query<{ user_id: string | null; anonymous_id: string | null; properties: unknown }>(
      `SELECT user_id, anonymous_id, properties FROM events WHERE workspace_id = $1 AND event = 'Content Clicked' ORDER BY ts`,
      [h.keys.workspaceId],
    );
  };

  beforeAll(async () => {
    h = await startHarness(engine, clock);
    const created = await h.admin('POST', '/api/slots', {
      name: 'app_banner',
      placement: 'home_banner',
      defaultContent: { title: 'Double 11', link: 'https://shop.example/sale?src=banner' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  });
  afterAll(() => h.dispose());

  it('redirects to the content link and records one Content Clicked per decision', async () => {
    const d = await decide('slot=app_banner&userId=u1');
    expect(d.variant).toBe('default');
    expect(d.clickUrl).toMatch(/\/s\/[\w-]+\.[\w-]{16}$/);
    const first = await follow(d.clickUrl);
    expect(first.statusCode).toBe(302);
    expect(first.headers.location).toBe('https://shop.example/sale?src=banner');
    expect((await follow(d.clickUrl)).statusCode).toBe(302); // a second tap: still redirected, counted once
    const rows = await clicks();
    expect(rows).toHaveLength(1);
    const props = typeof rows[0]!.properties === 'string' ? JSON.parse(rows[0]!.properties) : rows[0]!.properties;
    expect(props).toEqual({ slot: 'app_banner', variant: 'default', decision_id: d.decisionId, via: 'redirect' });
    expect(rows[0]!.user_id).toBe('u1');

    // Anonymous visitors too, and ids as long as the decide API takes.
    const anon = await decide('slot=app_banner&anonymousId=visitor-9');
    expect((await follow(anon.clickUrl)).statusCode).toBe(302);
    const long = await decide(`slot=app_banner&userId=${'u'.repeat(500)}`);
    expect((await follow(long.clickUrl)).statusCode).toBe(302);
    const who = await clicks();
    expect(who.map((r) => r.anonymous_id)).toContain('visitor-9');
    expect(who.map((r) => r.user_id)).toContain('u'.repeat(500));
  });

  it('refuses tampered, forged and unknown-workspace tokens; a relative link gets no clickUrl', async () => {
    const d = await decide('slot=app_banner&userId=u2');
    const path = new URL(d.clickUrl).pathname;
    const [body, sig] = path.slice(3).split('.') as [string, string];
    const flipped = `${sig.slice(0, -1)}${sig.endsWith('A') ? 'B' : 'A'}`;
    expect((await h.server.app.inject({ method: 'GET', url: `/s/${body}.${flipped}` })).statusCode).toBe(404);
    const forged = signedToken('not-the-secret', JSON.stringify([h.keys.workspaceId, 'app_banner', 'default', 'd1', 'u2', null]));
    expect((await h.server.app.inject({ method: 'GET', url: `/s/${forged}` })).statusCode).toBe(404);
    const elsewhere = signedToken('x', JSON.stringify([987_654, 'app_banner', 'default', 'd1', 'u2', null]));
    const res = await h.server.app.inject({ method: 'GET', url: `/s/${elsewhere}` });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'not_found', path: 'token' });
    const [ws] = await h.store.query<{ n: number }>('SELECT count(*) AS n FROM messaging_settings WHERE workspace_id = 987654');
    expect(Number(ws!.n)).toBe(0);

    // Only absolute http(s) links can be redirected to.
    const edited = await h.admin('PUT', '/api/slots/app_banner', {
      name: 'app_banner',
      placement: 'home_banner',
      defaultContent: null,
      variants: [{ id: 'relative', content: { title: 'x', link: '/vip' } }],
    });
    expect(edited.status).toBe(200);
    const relative = await decide('slot=app_banner&userId=u3');
    expect(relative.variant).toBe('relative');
    expect(relative.clickUrl).toBeUndefined();
    // An old token of a variant that has no absolute link any more goes nowhere.
    expect((await follow(d.clickUrl)).statusCode).toBe(404);
  });
});
