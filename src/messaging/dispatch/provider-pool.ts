import type { OutboundClient } from '../../core/outbound-http.ts';
import type { SqlExecutor } from '../../store/index.ts';
import type { ChannelProvider } from '../channels/channel.ts';
import { type ChannelSettings, listChannelSettings } from '../channels/channel-settings.ts';
import { providerFactory } from '../channels/registry.ts';
import { createSandbox } from '../channels/sandbox.ts';
import type { ProviderSpec } from './delivery-protocol.ts';
import { TokenBucket } from './token-bucket.ts';
import type { DeliveryChannel } from './types.ts';

export interface ActiveProvider {
  provider: ChannelProvider;
  limiter: TokenBucket | null;
  /** How a delivery thread builds the same provider; null for the sandbox, which delivers nothing and stays inline. */
  spec: ProviderSpec | null;
}

/**
 * The live provider of each (workspace, channel), built from its settings and rebuilt when they
 * change (the old one is closed). One instance per channel keeps connections, access tokens and
 * rate limits shared by every message of the workspace.
 */
export class ProviderPool {
  private readonly live = new Map<string, { updatedAt: number; active: ActiveProvider }>();
  private readonly sandbox: ActiveProvider = { provider: createSandbox(), limiter: null, spec: null };

  constructor(
    private readonly http: OutboundClient,
    private readonly now: () => number,
  ) {}

  /** The providers of a workspace's channels, current as of its settings now. */
  async forWorkspace(db: SqlExecutor, workspaceId: number): Promise<(channel: DeliveryChannel) => ActiveProvider> {
    const settings = await listChannelSettings(db, workspaceId);
    const byChannel = new Map<string, ActiveProvider>();
    for (const s of settings) byChannel.set(s.channel, await this.activeFor(workspaceId, s));
    return (channel) => byChannel.get(channel) ?? this.sandbox;
  }

  async close(): Promise<void> {
    for (const { active } of this.live.values()) await active.provider.close?.();
    this.live.clear();
  }

  private async activeFor(workspaceId: number, s: ChannelSettings): Promise<ActiveProvider> {
    const key = `${workspaceId}:${s.channel}`;
    const current = this.live.get(key);
    if (current && current.updatedAt === s.updatedAt) return current.active;
    await current?.active.provider.close?.();
    const factory = providerFactory(s.channel, s.provider);
    const provider = factory
      ? factory.create(factory.config.parse(s.config), {
          http: this.http,
          allowPrivateNetworks: this.http.options.allowPrivateNetworks,
          now: this.now,
        })
      : createSandbox();
    const spec: ProviderSpec | null =
      factory && s.provider !== 'sandbox'
        ? {
            key,
            updatedAt: s.updatedAt,
            channel: s.channel,
            provider: s.provider,
            config: s.config,
            ratePerSecond: s.ratePerSecond,
            honoursIdempotencyKey: provider.honoursIdempotencyKey,
          }
        : null;
    const active = { provider, limiter: s.ratePerSecond ? new TokenBucket(s.ratePerSecond) : null, spec };
    this.live.set(key, { updatedAt: s.updatedAt, active });
    return active;
  }
}
