import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AppError } from '../core/errors.ts';
import {
  applyCallback,
  channelSettingsSchema,
  clickByToken,
  getMessagingSettings,
  listChannelSettings,
  messagingSettingsSchema,
  providersOf,
  putChannelSettings,
  putMessagingSettings,
  redactConfig,
  setSubscription,
  subscriptionSchema,
  subscriptionsOf,
  templateChannels,
  unsubscribeByToken,
} from '../messaging/index.ts';
import { workspaceFromAdminKey } from './auth.ts';
import type { ApiContext } from './context.ts';
import { parseOrThrow } from './errors.ts';
import { namedPersonKey, personFields } from './person-lookup.ts';

const channelParams = z.object({ channel: z.enum(templateChannels) });
const tokenParams = z.object({ token: z.string().min(10).max(2000) });
const callbackParams = z.object({ workspaceId: z.coerce.number().int().positive(), channel: z.enum(templateChannels) });
export const subscriptionBodySchema = z
  .strictObject({ ...personFields, ...subscriptionSchema.shape })
  .describe('A consent or opt-out for a person');
export const subscriptionsQuerySchema = z.strictObject(personFields);

const page = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${title}</title></head>
<body style="font-family:system-ui;max-width:32rem;margin:4rem auto;padding:0 1rem">${body}</body></html>`;

/**
 * Channels, contact rules and consent (admin API), and what comes back from people and providers:
 * one-click unsubscribe pages, tracked-link redirects and provider callbacks (public, each
 * authenticated by its signed token or the provider's signature).
 */
export function registerMessagingRoutes(app: FastifyInstance, ctx: ApiContext) {
  const ws = async (request: Parameters<typeof workspaceFromAdminKey>[1]) => (await workspaceFromAdminKey(ctx.keys, request)).workspaceId;

  app.get('/api/channels', async (request) => {
    const settings = await listChannelSettings(ctx.store, await ws(request));
    return {
      channels: settings.map((s) => ({ ...s, config: redactConfig(s.config), providers: providersOf(s.channel) })),
    };
  });

  app.put('/api/channels/:channel', async (request) => {
    const workspaceId = await ws(request);
    const { channel } = parseOrThrow(channelParams, request.params);
    const body = parseOrThrow(channelSettingsSchema, request.body);
    const saved = await ctx.store.transaction((tx) => putChannelSettings(tx, workspaceId, channel, body, ctx.clock.now()));
    return { ...saved, config: redactConfig(saved.config) };
  });

  app.get(
    '/api/messaging/settings',
    async (request) => (await getMessagingSettings(ctx.store, await ws(request), ctx.clock.now())).settings,
  );

  app.put('/api/messaging/settings', async (request) => {
    const workspaceId = await ws(request);
    const settings = parseOrThrow(messagingSettingsSchema, request.body);
    return putMessagingSettings(ctx.store, workspaceId, settings, ctx.clock.now());
  });

  app.put('/api/subscriptions', async (request) => {
    const workspaceId = await ws(request);
    const body = parseOrThrow(subscriptionBodySchema, request.body);
    const userKey = await namedPersonKey(ctx.store, workspaceId, body);
    await setSubscription(ctx.store, workspaceId, userKey, body, 'api', ctx.clock.now());
    return { subscriptions: await subscriptionsOf(ctx.store, workspaceId, userKey) };
  });

  app.get('/api/subscriptions', async (request) => {
    const workspaceId = await ws(request);
    const q = parseOrThrow(subscriptionsQuerySchema, request.query);
    return { subscriptions: await subscriptionsOf(ctx.store, workspaceId, await namedPersonKey(ctx.store, workspaceId, q)) };
  });

  // One-click unsubscribe: a GET only shows a button (link scanners follow GETs); the POST — from
  // that button, or from a mail client per RFC 8058 — unsubscribes.
  app.get('/u/:token', async (request, reply) => {
    const { token } = parseOrThrow(tokenParams, request.params);
    reply.type('text/html');
    const action = `/u/${encodeURIComponent(token)}`;
    return page(
      'Unsubscribe',
      `<h1>Unsubscribe</h1><p>Stop receiving these messages?</p><form method="post" action="${action}"><button name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form>`,
    );
  });

  app.get('/c/:token', async (request, reply) => {
    const { token } = parseOrThrow(tokenParams, request.params);
    const url = await clickByToken(ctx.store, token, ctx.clock.now());
    if (!url) throw new AppError('not_found', 'this link is not valid', 'token');
    return reply.redirect(url, 302);
  });

  // Provider callbacks carry signatures over the exact bytes, and one-click unsubscribes come as
  // forms: these routes read the body raw, whatever its type.
  app.register(async (raw) => {
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    raw.post('/u/:token', async (request, reply) => {
      const { token } = parseOrThrow(tokenParams, request.params);
      const done = await unsubscribeByToken(ctx.store, token, ctx.clock.now());
      if (!done) throw new AppError('not_found', 'this unsubscribe link is not valid', 'token');
      reply.type('text/html');
      return page('Unsubscribed', `<h1>You are unsubscribed</h1><p>You will get no more ${done.topic} messages by ${done.channel}.</p>`);
    });

    raw.post('/v1/callbacks/:workspaceId/:channel', async (request, reply) => {
      const { workspaceId, channel } = parseOrThrow(callbackParams, request.params);
      const providerOf = await ctx.dispatcher.providers.forWorkspace(ctx.store, workspaceId);
      const provider = providerOf(channel).provider;
      if (!provider.parseCallback)
        throw new AppError('not_found', `the ${channel} provider (${provider.name}) sends no callbacks`, 'channel');
      const result = provider.parseCallback({
        url: `${ctx.dispatcher.options.publicUrl.replace(/\/$/, '')}${request.url}`,
        headers: request.headers,
        body: typeof request.body === 'string' ? request.body : '',
      });
      if (!result.ok) throw new AppError('unauthorized', result.reason, 'signature');
      const applied = await applyCallback(ctx.store, workspaceId, channel, result, ctx.clock.now());
      // Aliyun's receipt push wants `{code: 0}`; every other provider only reads the status.
      reply.status(200);
      return { code: 0, msg: 'ok', ...applied };
    });
  });
}
