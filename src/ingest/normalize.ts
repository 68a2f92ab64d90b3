import { randomUUID } from 'node:crypto';
import { type ErrorBody, formatPath, issuesToErrors } from '../core/errors.ts';
import { commerceEvents, isCommerceEvent, MAX_QUANTITY, type ProductLine, type TracedEvent, tracedEventSchema } from '../core/events.ts';
import { type IdentityClaim, identityTraits, isValidTimeZone, normalizeIdentity } from '../core/identities.ts';
import type { EventItem, NormalizedEvent } from './normalized-event.ts';

/** Segment's limit, which we keep: one event may be at most 32 KB of JSON. */
export const MAX_EVENT_BYTES = 32 * 1024;

export interface NormalizeContext {
  workspaceId: number;
  receivedAt: number;
  /** Batch-level fields that apply to every event of a `/v1/batch` request. */
  batchContext?: Record<string, unknown>;
  batchIntegrations?: Record<string, unknown>;
  batchSentAt?: string;
  source: 'api' | 'import';
}

export type NormalizeResult = { ok: true; event: NormalizedEvent } | { ok: false; errors: ErrorBody[] };

function str(v: unknown): string | null {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function itemsOf(e: TracedEvent): EventItem[] {
  if (e.type !== 'track' || !e.properties) return [];
  const p = e.properties;
  const lines = Array.isArray(p.products) ? (p.products as ProductLine[]) : str(p.product_id) ? [p as unknown as ProductLine] : [];
  return lines.map((line) => ({
    productId: String(line.product_id),
    category: str(line.category),
    price: num(line.price),
    quantity: num(line.quantity) ?? 1,
  }));
}

/**
 * Identity claims of an event: the person it is about first (userId, else anonymousId), then
 * every other identity it names. Invalid identity values are errors, not silently dropped.
 */
function claimsOf(e: TracedEvent, path: PropertyKey[], errors: ErrorBody[], traits: Record<string, unknown> | null): IdentityClaim[] {
  const claims: IdentityClaim[] = [];
  const userId = str(e.userId);
  const anonymousId = str(e.anonymousId);
  if (userId) claims.push({ type: 'user_id', value: userId.trim() });
  if (anonymousId) claims.push({ type: 'anonymous_id', value: anonymousId.trim() });
  if (e.type === 'alias') claims.push({ type: 'anonymous_id', value: String(e.previousId).trim() });
  if (traits) {
    for (const type of identityTraits) {
      const raw = traits[type];
      if (raw === undefined || raw === null || raw === '') continue;
      const value =
        typeof raw === 'string' || typeof raw === 'number' ? normalizeIdentity(type, String(raw), str(traits.country) ?? undefined) : null;
      if (value === null) {
        errors.push({ code: 'invalid_request', message: `not a valid ${type}`, path: formatPath([...path, 'traits', type]) });
        continue;
      }
      traits[type] = value;
      claims.push({ type, value });
    }
  }
  const device = (e.context?.device as Record<string, unknown> | undefined)?.id;
  const deviceId = str(device);
  if (deviceId) claims.push({ type: 'device_id', value: deviceId });
  return claims;
}

/**
 * Every product an event names becomes an `event_items` row (itemsOf), also on events whose
 * properties are otherwise free-form: so a `products[]` line must be an object with a product_id,
 * and a numeric quantity (of a line, or of properties naming one product) a whole number that fits
 * the INTEGER column. Other line fields stay lenient (a non-numeric price is stored as unknown).
 */
function checkProductLines(properties: Record<string, unknown> | undefined, path: PropertyKey[], errors: ErrorBody[]) {
  const lines = properties?.products;
  if (!Array.isArray(lines)) {
    if (properties && str(properties.product_id)) checkQuantity(properties.quantity, path, errors);
    return;
  }
  lines.forEach((line, i) => {
    const at = [...path, 'products', i];
    const id = (line as { product_id?: unknown } | null)?.product_id;
    if (typeof line !== 'object' || line === null || Array.isArray(line) || !(typeof id === 'string' || Number.isSafeInteger(id))) {
      errors.push({ code: 'invalid_request', message: 'a product line must be an object with a product_id', path: formatPath(at) });
      return;
    }
    checkQuantity((line as { quantity?: unknown }).quantity, at, errors);
  });
}

function checkQuantity(quantity: unknown, at: PropertyKey[], errors: ErrorBody[]) {
  if (typeof quantity === 'number' && !(Number.isInteger(quantity) && Math.abs(quantity) <= MAX_QUANTITY)) {
    errors.push({
      code: 'invalid_request',
      message: `must be a whole number of at most ${MAX_QUANTITY}`,
      path: formatPath([...at, 'quantity']),
    });
  }
}

function checkProfileTraits(traits: Record<string, unknown>, path: PropertyKey[], errors: ErrorBody[]) {
  const at = (k: string) => formatPath([...path, 'traits', k]);
  if (traits.timezone !== undefined && (typeof traits.timezone !== 'string' || !isValidTimeZone(traits.timezone))) {
    errors.push({ code: 'invalid_request', message: 'must be an IANA time zone such as "Asia/Shanghai"', path: at('timezone') });
  }
  if (traits.country !== undefined && (typeof traits.country !== 'string' || !/^[A-Za-z]{2}$/.test(traits.country))) {
    errors.push({ code: 'invalid_request', message: 'must be an ISO 3166-1 alpha-2 code such as "CN"', path: at('country') });
  } else if (typeof traits.country === 'string') {
    traits.country = traits.country.toUpperCase();
  }
  if (traits.consent !== undefined) {
    const c = traits.consent;
    const ok = typeof c === 'object' && c !== null && !Array.isArray(c) && Object.values(c).every((v) => typeof v === 'boolean');
    if (!ok) errors.push({ code: 'invalid_request', message: 'must map channels to booleans, e.g. {"sms": false}', path: at('consent') });
  }
}

/** Validates one raw event and turns it into a NormalizedEvent, or lists everything wrong with it. */
export function normalizeEvent(raw: unknown, path: PropertyKey[], ctx: NormalizeContext): NormalizeResult {
  const parsed = tracedEventSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, errors: issuesToErrors(parsed.error.issues, path) };
  const e = parsed.data;
  const errors: ErrorBody[] = [];

  if (!str(e.userId) && !str(e.anonymousId)) {
    errors.push({ code: 'invalid_request', message: 'either userId or anonymousId is required', path: formatPath([...path, 'userId']) });
  }
  if (e.type === 'alias' && !str(e.userId)) {
    errors.push({ code: 'invalid_request', message: 'alias needs the new userId', path: formatPath([...path, 'userId']) });
  }
  if (e.type === 'track') {
    const commerce = isCommerceEvent(e.event) ? commerceEvents[e.event].safeParse(e.properties ?? {}) : null;
    if (commerce && !commerce.success) errors.push(...issuesToErrors(commerce.error.issues, [...path, 'properties']));
    // Also after a commerce schema passed: an order's properties may name a product without `products[]`.
    else checkProductLines(e.properties, [...path, 'properties'], errors);
  }
  const traits = e.type === 'identify' ? { ...(e.traits ?? {}) } : null;
  if (traits) checkProfileTraits(traits, path, errors);
  const claims = claimsOf(e, path, errors, traits);
  if (errors.length > 0) return { ok: false, errors };

  // Clock-skew correction as Segment does it: the client's timestamp, shifted by how far the
  // client's clock was off when it sent the event (receivedAt - sentAt).
  const sentAtRaw = e.sentAt ?? ctx.batchSentAt;
  const sentAt = sentAtRaw ? Date.parse(sentAtRaw) : null;
  const clientTs = e.timestamp ?? e.originalTimestamp;
  let ts = clientTs ? Date.parse(clientTs) : ctx.receivedAt;
  if (clientTs && sentAt !== null) ts += ctx.receivedAt - sentAt;

  const properties: Record<string, unknown> | null =
    e.type === 'track' || e.type === 'page' || e.type === 'screen'
      ? (e.properties ?? {})
      : e.type === 'group'
        ? { groupId: String(e.groupId), traits: e.traits ?? {} }
        : e.type === 'alias'
          ? { previousId: String(e.previousId) }
          : null;
  const p = e.type === 'track' ? (e.properties ?? {}) : {};
  const items = itemsOf(e);
  const context = ctx.batchContext || e.context ? { ...(ctx.batchContext ?? {}), ...(e.context ?? {}) } : null;
  const integrations = ctx.batchIntegrations || e.integrations ? { ...(ctx.batchIntegrations ?? {}), ...(e.integrations ?? {}) } : null;

  return {
    ok: true,
    event: {
      workspaceId: ctx.workspaceId,
      messageId: e.messageId ?? randomUUID(),
      type: e.type,
      event: e.type === 'track' ? e.event : e.type === 'page' || e.type === 'screen' ? (e.name ?? null) : null,
      ts,
      receivedAt: ctx.receivedAt,
      sentAt,
      userId: str(e.userId),
      anonymousId: str(e.anonymousId),
      claims,
      previousId: e.type === 'alias' ? String(e.previousId).trim() : null,
      traits,
      properties,
      context,
      integrations,
      orderId: str(p.order_id),
      total: num(p.total),
      currency: str(p.currency)?.toUpperCase() ?? null,
      productId: items.length === 1 ? items[0]!.productId : null,
      category: items.length === 1 ? items[0]!.category : null,
      items,
      source: ctx.source,
    },
  };
}
