import { z } from 'zod';
import type { ChannelProvider, ProviderFactory } from './channel.ts';

/**
 * The default provider of every channel: delivers nothing, and the dispatcher keeps the rendered
 * message (`outbox.content`) as it does for every provider, so demos and tests read exactly what
 * would have gone out. It never fails; with `failEvery` it fails on purpose (demos of retries).
 */
export const sandboxConfigSchema = z
  .strictObject({
    failEvery: z.number().int().min(2).optional().describe('Fail every Nth message with a retryable error (to watch retries)'),
  })
  .describe('The sandbox: records messages, delivers nothing');
export type SandboxConfig = z.infer<typeof sandboxConfigSchema>;

export function createSandbox(config: SandboxConfig = {}): ChannelProvider {
  let n = 0;
  return {
    name: 'sandbox',
    honoursIdempotencyKey: true,
    async send(message) {
      n++;
      if (config.failEvery && n % config.failEvery === 0) return { kind: 'retry', reason: 'sandbox: simulated failure' };
      return { kind: 'sent', providerMessageId: `sandbox-${message.messageKey}` };
    },
  };
}

/** The sandbox for any channel (the registry lists it once per channel). */
export const sandboxProvider = (channel: ProviderFactory['channel']): ProviderFactory<SandboxConfig> => ({
  name: 'sandbox',
  channel,
  honoursIdempotencyKey: true,
  config: sandboxConfigSchema,
  create: (config) => createSandbox(config),
});
