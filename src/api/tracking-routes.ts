import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError, type ErrorBody, formatPath } from '../core/errors.ts';
import { batchSchema, type EventType } from '../core/events.ts';
import { MAX_EVENT_BYTES, type NormalizedEvent, normalizeEvent } from '../ingest/index.ts';
import { workspaceFromWriteKey } from './auth.ts';
import type { ApiContext } from './context.ts';
import { parseOrThrow } from './errors.ts';
import { decodedSizeBound } from './request-encoding.ts';

const MAX_BATCH_BYTES = 500 * 1024;

/**
 * Validates every event; if any is bad, the whole request is refused with each bad event and field
 * named, and nothing is stored. A client can then fix and resend the same messageIds safely.
 */
function normalizeAll(raws: unknown[], prefix: (i: number) => PropertyKey[], ctx: Parameters<typeof normalizeEvent>[2], bodyBytes: number) {
  const events: NormalizedEvent[] = [];
  const errors: ErrorBody[] = [];
  let tooLarge = false;
  raws.forEach((raw, i) => {
    // Only a body larger than one event's limit can hold an over-limit event.
    if (bodyBytes > MAX_EVENT_BYTES && Buffer.byteLength(JSON.stringify(raw)) > MAX_EVENT_BYTES) {
      tooLarge = true;
      errors.push({
        code: 'payload_too_large',
        message: `event is over ${MAX_EVENT_BYTES / 1024} KB`,
        path: formatPath(prefix(i)),
      });
      return;
    }
    const r = normalizeEvent(raw, prefix(i), ctx);
    if (r.ok) events.push(r.event);
    else errors.push(...r.errors);
  });
  if (errors.length > 0) {
    const first = errors[0]!;
    const bad = new Set(errors.map((e) => e.path.replace(/^(batch\[\d+\]).*/, '$1'))).size;
    const message =
      raws.length > 1
        ? `${bad} of ${raws.length} events are invalid (first: ${first.path}: ${first.message}); nothing was stored`
        : `${first.path || 'event'}: ${first.message}`;
    throw new AppError(tooLarge ? 'payload_too_large' : 'invalid_request', message, first.path, errors);
  }
  return events;
}

/**
 * Other paths Segment's own libraries post to: analytics.js (browser) posts each call to the
 * initial of its type, and batches — as the mobile libraries (Swift, Kotlin, React Native) do —
 * to `/b`; analytics-java posts its batches to `/import`. With their host (or `apiHost`,
 * `<our host>/v1`) pointed at Shopflow they work unchanged.
 */
const aliases: Record<EventType | 'batch', string[]> = {
  track: ['t'],
  identify: ['i'],
  alias: ['a'],
  page: ['p'],
  screen: ['s'],
  group: ['g'],
  batch: ['b', 'import'],
};

/** A route's spec path and its aliases. */
const pathsOf = (name: EventType | 'batch') => [name, ...aliases[name]].map((p) => `/v1/${p}`);

export function registerTrackingRoutes(app: FastifyInstance, ctx: ApiContext) {
  const single: EventType[] = ['track', 'identify', 'alias', 'page', 'screen', 'group'];
  for (const type of single) {
    for (const url of pathsOf(type)) app.post(url, { bodyLimit: MAX_EVENT_BYTES }, one(type));
  }
  for (const url of pathsOf('batch')) app.post(url, { bodyLimit: MAX_BATCH_BYTES }, batch);

  function one(type: EventType) {
    return async (request: FastifyRequest) => {
      const ws = await workspaceFromWriteKey(ctx.keys, request);
      const body = request.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw new AppError('invalid_request', 'body must be a JSON object', '');
      const events = normalizeAll(
        [{ ...(body as object), type }],
        () => [],
        {
          workspaceId: ws.workspaceId,
          receivedAt: ctx.clock.now(),
          source: 'api',
        },
        decodedSizeBound(request),
      );
      const r = await ctx.ingest.submit(events);
      return { success: true, ...r };
    };
  }

  async function batch(request: FastifyRequest) {
    const ws = await workspaceFromWriteKey(ctx.keys, request);
    const body = parseOrThrow(batchSchema, request.body);
    const events = normalizeAll(
      body.batch,
      (i) => ['batch', i],
      {
        workspaceId: ws.workspaceId,
        receivedAt: ctx.clock.now(),
        batchContext: body.context,
        batchIntegrations: body.integrations,
        batchSentAt: body.sentAt,
        source: 'api',
      },
      decodedSizeBound(request),
    );
    const r = await ctx.ingest.submit(events);
    return { success: true, ...r };
  }
}
