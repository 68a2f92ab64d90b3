import type { OutboxRow } from './outbox.ts';
import type { Response } from './responses.ts';

/** What simulated people did with the messages of one channel of one journey. */
export interface ChannelResponses {
  /** Rows queued (messages and recommendations). */
  sent: number;
  /** Not simulated: the person had no contact details yet (anonymous), or a channel the model does not cover. */
  unreachable: number;
  delivered: number;
  opened: number;
  clicked: number;
  /** Orders the message caused (the simulator's ground truth: on top of organic orders). */
  orders: number;
  revenue: number;
  unsubscribed: number;
}

export interface JourneyTally {
  channels: Record<string, ChannelResponses>;
  coupons: { issued: number; value: number };
}

const empty = (): ChannelResponses => ({
  sent: 0,
  unreachable: 0,
  delivered: 0,
  opened: 0,
  clicked: 0,
  orders: 0,
  revenue: 0,
  unsubscribed: 0,
});

/** Counts responses per journey and channel as the simulation decides them. */
export class Tally {
  private readonly journeys = new Map<number, JourneyTally>();

  of(journeyId: number): JourneyTally {
    let t = this.journeys.get(journeyId);
    if (!t) {
      t = { channels: {}, coupons: { issued: 0, value: 0 } };
      this.journeys.set(journeyId, t);
    }
    return t;
  }

  coupon(journeyId: number, value: number): void {
    const t = this.of(journeyId);
    t.coupons.issued += 1;
    t.coupons.value += value;
  }

  /** A message or recommendation row and the response to it (null: the person could not be reached). */
  message(row: OutboxRow, response: Response | null): void {
    const channels = this.of(row.journeyId).channels;
    const name = row.channel ?? 'none';
    const ch = channels[name] ?? empty();
    channels[name] = ch;
    ch.sent += 1;
    const o = response?.outcome;
    if (!o) {
      ch.unreachable += 1;
      return;
    }
    if (o.delivered) ch.delivered += 1;
    if (o.opened) ch.opened += 1;
    if (o.clicked) ch.clicked += 1;
    if (o.converted) {
      ch.orders += 1;
      ch.revenue += response.revenue;
    }
    if (o.unsubscribed) ch.unsubscribed += 1;
  }
}
