import type { EventType } from '../core/events.ts';
import type { IdentityClaim } from '../core/identities.ts';

/** One line item of an event (one row of `event_items`). */
export interface EventItem {
  productId: string;
  category: string | null;
  price: number | null;
  quantity: number;
}

/** An event after validation and normalisation, ready to be written. */
export interface NormalizedEvent {
  workspaceId: number;
  messageId: string;
  type: EventType;
  /** Track: event name; page/screen: page name; others null. */
  event: string | null;
  /** When it happened (clock-skew corrected), epoch ms. */
  ts: number;
  receivedAt: number;
  sentAt: number | null;
  userId: string | null;
  anonymousId: string | null;
  /** Identities this event says belong to one person; the first is the person the event is about. */
  claims: IdentityClaim[];
  /** alias only: the old id (an anonymous id or an old user id); also among `claims` as an anonymous_id. */
  previousId: string | null;
  /** Normalised traits to merge into the profile (identify only). */
  traits: Record<string, unknown> | null;
  properties: Record<string, unknown> | null;
  context: Record<string, unknown> | null;
  integrations: Record<string, unknown> | null;
  orderId: string | null;
  total: number | null;
  currency: string | null;
  productId: string | null;
  category: string | null;
  items: EventItem[];
  /** 'api' for the tracking API (covered by the dedupe window), 'import' for bulk files. */
  source: 'api' | 'import';
}
