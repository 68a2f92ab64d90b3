import type { RawEvent } from './raw-events.ts';

/**
 * A faster JSON.stringify for RawEvent, byte-identical to it (a test checks): objects that many
 * events share — a product's view properties, a member's context, an order's line items — are
 * serialised once and reused. JSON.stringify of every event was most of the generator's time,
 * and the bulk-import benchmark needs files of tens of millions of events.
 */
const shared = new WeakMap<object, string>();

/** Declares `o` immutable from now on, so its JSON may be cached. */
export function shareable<T extends object>(o: T): T {
  shared.set(o, JSON.stringify(o));
  return o;
}

// A member's events are serialised together: a one-entry cache catches almost every repeat of
// the context and the ids without a WeakMap lookup.
let lastContext: object | null = null;
let lastContextJson = '';
let lastUser: string | undefined;
let lastUserJson = '';
let lastAnonymous: string | undefined;
let lastAnonymousJson = '';
const eventNames = new Map<string, string>();

function objectJson(o: Record<string, unknown> | undefined): string {
  if (o === undefined) return 'null';
  const cached = shared.get(o);
  if (cached !== undefined) return cached;
  let hasSharedPart = false;
  for (const key in o) {
    const v = o[key];
    if (typeof v === 'object' && v !== null && shared.has(v)) {
      hasSharedPart = true;
      break;
    }
  }
  if (!hasSharedPart) return JSON.stringify(o);
  // Objects built from shared parts (a cart line = view properties + quantity, an order with
  // its products array) are assembled from the cached parts, key order preserved.
  let s = '{';
  let first = true;
  for (const key in o) {
    const v = o[key];
    if (v === undefined || typeof v === 'function') continue;
    const part = typeof v === 'object' && v !== null ? (shared.get(v) ?? JSON.stringify(v)) : JSON.stringify(v);
    s += `${first ? '' : ','}${JSON.stringify(key)}:${part}`;
    first = false;
  }
  return `${s}}`;
}

function contextJson(c: object): string {
  if (c !== lastContext) {
    lastContext = c;
    lastContextJson = shared.get(c) ?? JSON.stringify(c);
  }
  return lastContextJson;
}

/** JSON of one event, in the key order JSON.stringify would use for objects built by EventLog. */
export function eventLine(e: RawEvent): string {
  let s = `{"type":"${e.type}","messageId":${JSON.stringify(e.messageId)}`;
  if (e.userId !== undefined) {
    if (e.userId !== lastUser) {
      lastUser = e.userId;
      lastUserJson = JSON.stringify(e.userId);
    }
    s += `,"userId":${lastUserJson}`;
  }
  if (e.anonymousId !== undefined) {
    if (e.anonymousId !== lastAnonymous) {
      lastAnonymous = e.anonymousId;
      lastAnonymousJson = JSON.stringify(e.anonymousId);
    }
    s += `,"anonymousId":${lastAnonymousJson}`;
  }
  if (e.event !== undefined) {
    let name = eventNames.get(e.event);
    if (name === undefined) {
      name = JSON.stringify(e.event);
      if (eventNames.size < 1000) eventNames.set(e.event, name);
    }
    s += `,"event":${name}`;
  }
  if (e.properties !== undefined) s += `,"properties":${objectJson(e.properties)}`;
  if (e.traits !== undefined) s += `,"traits":${objectJson(e.traits)}`;
  return `${s},"timestamp":${JSON.stringify(e.timestamp)},"context":${contextJson(e.context)}}`;
}
