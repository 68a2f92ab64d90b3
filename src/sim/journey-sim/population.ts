import type { Progress } from '../../cli/progress.ts';
import { buildMember, type SimMember } from '../member.ts';
import type { RawEvent } from '../raw-events.ts';
import type { Channel } from '../response-model.ts';
import type { ShopContext } from '../shop-context.ts';
import { simulateMember } from '../shopper.ts';

/** A simulated shopper during a journey simulation: who they are, and what their responses depend on. */
export interface SimPerson {
  member: SimMember;
  /** Their consent now (an unsubscribe turns a channel off for the rest of the run). */
  consent: Record<Channel, boolean>;
  /** Last paid order so far (organic or caused by a message), epoch ms. */
  lastOrderAt: number | null;
  /** Their usual order total: the mean of their organic paid orders, else the shop's. */
  typicalBasket: number;
  /** When messages reached them (for fatigue: messages in the last 7 days). */
  deliveries: number[];
}

/** An event with its instant, ready to be written when the clock reaches it. */
export interface TimedEvent {
  ts: number;
  raw: RawEvent;
}

export interface Population {
  shop: ShopContext;
  people: SimPerson[];
  /** Events before the simulation started (written through `writeHistory`). */
  historyEvents: number;
  /** Organic behaviour during the simulation, in time order. */
  future: TimedEvent[];
}

/** Shop-wide mean of paid orders; the fallback for people who never buy. */
const DEFAULT_BASKET = 60;

/**
 * The simulated shop: `users` members over the shop's window (history before `start`, then
 * the days the journeys run). The simulator generates each member's whole life at once (it plans repurchases
 * and cross-sells ahead), so the organic events of the simulated period are generated here too
 * and fed step by step as the clock reaches them, received at that virtual time.
 */
export async function generatePopulation(
  shop: ShopContext,
  opts: { users: number; start: number },
  /** Receives each member's history (events before `start`), in time order: written at once, not kept. */
  writeHistory: (events: RawEvent[]) => Promise<void>,
  progress: Progress,
): Promise<Population> {
  const people: SimPerson[] = [];
  let historyEvents = 0;
  const future: TimedEvent[] = [];
  const basketSums: { sum: number; n: number }[] = [];
  let allSum = 0;
  let allN = 0;
  progress.start('Shop history', opts.users);
  const every = Math.max(1, Math.floor(opts.users / 100));
  for (let i = 0; i < opts.users; i++) {
    const member = buildMember(shop.seed, i, shop.start, shop.end);
    const person: SimPerson = { member, consent: { ...member.consent }, lastOrderAt: null, typicalBasket: DEFAULT_BASKET, deliveries: [] };
    const basket = { sum: 0, n: 0 };
    const history: RawEvent[] = [];
    for (const raw of simulateMember(shop, member)) {
      const ts = Date.parse(raw.timestamp);
      if (raw.event === 'Order Completed') {
        const total = Number(raw.properties?.total ?? 0);
        basket.sum += total;
        basket.n += 1;
        if (ts < opts.start) person.lastOrderAt = ts;
      }
      if (ts < opts.start) history.push(raw);
      else future.push({ ts, raw });
    }
    historyEvents += history.length;
    await writeHistory(history);
    allSum += basket.sum;
    allN += basket.n;
    basketSums.push(basket);
    people.push(person);
    if ((i + 1) % every === 0) progress.update(i + 1);
  }
  progress.update(opts.users);
  progress.stop();
  const shopMean = allN > 0 ? allSum / allN : DEFAULT_BASKET;
  people.forEach((p, i) => {
    const b = basketSums[i]!;
    p.typicalBasket = b.n > 0 ? b.sum / b.n : shopMean;
  });
  // Stable: equal instants keep member order and each member's own order.
  future.sort((a, b) => a.ts - b.ts);
  return { shop, people, historyEvents, future };
}
