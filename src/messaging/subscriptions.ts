import { z } from 'zod';
import type { SqlExecutor } from '../store/index.ts';
import { templateChannels } from './templates/schema.ts';

/**
 * Consent and opt-outs per person, channel and topic. Topic `*` is the whole channel: subscribed
 * there is consent to everything on it; unsubscribed there is a hard opt-out that even
 * transactional messages respect (an SMS "STOP").
 */
export const subscriptionSchema = z
  .strictObject({
    channel: z.enum(templateChannels),
    topic: z
      .string()
      .regex(/^(\*|[a-z0-9_-]{1,50})$/, '`*` or lower-case letters, digits, "_" or "-"')
      .default('marketing')
      .describe('A journey send node’s topic, or `*` for the whole channel'),
    subscribed: z.boolean().describe('true: consent given; false: opted out'),
  })
  .describe('A consent or opt-out');
export type SubscriptionInput = z.infer<typeof subscriptionSchema>;

export interface Subscription extends SubscriptionInput {
  source: string;
  updatedAt: number;
}

export async function setSubscription(
  db: SqlExecutor,
  workspaceId: number,
  userKey: number,
  s: SubscriptionInput,
  source: string,
  now: number,
): Promise<void> {
  await db.query(
    `INSERT INTO subscriptions (workspace_id, user_key, channel, topic, subscribed, source, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (workspace_id, user_key, channel, topic) DO UPDATE SET subscribed = excluded.subscribed, source = excluded.source, updated_at = excluded.updated_at`,
    [workspaceId, userKey, s.channel, s.topic, s.subscribed, source, now],
  );
}

export async function subscriptionsOf(db: SqlExecutor, workspaceId: number, userKey: number): Promise<Subscription[]> {
  const rows = await db.query<{ channel: string; topic: string; subscribed: boolean; source: string; updated_at: number }>(
    'SELECT channel, topic, subscribed, source, updated_at FROM subscriptions WHERE workspace_id = $1 AND user_key = $2 ORDER BY channel, topic',
    [workspaceId, userKey],
  );
  return rows.map((r) => ({
    channel: r.channel as Subscription['channel'],
    topic: r.topic,
    subscribed: r.subscribed === true,
    source: r.source,
    updatedAt: Number(r.updated_at),
  }));
}
