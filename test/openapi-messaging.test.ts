import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ApiContext } from '../src/api/context.ts';
import { registerMessagingRoutes } from '../src/api/messaging-routes.ts';
import { openApiDocument } from '../src/api/openapi.ts';
import { aliyunConfigSchema } from '../src/messaging/channels/aliyun-sms.ts';
import { apnsConfigSchema } from '../src/messaging/channels/apns.ts';
import { fcmConfigSchema } from '../src/messaging/channels/fcm.ts';
import { sandboxConfigSchema } from '../src/messaging/channels/sandbox.ts';
import { smtpConfigSchema } from '../src/messaging/channels/smtp-email.ts';
import { twilioConfigSchema } from '../src/messaging/channels/twilio-sms.ts';
import { voiceWebhookConfigSchema } from '../src/messaging/channels/voice-webhook.ts';
import { webhookConfigSchema } from '../src/messaging/channels/webhook.ts';
import { wechatConfigSchema } from '../src/messaging/channels/wechat.ts';
import { providersOf, templateChannels } from '../src/messaging/index.ts';

/** The messaging API in the OpenAPI document: every route, its security, and every provider's settings. */
interface Operation {
  summary: string;
  description?: string;
  security?: unknown[];
  responses: Record<string, unknown>;
}
type JsonSchema = { properties?: Record<string, JsonSchema & { description?: string }>; anyOf?: { $ref: string }[]; description?: string };

const doc = openApiDocument();
const paths = doc.paths as unknown as Record<string, Record<string, Operation>>;
const components = doc.components.schemas as Record<string, JsonSchema>;

/** Each provider's exported config schema, by the component that documents it. */
const providerConfigs: Record<string, z.ZodType> = {
  ProviderConfigTwilio: twilioConfigSchema,
  ProviderConfigAliyun: aliyunConfigSchema,
  ProviderConfigFcm: fcmConfigSchema,
  ProviderConfigApns: apnsConfigSchema,
  ProviderConfigWechat: wechatConfigSchema,
  ProviderConfigSmtp: smtpConfigSchema,
  ProviderConfigWebhook: webhookConfigSchema,
  ProviderConfigVoiceWebhook: voiceWebhookConfigSchema,
  ProviderConfigSandbox: sandboxConfigSchema,
};

describe('messaging API in OpenAPI', () => {
  it('documents every messaging route', async () => {
    const app = Fastify();
    const routes: [string, string][] = [];
    app.addHook('onRoute', (r) => {
      for (const method of [r.method].flat()) if (method !== 'HEAD') routes.push([method.toLowerCase(), r.url.replace(/:(\w+)/g, '{$1}')]);
    });
    // Registering reads nothing from the context; handlers that would are never called.
    registerMessagingRoutes(app, {} as ApiContext);
    await app.ready();
    expect(routes.map(([m, u]) => `${m} ${u}`).sort()).toEqual([
      'get /api/channels',
      'get /api/messaging/settings',
      'get /api/subscriptions',
      'get /c/{token}',
      'get /u/{token}',
      'post /u/{token}',
      'post /v1/callbacks/{workspaceId}/{channel}',
      'put /api/channels/{channel}',
      'put /api/messaging/settings',
      'put /api/subscriptions',
    ]);
    expect(routes.filter(([method, url]) => !paths[url]?.[method]?.summary)).toEqual([]);
  });

  it('asks for the admin key on /api, and says how each public route is authenticated instead', () => {
    for (const [url, ops] of Object.entries(paths)) {
      for (const op of Object.values(ops)) {
        if (url.startsWith('/api/channels') || url.startsWith('/api/messaging') || url === '/api/subscriptions') {
          expect(op.security, url).toEqual([{ adminKey: [] }]);
          expect(op.responses['401'], url).toBeDefined();
        }
      }
    }
    const publicOps = [paths['/u/{token}']!.get!, paths['/u/{token}']!.post!, paths['/c/{token}']!.get!];
    for (const op of publicOps) {
      expect(op.security).toEqual([]);
      expect(op.description).toMatch(/signed \(HMAC-SHA256\)/);
    }
    const callback = paths['/v1/callbacks/{workspaceId}/{channel}']!.post!;
    expect(callback.security).toEqual([]);
    expect(callback.description).toContain('X-Twilio-Signature');
    expect(callback.description).toContain('callbackToken');
    expect(callback.description).toContain('x-signature');
    expect(Object.keys(callback.responses)).toEqual(['200', '400', '401', '404']);
    expect(Object.keys(paths['/c/{token}']!.get!.responses)).toContain('302');
  });

  it('has the request components, one per provider config, and ChannelSettings points at them all', () => {
    for (const name of ['ChannelSettings', 'Channel', 'MessagingSettings', 'SubscriptionRequest', 'Subscription', 'CallbackResult']) {
      expect(components[name], name).toBeDefined();
    }
    expect(Object.keys(components.MessagingSettings!.properties!)).toEqual(
      expect.arrayContaining(['frequencyCaps', 'quietHours', 'stopKeywords']),
    );
    expect(Object.keys(components.SubscriptionRequest!.properties!)).toEqual(
      expect.arrayContaining(['userId', 'identity', 'channel', 'topic', 'subscribed']),
    );

    const documented = Object.keys(components).filter((n) => n.startsWith('ProviderConfig'));
    expect(documented.sort()).toEqual(Object.keys(providerConfigs).sort());
    // Every provider the registry offers on any channel has its component (none added without docs).
    const offered = new Set(templateChannels.flatMap((c) => providersOf(c)));
    expect(offered.size).toBe(documented.length);
    const config = components.ChannelSettings!.properties!.config!;
    expect(config.anyOf!.map((r) => r.$ref.split('/').pop()).sort()).toEqual(documented.sort());

    // A reader sees each provider's fields with their descriptions, and which provider value selects it.
    const twilio = components.ProviderConfigTwilio!;
    expect(twilio.properties!.authToken!.description).toContain('signs callbacks');
    expect(twilio.description).toContain('"provider": "twilio"');
    expect(components.ProviderConfigVoiceWebhook!.description).toContain('`"provider": "voice_webhook"` on voice.');
    expect(components.ProviderConfigSandbox!.description).toContain(templateChannels.join(', '));
    for (const name of documented) {
      const fields = Object.entries(components[name]!.properties!);
      expect(fields.filter(([, p]) => !p.description).map(([f]) => `${name}.${f}`)).toEqual([]);
    }
  });

  it('converts every provider config to JSON Schema, strictly (nothing unrepresentable)', () => {
    for (const [name, s] of Object.entries(providerConfigs)) {
      for (const io of ['input', 'output'] as const) {
        expect(() => z.toJSONSchema(s, { io }), `${name} (${io})`).not.toThrow();
      }
    }
  });

  it('resolves every $ref of the document', () => {
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(20);
    expect([...new Set(refs)].filter((r) => !(r in components))).toEqual([]);
  });
});
