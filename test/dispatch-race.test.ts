import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigCache } from '../src/messaging/dispatch/config-cache.ts';
import { planBatch } from '../src/messaging/dispatch/plan.ts';
import { Dispatcher, messagingSettingsSchema, putMessagingSettings } from '../src/messaging/index.ts';
import { engines } from './engines.ts';
import { Shop } from './journey-fixtures.ts';
import { TwilioMock } from './mock-providers/twilio.ts';

/**
 * Two dispatchers planning the same queued rows at once. On DuckDB the claim writes nothing (the
 * rows stay `queued` while planned), so here the race happens: the second dispatcher sends the
 * rows while the first is still planning them, and the first's attempt write must refuse its whole
 * batch. On PostgreSQL the first's claim hides the rows from the second. Either way each message
 * reaches the provider exactly once.
 */
describe.each(engines)('two dispatchers racing for one batch (%s)', (engine) => {
  let shop: Shop;
  const twilio = new TwilioMock(`AC${'2'.repeat(32)}`, 'race-token');
  beforeAll(async () => {
    shop = await Shop.open(engine);
    await twilio.serveSms(shop, 'flash', 'Flash sale, {{ person.traits.name }}');
  });
  afterAll(async () => {
    await shop.dispose();
    await twilio.stop();
  });

  /**
   * Plans a batch of up to `batchSize` due messages; at the moment between deciding and recording
   * its attempts, another dispatcher runs a whole tick. Returns what the batch came to and how many
   * messages the other handled.
   */
  const planWhileAnotherRuns = async (batchSize: number) => {
    const other = new Dispatcher(shop.store, shop.clock, {
      publicUrl: 'https://shop.test',
      outbound: { allowPrivateNetworks: true, timeoutMs: 1_000 },
    });
    let sentByOther = -1;
    const outcome = await planBatch(
      {
        store: shop.store,
        providers: shop.dispatcher.providers,
        now: shop.clock.now(),
        batchSize,
        leaseMs: 120_000,
        publicUrl: 'https://shop.test',
        config: new ConfigCache(),
        beforeAttempts: async () => {
          sentByOther = await other.tick();
        },
      },
      shop.ws,
    ).then(
      (batch) => ({ sending: batch.sending.length }),
      (err: Error) => ({ refused: err.message }),
    );
    await other.stop();
    return { outcome, sentByOther };
  };

  it('sends each message once: a batch whose rows another dispatcher took while it was planned is not sent', async () => {
    await shop.journey('flash', {
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Flash Sale Joined' } },
        { id: 'sms', type: 'send', channel: 'sms', template: 'flash' },
      ],
      edges: [{ from: 'in', to: 'sms' }],
    });
    const people = Array.from({ length: 12 }, (_, i) => ({ id: `f${i}`, phone: `+1415555${String(1000 + i)}` }));
    for (const p of people) {
      await shop.identify(p.id, { name: p.id, phone: p.phone });
      await shop.track(p.id, 'Flash Sale Joined');
    }
    await shop.tick();

    const { outcome, sentByOther } = await planWhileAnotherRuns(100);

    if (engine === 'duckdb') {
      expect(sentByOther).toBe(people.length);
      expect(outcome).toEqual({ refused: expect.stringMatching(/^12 of the 12 outbox rows of a batch changed while it was planned/) });
      for (const p of people) expect(await shop.messages(p.id)).toEqual([expect.objectContaining({ status: 'sent', attempts: 1 })]);
    } else {
      // The claim hid the rows: the other dispatcher found nothing, and this batch's attempts stand.
      expect(sentByOther).toBe(0);
      expect(outcome).toEqual({ sending: people.length });
      for (const p of people) expect(await shop.messages(p.id)).toEqual([expect.objectContaining({ status: 'sending', attempts: 1 })]);
    }
    const calls = twilio.delivered.map((d) => d.to).sort();
    expect(calls).toEqual(engine === 'duckdb' ? people.map((p) => p.phone).sort() : []);
    expect(new Set(twilio.delivered.map((d) => d.idempotencyToken)).size).toBe(twilio.delivered.length);
  });
  it("keeps a frequency cap when another dispatcher plans the same person's other message meanwhile", async () => {
    await putMessagingSettings(
      shop.store,
      shop.ws,
      messagingSettingsSchema.parse({ frequencyCaps: [{ channel: 'sms', period: 'day', max: 1 }] }),
      shop.clock.now(),
    );
    const promo = (event: string) => ({
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'event', event } },
        { id: 'sms', type: 'send', channel: 'sms', template: 'flash' },
      ],
      edges: [{ from: 'in', to: 'sms' }],
    });
    await shop.journey('cap a', promo('Cap A'));
    await shop.journey('cap b', promo('Cap B'));
    const people = Array.from({ length: 8 }, (_, i) => ({ id: `c${i}`, phone: `+1415556${String(1000 + i)}` }));
    for (const p of people) {
      await shop.identify(p.id, { name: p.id, phone: p.phone });
      await shop.track(p.id, 'Cap A');
    }
    await shop.tick();
    shop.clock.advance(1_000);
    for (const p of people) await shop.track(p.id, 'Cap B');
    await shop.tick();

    // This dispatcher claims everyone's first message; between planning and recording its
    // attempts the other runs whole, and finds everyone's second message due.
    const { outcome, sentByOther } = await planWhileAnotherRuns(people.length);

    if (engine === 'duckdb') {
      // The claim wrote nothing: the other took both messages of each person, sent one and capped
      // the other, and this batch was refused.
      expect(sentByOther).toBe(2 * people.length);
      expect(outcome).toMatchObject({ refused: expect.any(String) });
    } else {
      // Everyone had a message claimed here: the other left their second one queued.
      expect(sentByOther).toBe(0);
      expect(outcome).toEqual({ sending: people.length });
    }
    for (const p of people) {
      const statuses = (await shop.messages(p.id)).map((m) => m.status);
      expect(
        statuses.filter((s) => s === 'sending' || s === 'sent'),
        `${p.id}: ${statuses}`,
      ).toHaveLength(1);
    }
    const phones = twilio.delivered.map((d) => d.to).filter((to) => people.some((p) => p.phone === to));
    expect(new Set(phones).size).toBe(phones.length);
  });
});
