import { AppError, formatPath } from '../../core/errors.ts';
import { type TemplateChannel, templateChannels } from '../templates/schema.ts';
import { aliyunSmsProvider } from './aliyun-sms.ts';
import { apnsProvider } from './apns.ts';
import type { ProviderFactory } from './channel.ts';
import { fcmProvider } from './fcm.ts';
import { sandboxProvider } from './sandbox.ts';
import { smtpEmailProvider } from './smtp-email.ts';
import { twilioSmsProvider } from './twilio-sms.ts';
import { voiceWebhookProvider } from './voice-webhook.ts';
import { webhookProvider } from './webhook.ts';
import { wechatProvider } from './wechat.ts';

/** Every provider a channel can be set to; the sandbox serves every channel and is the default. */
const factories: readonly ProviderFactory<never>[] = [
  webhookProvider,
  voiceWebhookProvider,
  twilioSmsProvider,
  aliyunSmsProvider,
  fcmProvider,
  apnsProvider,
  wechatProvider,
  smtpEmailProvider,
] as unknown as ProviderFactory<never>[];

export function providerFactory(channel: TemplateChannel, name: string): ProviderFactory<unknown> | null {
  if (name === 'sandbox') return sandboxProvider(channel) as ProviderFactory<unknown>;
  return (factories.find((f) => f.channel === channel && f.name === name) as ProviderFactory<unknown> | undefined) ?? null;
}

/** Providers that dedupe on our key: a send cut off by a crash is retried with the same key. */
export const dedupingProviders: readonly string[] = ['sandbox', ...factories.filter((f) => f.honoursIdempotencyKey).map((f) => f.name)];

/** Provider names per channel, for errors and the API's listing. */
export function providersOf(channel: TemplateChannel): string[] {
  return ['sandbox', ...factories.filter((f) => f.channel === channel).map((f) => f.name)];
}

export const allChannels = templateChannels;

/** Validates a provider's configuration, with paths under `config`. */
export function parseProviderConfig(channel: TemplateChannel, name: string, config: unknown): unknown {
  const factory = providerFactory(channel, name);
  if (!factory) {
    throw new AppError(
      'invalid_request',
      `no provider "${name}" for ${channel}; choose one of ${providersOf(channel).join(', ')}`,
      'provider',
    );
  }
  const parsed = factory.config.safeParse(config ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({
      code: 'invalid_request' as const,
      message: i.message,
      path: formatPath(['config', ...i.path]),
    }));
    const first = issues[0] as (typeof issues)[number];
    throw new AppError('invalid_request', first.message, first.path, issues);
  }
  return parsed.data;
}
