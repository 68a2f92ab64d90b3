import type { IdentityType } from '../../core/identities.ts';
import { offsetMs } from '../../core/local-time.ts';
import { activeHourTime, allowedTime, brokenCap, type TimeVerdict } from '../governance/rules.ts';
import type { MessagingSettings } from '../governance/settings.ts';
import type { PersonContext } from '../templates/context.ts';
import type { PeopleFacts } from './facts.ts';
import type { ChannelOption, ClaimedMessage, DeliveryChannel } from './types.ts';

/**
 * Contact governance for one message: which of its channels (the node's, its fallbacks, the
 * person's preferred one first when asked) the person can get now, or why none, or when. Every
 * answer carries a reason that is stored with the message.
 */

export type Choice =
  | { kind: 'send'; option: ChannelOption; remaining: ChannelOption[]; address: string }
  | { kind: 'skip'; reason: string }
  | { kind: 'defer'; until: number; reason: string };

/** The message's channels in the order to try them. */
export function optionsOf(m: ClaimedMessage, person: PersonContext | undefined): ChannelOption[] {
  const fallback = Array.isArray(m.payload.fallback) ? (m.payload.fallback as ChannelOption[]) : [];
  const options: ChannelOption[] = [{ channel: m.channel, template: m.template }, ...fallback];
  const preferred = person?.computed.preferred_channel;
  if (m.payload.preferred_channel !== true || typeof preferred !== 'string') return options;
  const i = options.findIndex((o) => o.channel === preferred);
  return i <= 0 ? options : [options[i] as ChannelOption, ...options.filter((_, j) => j !== i)];
}

/**
 * The identities a channel's address comes from, the first the person has winning (push tokens
 * come from the `push_token` trait the app sends; webhooks name their URL).
 */
export const addressIdentities: Record<DeliveryChannel, readonly IdentityType[]> = {
  sms: ['phone'],
  voice: ['phone'],
  email: ['email'],
  wechat: ['wechat_openid'],
  push: [],
  webhook: [],
  sandbox: ['user_id', 'email', 'phone'],
};

/** The person's address on a channel. */
export function addressOf(channel: DeliveryChannel, person: PersonContext | undefined, m: ClaimedMessage): string | null {
  const url = typeof m.payload.url === 'string' ? m.payload.url : null;
  if (m.action === 'webhook') return url;
  if (!person) return null;
  if (channel === 'webhook') return url;
  if (channel === 'push') return typeof person.traits.push_token === 'string' ? person.traits.push_token : null;
  for (const type of addressIdentities[channel]) {
    const address = person[type];
    if (address !== undefined) return address;
  }
  return channel === 'sandbox' ? `user:${m.user_key}` : null;
}

/** The identity types that can address the messages on any of their channels (what facts must load). */
export function addressingIdentities(messages: readonly ClaimedMessage[]): Set<IdentityType> {
  return new Set(messages.flatMap((m) => optionsOf(m, undefined).flatMap((o) => addressIdentities[o.channel])));
}

const validZones = new Map<string, boolean>();
/** The person's IANA zone (`timezone` trait) if the runtime knows it, else the workspace default. */
export function zoneOf(person: PersonContext | undefined, settings: MessagingSettings): string {
  const tz = person?.traits.timezone;
  if (typeof tz !== 'string' || tz === '') return settings.defaultTimezone;
  let ok = validZones.get(tz);
  if (ok === undefined) {
    try {
      offsetMs(tz, 0);
      ok = true;
    } catch {
      ok = false;
    }
    validZones.set(tz, ok);
  }
  return ok ? tz : settings.defaultTimezone;
}

/** Why the person cannot get this message on this channel now, or null if they can. */
function blocker(
  m: ClaimedMessage,
  channel: DeliveryChannel,
  topic: string,
  facts: PeopleFacts,
  settings: MessagingSettings,
  zone: string,
  now: number,
): string | null {
  const sub = (t: string) => facts.subscriptions.get(`${m.user_key}|${channel}|${t}`);
  // A hard opt-out (SMS STOP, a provider's "unsubscribed" error) holds for every message.
  if (sub('*') === false) return `opted out of ${channel}`;
  if (m.transactional) return null;
  if (sub(topic) === false) return `unsubscribed from ${topic} on ${channel}`;
  if (channel !== 'sandbox' && settings.requireConsent.includes(channel) && sub(topic) !== true && sub('*') !== true) {
    return `no consent for ${channel}`;
  }
  if (facts.nonResponders.has(`${m.user_key}|${channel}`)) {
    return `no response to the last ${settings.nonResponder?.lastMessages} messages on ${channel}`;
  }
  const cap = brokenCap(settings.frequencyCaps, zone, now, channel, facts.sent.get(m.user_key) ?? []);
  if (cap) return `frequency cap: at most ${cap.max} ${cap.channel === 'all' ? 'marketing' : cap.channel} a ${cap.period}`;
  return null;
}

/**
 * When marketing may go out in each zone, as of one instant: a pure function of (settings, zone,
 * now), so a batch — one `now`, a handful of zones — asks it once per zone, not once per message
 * (each answer walks local dates through Intl).
 */
export function timeRules(settings: MessagingSettings, now: number): (zone: string) => TimeVerdict {
  const byZone = new Map<string, TimeVerdict>();
  return (zone) => {
    let verdict = byZone.get(zone);
    if (verdict === undefined) {
      verdict = allowedTime(settings, zone, now);
      byZone.set(zone, verdict);
    }
    return verdict;
  };
}

export function choose(
  m: ClaimedMessage,
  facts: PeopleFacts,
  settings: MessagingSettings,
  now: number,
  allowedIn: (zone: string) => TimeVerdict = (zone) => allowedTime(settings, zone, now),
): Choice {
  const person = facts.people.get(m.user_key);
  // A webhook node calls a business system, not a person: governance does not apply.
  if (m.action === 'webhook') {
    const url = addressOf('webhook', person, m);
    return url
      ? { kind: 'send', option: { channel: 'webhook', template: null }, remaining: [], address: url }
      : { kind: 'skip', reason: 'no URL' };
  }
  if (!person) return { kind: 'skip', reason: 'no such person' };
  const zone = zoneOf(person, settings);
  const topic = typeof m.payload.topic === 'string' ? m.payload.topic : 'marketing';
  const options = optionsOf(m, person);
  const reasons: string[] = [];
  for (let i = 0; i < options.length; i++) {
    const option = options[i] as ChannelOption;
    const address = addressOf(option.channel, person, m);
    const why = address === null ? `no ${option.channel} address` : blocker(m, option.channel, topic, facts, settings, zone, now);
    if (why !== null || address === null) {
      reasons.push(why ?? '');
      continue;
    }
    if (!m.transactional) {
      const time = allowedIn(zone);
      if (time.kind === 'drop') return { kind: 'skip', reason: time.reason };
      if (time.kind === 'defer') return time;
      // Send-time choice applies once, when the message is first planned.
      if (settings.sendTime && m.attempts === 0 && m.next_attempt_at === null) {
        const hour = person.computed.active_hour;
        const at = activeHourTime(typeof hour === 'number' ? hour : null, zone, now, settings.sendTime.windowHours);
        if (at !== null)
          return { kind: 'defer', until: at, reason: `send time: most active hour ${String(hour).padStart(2, '0')}:00 (${zone})` };
      }
    }
    return { kind: 'send', option, remaining: options.slice(i + 1), address };
  }
  return { kind: 'skip', reason: reasons.join('; ') };
}
