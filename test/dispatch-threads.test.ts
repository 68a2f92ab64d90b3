import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTemplate, putChannelSettings } from '../src/messaging/index.ts';
import { engines } from './engines.ts';
import { Shop } from './journey-fixtures.ts';
import { json, MockServer } from './mock-providers/mock-server.ts';

/**
 * Provider calls made in a delivery thread keep the dispatcher's contract: when the provider hears
 * of a message, its attempt (status `sending`, the idempotency key, the rendered content) is
 * already committed. The mock provider runs on the test's thread and reads the outbox row of every
 * request it gets, while the call is in flight; the calls themselves come from the thread.
 */

const SID = `AC${'2'.repeat(32)}`;
const PEOPLE = 12;

interface Seen {
  token: string;
  status: string;
  attempts: number;
  text: string | null;
}

describe.each(engines)('dispatch in delivery threads (%s)', (engine) => {
  let shop: Shop;
  const seen: Seen[] = [];
  const twilio = new MockServer(async (req, res) => {
    const token = String(req.headers['i-twilio-idempotency-token']);
    const [row] = await shop.store.query<{ status: string; attempts: number; content: unknown }>(
      'SELECT status, attempts, content FROM outbox WHERE workspace_id = $1 AND message_key = $2',
      [shop.ws, token],
    );
    const content = (typeof row?.content === 'string' ? JSON.parse(row.content) : row?.content) as { fields?: { text?: string } } | null;
    seen.push({ token, status: String(row?.status), attempts: Number(row?.attempts), text: content?.fields?.text ?? null });
    json(res, 201, { sid: `SM${seen.length}`, status: 'queued' });
  });

  beforeAll(async () => {
    shop = await Shop.open(engine);
    await twilio.start();
    const now = shop.clock.now();
    await createTemplate(
      shop.store,
      shop.ws,
      { name: 'hello-sms', channel: 'sms', fields: { text: 'Hello {{ person.traits.name }}' } },
      now,
    );
    await putChannelSettings(
      shop.store,
      shop.ws,
      'sms',
      {
        provider: 'twilio',
        config: { baseUrl: twilio.url, accountSid: SID, authToken: 'token', from: '+15005550006' },
        ratePerSecond: null,
      },
      now,
    );
    await shop.journey('hello', {
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Signed Up' } },
        { id: 'msg', type: 'send', channel: 'sms', template: 'hello-sms' },
      ],
      edges: [{ from: 'in', to: 'msg' }],
    });
  });
  afterAll(async () => {
    await shop.dispose();
    await twilio.stop();
  });

  it('records every attempt before the thread calls the provider, then the outcomes', async () => {
    for (let i = 0; i < PEOPLE; i++) {
      await shop.identify(`p${i}`, { name: `P${i}`, phone: `+1415555${String(2000 + i)}` });
      await shop.track(`p${i}`, 'Signed Up');
    }
    await shop.tick();
    expect(await shop.dispatch()).toBe(PEOPLE);

    expect(shop.dispatcher.deliveries).toEqual({ inThreads: PEOPLE, inline: 0 });
    expect(seen).toHaveLength(PEOPLE);
    for (const s of seen) expect(s).toMatchObject({ status: 'sending', attempts: 1, text: expect.stringMatching(/^Hello P\d+/) });
    expect(new Set(seen.map((s) => s.token)).size).toBe(PEOPLE);
    for (let i = 0; i < PEOPLE; i++) {
      const [m] = await shop.messages(`p${i}`);
      expect(m).toMatchObject({ status: 'sent', provider: 'twilio', attempts: 1 });
      expect(seen.map((s) => s.token)).toContain(m?.message_key);
      expect(await shop.eventsOf(`p${i}`, 'Message Sent')).toHaveLength(1);
    }
  });
});
