import type { OutboundOptions } from '../../core/outbound-http.ts';
import type { OutgoingMessage, SendOutcome } from '../channels/channel.ts';
import type { TemplateChannel } from '../templates/schema.ts';

/**
 * What the dispatcher and its delivery threads say to each other (structured-clone data only).
 * A thread builds its own provider instances from the channel settings it is sent, so connections,
 * access-token caches and rate limits live where the calls are made.
 */

/** A workspace channel's provider as configured: enough to build it in another thread. */
export interface ProviderSpec {
  /** `${workspaceId}:${channel}`: one live provider per key, rebuilt when `updatedAt` changes. */
  key: string;
  updatedAt: number;
  channel: TemplateChannel;
  provider: string;
  /** The stored (already validated) configuration, secrets included: it stays inside this process. */
  config: unknown;
  /** This thread's share of the provider's rate limit; null for none. */
  ratePerSecond: number | null;
  honoursIdempotencyKey: boolean;
}

/** One batch's provider calls for one thread. */
export interface DeliveryJob {
  type: 'deliver';
  id: number;
  /** The dispatcher's clock at the batch's start (a virtual clock in tests); providers read it advanced by real time. */
  now: number;
  /** Every call of the job is cut off this long after it starts. */
  deadlineMs: number;
  concurrency: number;
  specs: ProviderSpec[];
  items: { spec: number; message: OutgoingMessage }[];
}

export interface WorkerInit {
  outbound: OutboundOptions;
}

export type ToWorker = DeliveryJob | { type: 'close' };

export type FromWorker =
  /** Loaded: from here on a job may have reached a provider. */
  | { type: 'ready' }
  | { type: 'done'; id: number; outcomes: SendOutcome[] }
  /** The job could not start (a provider failed to build): no call was made. */
  | { type: 'failed'; id: number; reason: string }
  | { type: 'closed' };
