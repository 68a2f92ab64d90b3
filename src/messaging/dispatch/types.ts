import type { TemplateChannel } from '../templates/schema.ts';

/** Journeys may also send to `sandbox`, which records any template and delivers nothing. */
export type DeliveryChannel = TemplateChannel | 'sandbox';

/** An outbox row the dispatcher has claimed (columns as the table names them, payload parsed). */
export interface ClaimedMessage {
  message_key: string;
  journey_id: number;
  node_id: string;
  instance_id: number;
  user_key: number;
  action: 'message' | 'recommend' | 'webhook';
  channel: DeliveryChannel;
  template: string | null;
  payload: Record<string, unknown>;
  attempts: number;
  next_attempt_at: number | null;
  transactional: boolean;
  created_at: number;
}

/** A channel and template to try, in order: the node's own, then its fallbacks. */
export interface ChannelOption {
  channel: DeliveryChannel;
  template: string | null;
}

/** What the dispatcher decided for a claimed message before any provider call. */
export type Plan =
  | {
      kind: 'send';
      option: ChannelOption;
      remaining: ChannelOption[];
      provider: string;
      address: string;
      fields: Record<string, unknown>;
      content: Record<string, unknown>;
      unsubscribeUrl: string | null;
    }
  | { kind: 'skip'; reason: string }
  | { kind: 'defer'; until: number; reason: string }
  | { kind: 'fail'; reason: string };
