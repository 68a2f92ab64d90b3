import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { SqlExecutor, Store } from '../../store/index.ts';
import { templateChannels } from '../templates/schema.ts';

/**
 * A workspace's contact rules, applied by the dispatcher to every journey's messages. One schema:
 * the type, the API validator and the OpenAPI component. Marketing messages obey all of it;
 * transactional ones (order and service notices) skip caps, quiet hours, blackouts, consent and
 * send-time choice, but never a hard opt-out.
 */
const channel = z.enum(templateChannels);

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM, 24-hour');
const when = z.enum(['defer', 'drop']).describe('`defer`: deliver at the next allowed time; `drop`: skip the message');

export const frequencyCapSchema = z
  .strictObject({
    channel: z.union([channel, z.literal('all')]).describe('One channel, or `all` for every marketing message'),
    period: z.enum(['day', 'week']).describe("A calendar day or week (Monday to Sunday) in the person's time zone"),
    max: z.number().int().min(0).max(1000).describe('At most this many marketing messages in the period'),
  })
  .describe('A frequency cap');

export const messagingSettingsSchema = z
  .strictObject({
    frequencyCaps: z.array(frequencyCapSchema).max(20).default([]),
    quietHours: z
      .strictObject({
        start: clock.describe('Local time quiet hours begin, e.g. 21:00'),
        end: clock.describe('Local time they end, e.g. 08:00 (may be the next day)'),
        action: when,
      })
      .nullable()
      .default(null)
      .describe("No marketing messages in this window of the person's local time"),
    blackoutDates: z
      .array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'YYYY-MM-DD'))
      .max(366)
      .default([])
      .describe(
        'Local calendar dates without marketing messages (holidays); deferred to the next day that is not one, or dropped as quietHours.action says',
      ),
    defaultTimezone: z
      .string()
      .refine(isTimeZone, 'not an IANA time zone (e.g. Asia/Shanghai, Europe/Paris)')
      .default('UTC')
      .describe('The time zone of people without a `timezone` trait'),
    requireConsent: z
      .array(channel)
      .default([])
      .describe('Channels where marketing needs an explicit subscription (opt-in), e.g. ["sms"] where the law asks for it'),
    smsOptOutText: z
      .string()
      .max(40)
      .nullable()
      .default(null)
      .describe('Appended to marketing SMS that do not already contain it, e.g. "回T退订" or "Reply STOP to opt out"'),
    stopKeywords: z
      .array(z.string().min(1).max(20))
      .default(['STOP', 'UNSUBSCRIBE', 'T', 'TD', '退订'])
      .describe('SMS replies (whole message, any case) that opt the sender out of every SMS'),
    nonResponder: z
      .strictObject({
        channels: z.array(channel).min(1),
        lastMessages: z.number().int().min(1).max(100).describe('Skip people who clicked none of their last N messages on the channel'),
      })
      .nullable()
      .default(null)
      .describe('Do not spend on people who never respond'),
    sendTime: z
      .strictObject({
        mode: z.literal('most_active_hour'),
        windowHours: z.number().int().min(1).max(72).describe('Wait at most this long for the active hour'),
      })
      .nullable()
      .default(null)
      .describe("Deliver marketing at the person's most active hour (computed trait `active_hour`) within a window"),
    trackClicks: z.boolean().default(true).describe('Rewrite links in email and SMS to tracked redirects (Message Clicked events)'),
  })
  .describe('Contact rules of the workspace, applied to every journey');
export type MessagingSettings = z.infer<typeof messagingSettingsSchema>;

export const defaultMessagingSettings: MessagingSettings = messagingSettingsSchema.parse({});

export interface StoredMessagingSettings {
  settings: MessagingSettings;
  /** Signs unsubscribe and click links (never leaves the server). */
  linkSecret: string;
}

/** The settings, creating the defaults (and the link secret) on first use. */
export async function getMessagingSettings(store: Store, workspaceId: number, now: number): Promise<StoredMessagingSettings> {
  const found = await readSettings(store, workspaceId);
  if (found) return found;
  // A concurrent first use may insert first: ON CONFLICT keeps one secret, then everyone reads it.
  await store.query(
    `INSERT INTO messaging_settings (workspace_id, settings, link_secret, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
    [workspaceId, JSON.stringify(defaultMessagingSettings), randomBytes(32).toString('base64url'), now],
  );
  return (await readSettings(store, workspaceId)) as StoredMessagingSettings;
}

async function readSettings(db: SqlExecutor, workspaceId: number): Promise<StoredMessagingSettings | null> {
  const [row] = await db.query<{ settings: unknown; link_secret: string }>(
    'SELECT settings, link_secret FROM messaging_settings WHERE workspace_id = $1',
    [workspaceId],
  );
  if (!row) return null;
  const raw = typeof row.settings === 'string' ? JSON.parse(row.settings) : row.settings;
  return { settings: messagingSettingsSchema.parse(raw), linkSecret: row.link_secret };
}

export async function putMessagingSettings(
  store: Store,
  workspaceId: number,
  settings: MessagingSettings,
  now: number,
): Promise<MessagingSettings> {
  await getMessagingSettings(store, workspaceId, now);
  await store.query('UPDATE messaging_settings SET settings = $2, updated_at = $3 WHERE workspace_id = $1', [
    workspaceId,
    JSON.stringify(settings),
    now,
  ]);
  return settings;
}
