import { systemClock } from '../src/core/clock.ts';
import { createJourney, journeyDefinitionSchema, publishJourney } from '../src/journeys/index.ts';
import { createTemplate, putChannelSettings } from '../src/messaging/index.ts';
import type { Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import type { TwilioMock } from './mock-providers/twilio.ts';

/** For tests of several real `serve` processes on one PostgreSQL database: a shop that texts every order placed. */

/** The shop: a workspace, SMS through the Twilio mock, and a published journey texting every placed order. */
export async function setUpShop(store: Store, twilio: TwilioMock): Promise<{ writeKey: string; workspaceId: number }> {
  const now = systemClock.now();
  const ws = await createWorkspace(store, 'shop', now);
  await createTemplate(
    store,
    ws.workspaceId,
    { name: 'order-sms', channel: 'sms', fields: { text: 'Order {{ event.order_id }} is in' } },
    now,
  );
  await putChannelSettings(store, ws.workspaceId, 'sms', twilio.smsChannel(), now);
  const definition = journeyDefinitionSchema.parse({
    nodes: [
      { id: 'placed', type: 'entry', trigger: { kind: 'event', event: 'Order Placed', key: 'order_id' } },
      { id: 'confirm', type: 'send', channel: 'sms', template: 'order-sms', transactional: true },
    ],
    edges: [{ from: 'placed', to: 'confirm' }],
  });
  const j = await createJourney(store, ws.workspaceId, { name: 'Order texts', definition }, now);
  await publishJourney(store, ws.workspaceId, j.journeyId, now);
  return { writeKey: ws.writeKey, workspaceId: ws.workspaceId };
}

/** One order's request: who the shopper is (with a phone), then the order. */
export function orderBatch(i: number) {
  const userId = `shopper-${i}`;
  return {
    batch: [
      { type: 'identify', userId, messageId: `id-${i}`, traits: { phone: `+1415555${String(1000 + i)}` } },
      {
        type: 'track',
        userId,
        messageId: `order-${i}`,
        event: 'Order Placed',
        properties: { order_id: `o-${i}`, total: 20 + i, currency: 'USD', products: [{ product_id: 'p1', price: 20 + i, quantity: 1 }] },
      },
    ],
  };
}

/** Sends order `i` (orderBatch) to a server's /v1/batch with the shop's write key; answers the HTTP status. */
export function postOrder(url: string, writeKey: string, i: number): Promise<number> {
  return fetch(`${url}/v1/batch`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`, 'content-type': 'application/json' },
    body: JSON.stringify(orderBatch(i)),
  }).then((r) => r.status);
}
