import { randomBytes } from 'node:crypto';
import { type Store, writingEvents } from '../store/index.ts';
import type { CallbackResult } from './channels/channel.ts';
import { insertMessageEvents, type MessageEvent } from './dispatch/record.ts';
import { getMessagingSettings } from './governance/settings.ts';
import { tokenWorkspace, verifyLinkToken } from './links.ts';
import { setSubscription } from './subscriptions.ts';
import type { TemplateChannel } from './templates/schema.ts';

/**
 * What comes back from people and providers: one-click unsubscribes, tracked clicks, delivery
 * receipts and SMS replies. Each updates the message or the person's subscriptions and writes the
 * matching event (`Unsubscribed`, `Message Clicked`, `Message Delivered`, `Message Failed`) in one
 * transaction, so segments, journeys and reports see it.
 */

interface LinkedMessage {
  workspaceId: number;
  messageKey: string;
  link: number;
  userKey: number;
  channel: string;
  topic: string;
  journeyId: number;
  nodeId: string;
  instanceId: number;
  links: string[];
}

const parse = (v: unknown): Record<string, unknown> => (typeof v === 'string' ? JSON.parse(v) : (v ?? {})) as Record<string, unknown>;

/** The message a signed link token points at, or null for a forged, mangled or stale token. */
async function resolveToken(store: Store, token: string, now: number): Promise<LinkedMessage | null> {
  const ws = tokenWorkspace(token);
  if (ws === null) return null;
  const [exists] = await store.query<{ n: number }>('SELECT count(*) AS n FROM workspaces WHERE workspace_id = $1', [ws]);
  if (!exists || Number(exists.n) === 0) return null;
  const { linkSecret } = await getMessagingSettings(store, ws, now);
  const ref = verifyLinkToken(linkSecret, token);
  if (!ref) return null;
  const [row] = await store.query<{
    user_key: number;
    channel: string;
    payload: unknown;
    content: unknown;
    journey_id: number;
    node_id: string;
    instance_id: number;
  }>(
    'SELECT user_key, channel, payload, content, journey_id, node_id, instance_id FROM outbox WHERE workspace_id = $1 AND message_key = $2',
    [ws, ref.messageKey],
  );
  if (!row) return null;
  const payload = parse(row.payload);
  const content = parse(row.content);
  return {
    ...ref,
    userKey: Number(row.user_key),
    channel: row.channel,
    topic: typeof payload.topic === 'string' ? payload.topic : 'marketing',
    journeyId: Number(row.journey_id),
    nodeId: row.node_id,
    instanceId: Number(row.instance_id),
    links: Array.isArray(content.links) ? content.links.map(String) : [],
  };
}

const eventProps = (m: LinkedMessage) => ({
  message_key: m.messageKey,
  channel: m.channel,
  journey_id: m.journeyId,
  node_id: m.nodeId,
  instance_id: m.instanceId,
});

/** One-click unsubscribe from the message's topic on its channel. Null when the token is not valid. */
export async function unsubscribeByToken(store: Store, token: string, now: number): Promise<{ channel: string; topic: string } | null> {
  const m = await resolveToken(store, token, now);
  if (!m || m.link !== -1) return null;
  await writingEvents(store, m.workspaceId, now, async (tx) => {
    await setSubscription(
      tx,
      m.workspaceId,
      m.userKey,
      { channel: m.channel as TemplateChannel, topic: m.topic, subscribed: false },
      'one-click',
      now,
    );
    const [seen] = await tx.query<{ n: number }>('SELECT count(*) AS n FROM events WHERE workspace_id = $1 AND message_id = $2', [
      m.workspaceId,
      `msg.${m.messageKey}.unsubscribed`,
    ]);
    // Mail clients may POST the one-click request more than once; the person unsubscribed once.
    if (Number(seen?.n ?? 0) === 0) {
      await insertMessageEvents(tx, store.dialect, m.workspaceId, now, [
        {
          name: 'Unsubscribed',
          id: `msg.${m.messageKey}.unsubscribed`,
          userKey: m.userKey,
          properties: { ...eventProps(m), topic: m.topic, source: 'one-click' },
        },
      ]);
    }
  });
  return { channel: m.channel, topic: m.topic };
}

/** Records a click on a tracked link and returns where it leads. Null when the token is not valid. */
export async function clickByToken(store: Store, token: string, now: number): Promise<string | null> {
  const m = await resolveToken(store, token, now);
  const url = m && m.link >= 0 ? m.links[m.link] : undefined;
  if (!m || !url) return null;
  await writingEvents(store, m.workspaceId, now, async (tx) => {
    await tx.query('UPDATE outbox SET clicked_at = COALESCE(clicked_at, $3) WHERE workspace_id = $1 AND message_key = $2', [
      m.workspaceId,
      m.messageKey,
      now,
    ]);
    await insertMessageEvents(tx, store.dialect, m.workspaceId, now, [
      {
        name: 'Message Clicked',
        id: `msg.${m.messageKey}.clicked.${now}.${randomBytes(4).toString('hex')}`,
        userKey: m.userKey,
        properties: { ...eventProps(m), url, link: m.link },
      },
    ]);
  });
  return url;
}

/** Which channel a reply's `from` address is an identity on. */
const replyIdentity: Partial<Record<TemplateChannel, string>> = { sms: 'phone', voice: 'phone', wechat: 'wechat_openid' };

/**
 * Applies a provider callback the provider already verified: receipts settle the message they
 * name; a reply that is exactly one of the workspace's stop keywords opts the sender out of the
 * whole channel at once (a hard opt-out).
 */
export async function applyCallback(
  store: Store,
  workspaceId: number,
  channel: TemplateChannel,
  result: Extract<CallbackResult, { ok: true }>,
  now: number,
): Promise<{ receipts: number; optOuts: number }> {
  const { settings } = await getMessagingSettings(store, workspaceId, now);
  const stop = new Set(settings.stopKeywords.map((k) => k.trim().toUpperCase()));
  let receipts = 0;
  let optOuts = 0;
  await writingEvents(store, workspaceId, now, async (tx) => {
    const events: MessageEvent[] = [];
    for (const r of result.receipts) {
      // SELECT then UPDATE: DuckDB cannot take parameters in UPDATE … RETURNING.
      const rows = await tx.query<{
        message_key: string;
        user_key: number;
        journey_id: number;
        node_id: string;
        instance_id: number;
        provider: string;
      }>(
        `SELECT message_key, user_key, journey_id, node_id, instance_id, provider FROM outbox
         WHERE workspace_id = $1 AND channel = $2 AND provider_message_id = $3 AND status IN ('sent', 'unknown', 'sending')`,
        [workspaceId, channel, r.providerMessageId],
      );
      if (rows.length === 0) continue;
      await tx.query(
        `UPDATE outbox SET status = $4, reason = $5, updated_at = $6
         WHERE workspace_id = $1 AND channel = $2 AND provider_message_id = $3 AND status IN ('sent', 'unknown', 'sending')`,
        [workspaceId, channel, r.providerMessageId, r.status, r.reason ?? null, now],
      );
      for (const m of rows) {
        receipts++;
        events.push({
          name: r.status === 'delivered' ? 'Message Delivered' : 'Message Failed',
          id: `msg.${m.message_key}.${r.status}.receipt`,
          userKey: Number(m.user_key),
          properties: {
            message_key: m.message_key,
            channel,
            provider: m.provider,
            journey_id: Number(m.journey_id),
            node_id: m.node_id,
            instance_id: Number(m.instance_id),
            ...(r.reason ? { reason: r.reason } : {}),
          },
        });
      }
    }
    const identity = replyIdentity[channel];
    for (const reply of result.replies) {
      if (!identity || !stop.has(reply.text.trim().toUpperCase())) continue;
      const people = await tx.query<{ user_key: number }>(
        'SELECT user_key FROM identities WHERE workspace_id = $1 AND type = $2 AND value = $3',
        [workspaceId, identity, reply.from],
      );
      for (const p of people) {
        optOuts++;
        await setSubscription(tx, workspaceId, Number(p.user_key), { channel, topic: '*', subscribed: false }, 'reply', now);
        events.push({
          name: 'Unsubscribed',
          id: `reply.${channel}.${reply.from}.${now}.${randomBytes(4).toString('hex')}`,
          userKey: Number(p.user_key),
          properties: { channel, topic: '*', source: 'reply', text: reply.text },
        });
      }
    }
    await insertMessageEvents(tx, store.dialect, workspaceId, now, events);
  });
  return { receipts, optOuts };
}
