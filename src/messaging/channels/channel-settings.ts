import { z } from 'zod';
import type { SqlExecutor } from '../../store/index.ts';
import { type TemplateChannel, templateChannels } from '../templates/schema.ts';
import { parseProviderConfig } from './registry.ts';

/** How a workspace delivers one channel: which provider, its settings, and a rate limit. */
export const channelSettingsSchema = z
  .strictObject({
    provider: z.string().min(1).max(50).describe('`sandbox` (default), or a provider of the channel: see GET /api/channels'),
    config: z.record(z.string(), z.unknown()).default({}).describe("The provider's settings (credentials, endpoints)"),
    ratePerSecond: z.number().positive().max(100_000).nullable().default(null).describe('At most this many calls a second to the provider'),
  })
  .describe('The provider of a channel');
export type ChannelSettingsInput = z.infer<typeof channelSettingsSchema>;

export interface ChannelSettings {
  channel: TemplateChannel;
  provider: string;
  config: unknown;
  ratePerSecond: number | null;
  updatedAt: number;
}

const sandboxDefault = (channel: TemplateChannel): ChannelSettings => ({
  channel,
  provider: 'sandbox',
  config: {},
  ratePerSecond: null,
  updatedAt: 0,
});

/** Every channel of a workspace: the configured provider, else the sandbox. */
export async function listChannelSettings(db: SqlExecutor, workspaceId: number): Promise<ChannelSettings[]> {
  const rows = await db.query<{ channel: string; provider: string; config: unknown; rate_per_second: number | null; updated_at: number }>(
    'SELECT channel, provider, config, rate_per_second, updated_at FROM channel_providers WHERE workspace_id = $1',
    [workspaceId],
  );
  return templateChannels.map((channel) => {
    const r = rows.find((x) => x.channel === channel);
    if (!r) return sandboxDefault(channel);
    return {
      channel,
      provider: r.provider,
      config: typeof r.config === 'string' ? JSON.parse(r.config) : r.config,
      ratePerSecond: r.rate_per_second === null ? null : Number(r.rate_per_second),
      updatedAt: Number(r.updated_at),
    };
  });
}

/** Sets a channel's provider after validating its configuration against the provider's schema. */
export async function putChannelSettings(
  db: SqlExecutor,
  workspaceId: number,
  channel: TemplateChannel,
  input: ChannelSettingsInput,
  now: number,
): Promise<ChannelSettings> {
  const config = parseProviderConfig(channel, input.provider, input.config);
  await db.query('DELETE FROM channel_providers WHERE workspace_id = $1 AND channel = $2', [workspaceId, channel]);
  await db.query(
    'INSERT INTO channel_providers (workspace_id, channel, provider, config, rate_per_second, updated_at) VALUES ($1, $2, $3, $4, $5, $6)',
    [workspaceId, channel, input.provider, JSON.stringify(config), input.ratePerSecond, now],
  );
  return { channel, provider: input.provider, config, ratePerSecond: input.ratePerSecond, updatedAt: now };
}

/** Secrets stay on the server: listings show which fields are set, not their values. */
export function redactConfig(config: unknown): unknown {
  if (!config || typeof config !== 'object') return config;
  const secret = /secret|token|pass|key|auth/i;
  return Object.fromEntries(
    Object.entries(config as Record<string, unknown>).map(([k, v]) => [k, secret.test(k) && v !== undefined ? '••••' : redactConfig(v)]),
  );
}
