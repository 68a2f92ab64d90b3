import type { OutboundResponse, OutboundResult } from '../../core/outbound-http.ts';
import type { SendOutcome } from './channel.ts';

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | undefined, now: number): number | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // Only an HTTP date (IMF-fixdate, "Wed, 21 Oct 2026 07:28:00 GMT"), not whatever Date.parse accepts.
  if (!/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Statuses worth retrying: request timeout, throttling and server errors. */
export const isRetryableStatus = (status: number): boolean => status === 408 || status === 429 || status >= 500;

/**
 * What an HTTP provider's answer means for the message. `accepted` reads a 2xx body (a provider
 * may answer 200 with an error inside, as Aliyun and WeChat do) and returns the outcome, or null
 * to take the status code's meaning. Transport failures that may have reached the provider are
 * retried only where it dedupes on our key; elsewhere they are `unknown`.
 */
export function httpOutcome(
  result: OutboundResult,
  honoursIdempotencyKey: boolean,
  accepted: (res: OutboundResponse) => SendOutcome,
  now: number,
): SendOutcome {
  if (!result.ok) {
    if (result.error === 'blocked_address' || result.error === 'invalid_url') return { kind: 'failed', reason: result.message };
    if (result.mayHaveArrived && !honoursIdempotencyKey) return { kind: 'unknown', reason: `${result.error}: ${result.message}` };
    return { kind: 'retry', reason: `${result.error}: ${result.message}` };
  }
  const res = result.response;
  if (res.status >= 200 && res.status < 300) return accepted(res);
  const reason = `HTTP ${res.status}: ${res.body.slice(0, 300)}`;
  if (isRetryableStatus(res.status)) {
    const after = retryAfterMs(res.headers['retry-after'], now);
    return after === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, retryAfterMs: after };
  }
  return { kind: 'failed', reason };
}
