import type { SendOutcome } from '../channels/channel.ts';
import type { Composed } from './compose.ts';
import type { ActiveProvider } from './provider-pool.ts';
import { type MessageEvent, messageProperties, type RowUpdate } from './record.ts';
import type { ChannelOption, ClaimedMessage } from './types.ts';

/** A message whose attempt is recorded and whose provider is being called. */
export interface Sending {
  m: ClaimedMessage;
  option: ChannelOption;
  remaining: ChannelOption[];
  active: ActiveProvider;
  attempt: number;
  address: string;
  composed: Composed;
}

export interface RetryPolicy {
  maxAttempts: number;
  baseBackoffMs: number;
  maxBackoffMs: number;
}

/**
 * Exponential backoff with jitter (half fixed, half random, so a burst of failures does not
 * come back as a burst), or the provider's Retry-After when it gave one.
 */
export function retryDelay(attempt: number, policy: RetryPolicy, retryAfterMs: number | undefined, random = Math.random): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxBackoffMs);
  const full = Math.min(policy.maxBackoffMs, policy.baseBackoffMs * 2 ** (attempt - 1));
  return Math.round(full / 2 + (random() * full) / 2);
}

/** The row update and events for one provider answer. */
export function outcomeUpdate(
  s: Sending,
  outcome: SendOutcome,
  now: number,
  policy: RetryPolicy,
): { update: RowUpdate; events: MessageEvent[] } {
  const key = s.m.message_key;
  const props = messageProperties(s.m, s.option, s.active.provider.name);
  const failedEvent = (reason: string): MessageEvent => ({
    name: 'Message Failed',
    id: `msg.${key}.failed.${s.option.channel}`,
    userKey: s.m.user_key,
    properties: { ...props, reason },
  });
  switch (outcome.kind) {
    case 'sent':
      return {
        update: { message_key: key, status: 'sent', provider_message_id: outcome.providerMessageId, reason: null },
        events: [
          {
            name: 'Message Sent',
            id: `msg.${key}.sent`,
            userKey: s.m.user_key,
            properties: { ...props, provider_message_id: outcome.providerMessageId },
          },
        ],
      };
    case 'retry': {
      if (s.attempt >= policy.maxAttempts) return fail(s, `gave up after ${s.attempt} attempts: ${outcome.reason}`, failedEvent);
      const until = now + retryDelay(s.attempt, policy, outcome.retryAfterMs);
      return { update: { message_key: key, status: 'queued', next_attempt_at: until, reason: `retrying: ${outcome.reason}` }, events: [] };
    }
    case 'failed':
      return fail(s, outcome.reason, failedEvent);
    case 'unknown':
      return { update: { message_key: key, status: 'unknown', reason: outcome.reason }, events: [] };
    default: {
      const never: never = outcome;
      throw new Error(`unknown outcome ${JSON.stringify(never)}`);
    }
  }
}

/** A permanent failure: the next fallback channel if there is one (queued at once), else the dead letter. */
function fail(s: Sending, reason: string, failedEvent: (reason: string) => MessageEvent): { update: RowUpdate; events: MessageEvent[] } {
  const [next, ...rest] = s.remaining;
  if (!next) return { update: { message_key: s.m.message_key, status: 'failed', reason }, events: [failedEvent(reason)] };
  return {
    update: {
      message_key: s.m.message_key,
      status: 'queued',
      attempts: 0,
      next_attempt_at: null,
      channel: next.channel,
      template: next.template,
      payload: { ...s.m.payload, fallback: rest, preferred_channel: false },
      reason: `fell back from ${s.option.channel}: ${reason}`,
    },
    events: [failedEvent(reason)],
  };
}
