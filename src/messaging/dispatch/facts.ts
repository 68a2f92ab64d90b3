import { DAY } from '../../core/clock.ts';
import type { IdentityType } from '../../core/identities.ts';
import { keysIn, keysParam, type SqlExecutor } from '../../store/index.ts';
import type { MessagingSettings } from '../governance/settings.ts';
import type { PersonContext } from '../templates/context.ts';
import { loadPeople } from '../templates/context.ts';

/** What governance needs to know about the people of a batch, loaded in a handful of queries. */
export interface PeopleFacts {
  people: Map<number, PersonContext>;
  /** `${user_key}|${channel}|${topic}` → subscribed (true) or unsubscribed (false); topic `*` is the whole channel. */
  subscriptions: Map<string, boolean>;
  /** Marketing messages sent (or being sent) in the last 8 days, per person. */
  sent: Map<number, { channel: string; at: number }[]>;
  /** `${user_key}|${channel}` of people who clicked none of their last N messages there. */
  nonResponders: Set<string>;
}

export async function loadPeopleFacts(
  db: SqlExecutor,
  workspaceId: number,
  userKeys: readonly number[],
  settings: MessagingSettings,
  now: number,
  /** Load computed traits and predictions (see loadPeople): something reads them. */
  computed: boolean,
  /** The identity types the batch's addresses and templates use (default all). */
  identities?: ReadonlySet<IdentityType>,
): Promise<PeopleFacts> {
  const keys = keysParam(userKeys);
  const nr = settings.nonResponder;
  const [people, subs, sent, quiet] = await Promise.all([
    loadPeople(db, workspaceId, userKeys, { computed, ...(identities ? { identities } : {}) }),
    db.query<{ user_key: number; channel: string; topic: string; subscribed: boolean }>(
      `SELECT user_key, channel, topic, subscribed FROM subscriptions WHERE workspace_id = $1 AND user_key IN ${keysIn(2)}`,
      [workspaceId, keys],
    ),
    // Eight days covers a calendar week in any time zone.
    db.query<{ user_key: number; channel: string; sent_at: number }>(
      `SELECT user_key, channel, sent_at FROM outbox WHERE workspace_id = $1 AND user_key IN ${keysIn(3)} AND sent_at >= $2
         AND NOT COALESCE(transactional, FALSE) AND action <> 'webhook' AND status IN ('sending', 'sent', 'delivered', 'unknown')`,
      [workspaceId, now - 8 * DAY, keys],
    ),
    nr
      ? db.query<{ user_key: number; channel: string }>(
          `SELECT user_key, channel FROM (
             SELECT user_key, channel, clicked_at, row_number() OVER (PARTITION BY user_key, channel ORDER BY sent_at DESC) AS rn
             FROM outbox WHERE workspace_id = $1 AND user_key IN ${keysIn(3)} AND status IN ('sent', 'delivered')
               AND channel IN (${nr.channels.map((c) => `'${c}'`).join(', ')})) last_n
           WHERE rn <= $2 GROUP BY user_key, channel HAVING count(*) >= $2 AND count(clicked_at) = 0`,
          [workspaceId, nr.lastMessages, keys],
        )
      : Promise.resolve([]),
  ]);
  const subscriptions = new Map(subs.map((s) => [`${Number(s.user_key)}|${s.channel}|${s.topic}`, s.subscribed === true]));
  const sentBy = new Map<number, { channel: string; at: number }[]>();
  for (const s of sent) {
    const list = sentBy.get(Number(s.user_key)) ?? [];
    list.push({ channel: s.channel, at: Number(s.sent_at) });
    sentBy.set(Number(s.user_key), list);
  }
  return {
    people,
    subscriptions,
    sent: sentBy,
    nonResponders: new Set(quiet.map((q) => `${Number(q.user_key)}|${q.channel}`)),
  };
}
