import { setMaxListeners } from 'node:events';
import type { OutgoingMessage, SendOutcome } from '../channels/channel.ts';

/** One provider call: the message and how to send it. */
export interface DeliveryItem {
  message: OutgoingMessage;
  send: (message: OutgoingMessage, signal: AbortSignal) => Promise<SendOutcome>;
  /** Resolves when the provider's rate limit lets the call go out. */
  take?: () => Promise<void>;
}

/**
 * Calls providers for a batch, at most `concurrency` at once, every call under the one deadline
 * `signal`. A throw is an outcome (`unknown`: whether it reached the provider cannot be known), never
 * a crash of the batch. The same loop runs inline and in a delivery thread.
 */
export async function runDeliveries(items: readonly DeliveryItem[], concurrency: number, signal: AbortSignal): Promise<SendOutcome[]> {
  const outcomes: SendOutcome[] = new Array(items.length);
  // Every call in flight listens on the one deadline, twice (the request, then reading its body):
  // that many listeners is by design, not a leak (Node warns past 10, on stderr).
  setMaxListeners(Math.max(10, 2 * concurrency + 10), signal);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < items.length; i = next++) {
      const item = items[i] as DeliveryItem;
      try {
        await item.take?.();
        // The batch ran out of time before this call (waiting for the previous batch or the rate
        // limit): nothing went out, so the message simply goes back to the queue.
        if (signal.aborted) {
          outcomes[i] = { kind: 'retry', reason: 'not sent: the batch ran out of time before this call' };
          continue;
        }
        outcomes[i] = await item.send(item.message, signal);
      } catch (err) {
        outcomes[i] = { kind: 'unknown', reason: `provider error: ${(err as Error).message}` };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return outcomes;
}
