import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueInTransaction, issueToPerson } from '../src/commerce/coupons/index.ts';
import { VirtualClock } from '../src/core/clock.ts';
import { type Session, type Store, writingEvents } from '../src/store/index.ts';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

/**
 * The API issues a code while a journey step is issuing the same campaign to the same person in
 * its own, still open transaction: the API must answer cleanly (a code, or the limit), never with
 * a database error, and the person must end up with one code.
 */
describe.each(engines)('issuing through the API while a journey step issues (%s)', (engine) => {
  let h: Harness;
  const clock = new VirtualClock(Date.UTC(2026, 5, 1, 9));

  beforeAll(async () => {
    h = await startHarness(engine, clock);
    await h.server.app.inject({
      method: 'POST',
      url: '/v1/track',
      headers: { authorization: h.writeAuth },
      payload: { userId: 'ivy', event: 'Signed Up' },
    });
    await h.server.ingest.flush();
  });
  afterAll(() => h.dispose());

  /** A new campaign to race on, and ivy's key. */
  const race = async (name: string) => {
    const created = await h.admin('POST', '/api/coupon-campaigns', { name, discount: { kind: 'amount', value: 5 } });
    expect(created.status).toBe(201);
    const [ivy] = await h.store.query<{ user_key: number }>("SELECT user_key FROM identities WHERE type = 'user_id' AND value = 'ivy'");
    return { campaignId: created.body.campaignId as number, userKey: Number(ivy!.user_key), ws: h.keys.workspaceId };
  };

  it('answers with a code or per_person_limit, never an error; one code in the end', async () => {
    const { campaignId, userKey, ws } = await race('race-once');

    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let stepIssued!: () => void;
    const issuedInStep = new Promise<void>((resolve) => {
      stepIssued = resolve;
    });
    // The "journey step": issues, then keeps its transaction open a while before committing.
    const step = writingEvents(h.store, ws, clock.now(), async (tx) => {
      const r = await issueInTransaction(tx, h.store.dialect, ws, campaignId, userKey, 'journey.1.1.coupon', clock.now());
      stepIssued();
      await held;
      return r;
    });
    await issuedInStep;
    const api = issueToPerson(h.store, ws, campaignId, userKey, 'claim-1', clock.now());
    setTimeout(release, 150);
    const [stepOutcome, apiResult] = await Promise.allSettled([step, api]);
    // The API never fails: it answers with a code or a clean refusal.
    expect(apiResult.status).toBe('fulfilled');
    const answer = (apiResult as PromiseFulfilledResult<Awaited<typeof api>>).value;
    let stepCode: string | null;
    if (stepOutcome.status === 'rejected') {
      // DuckDB: the API committed first and the step's commit failed as a whole, as a crash
      // would; the engine runs the step again, which now finds the API's code.
      expect(engine).toBe('duckdb');
      const again = await writingEvents(h.store, ws, clock.now(), (tx) =>
        issueInTransaction(tx, h.store.dialect, ws, campaignId, userKey, 'journey.1.1.coupon', clock.now()),
      );
      expect(again).toEqual({ code: null, reason: 'per_person_limit' });
      expect(answer.issued).toBe(true);
      stepCode = null;
    } else {
      // PostgreSQL: the API waited on the campaign lock and found the step's code.
      stepCode = stepOutcome.value?.code ?? null;
      expect(stepCode).toBeTruthy();
      expect(answer).toEqual({ issued: false, reason: 'per_person_limit' });
    }
    const codes = await h.store.query<{ code: string }>('SELECT code FROM coupon_codes WHERE workspace_id = $1 AND campaign_id = $2', [
      ws,
      campaignId,
    ]);
    expect(codes).toHaveLength(1);
    if (stepCode) expect(codes[0]!.code).toBe(stepCode);
  });

  // DuckDB only: on PostgreSQL the API waits on the campaign lock, so this interleaving cannot happen.
  it.runIf(engine === 'duckdb')('when the step commits first, the API retries and answers per_person_limit', async () => {
    const { campaignId, userKey, ws } = await race('race-twice');

    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const step = writingEvents(h.store, ws, clock.now(), async (tx) => {
      const r = await issueInTransaction(tx, h.store.dialect, ws, campaignId, userKey, 'journey.2.1.coupon', clock.now());
      await held;
      return r;
    });
    // The API's first transaction has written its code when the step commits, and commits after it.
    let attempts = 0;
    const inTheMiddle = new Proxy(h.store, {
      get(target, prop, receiver) {
        if (prop !== 'session') return Reflect.get(target, prop, receiver);
        return <T>(fn: (s: Session) => Promise<T>) =>
          target.session((s) =>
            fn(
              new Proxy(s, {
                get(st, p, r) {
                  if (p !== 'transaction') return Reflect.get(st, p, r);
                  return <U>(f: Parameters<Session['transaction']>[0]) =>
                    st.transaction(async (tx) => {
                      const out = (await f(tx)) as U;
                      if (++attempts === 1) {
                        release();
                        await step;
                      }
                      return out;
                    });
                },
              }),
            ),
          );
      },
    }) as Store;
    const answer = await issueToPerson(inTheMiddle, ws, campaignId, userKey, 'claim-2', clock.now());
    expect(attempts).toBe(2);
    expect(answer).toEqual({ issued: false, reason: 'per_person_limit' });
    const stepCode = (await step)?.code;
    const codes = await h.store.query<{ code: string }>('SELECT code FROM coupon_codes WHERE workspace_id = $1 AND campaign_id = $2', [
      ws,
      campaignId,
    ]);
    expect(codes.map((c) => c.code)).toEqual([stepCode]);
  });
});
