import type { RawEvent } from './raw-events.ts';

/**
 * A faster JSON.stringify for RawEvent, byte-identical to it (a test checks): the objects many
 * events share — a product's view properties, a member's context — are serialised once and
 * reused. JSON.stringify of every event was most of the generator's time, and the bulk-import
 * benchmark needs files of tens of millions of events.
 */
const shared = new WeakMap<object, string>();

/** Declares `o` immutable from now on, so its JSON may be cached. */
export function shareable<T extends object>(o: T): T {
  shared.set(o, JSON.stringify(o));
  return o;
}

const json = (o: object | undefined): string => shared.get(o as object) ?? JSON.stringify(o);

/** JSON of one event, in the key order JSON.stringify would use for objects built by EventLog. */
export function eventLine(e: RawEvent): string {
  let s = `{"type":"${e.type}","messageId":${JSON.stringify(e.messageId)}`;
  if (e.userId !== undefined) s += `,"userId":${JSON.stringify(e.userId)}`;
  if (e.anonymousId !== undefined) s += `,"anonymousId":${JSON.stringify(e.anonymousId)}`;
  if (e.type === 'track') s += `,"event":${JSON.stringify(e.event)},"properties":${json(e.properties)}`;
  else s += `,"traits":${json(e.traits)}`;
  return `${s},"timestamp":"${e.timestamp}","context":${json(e.context)}}`;
}
