import { z } from 'zod';
import { providerFactory } from '../messaging/channels/registry.ts';
import { channelSettingsSchema, messagingSettingsSchema, providersOf, subscriptionSchema, templateChannels } from '../messaging/index.ts';
import { subscriptionBodySchema } from './messaging-routes.ts';
import { json, ref, schema } from './openapi-kit.ts';

/** OpenAPI pieces of the messaging API (channels, contact rules, consent, links, callbacks); merged by openapi.ts. */
const inline = (s: object) => ({ content: { 'application/json': { schema: s } } });
const html = (description: string) => ({ description, content: { 'text/html': { schema: { type: 'string' } } } });
const error = (description: string) => ({ description, ...json('Error') });
const adminAuth = [{ adminKey: [] }];
/** Public routes: no API key; each checks its own credential, which its description names. */
const noAuth: never[] = [];
const errors = { '400': error('Invalid input (the path names the bad field)'), '401': error('Missing or unknown key') };
const admin = (summary: string, extra: object = {}) => ({ summary, tags: ['Messaging'], security: adminAuth, ...extra });
const open = (summary: string, description: string, extra: object = {}) => ({
  summary,
  description,
  tags: ['Messaging (public)'],
  security: noAuth,
  ...extra,
});

const channelParam = {
  name: 'channel',
  in: 'path',
  required: true,
  schema: { type: 'string', enum: [...templateChannels] },
  description: 'Message channel',
};
const tokenParam = {
  name: 'token',
  in: 'path',
  required: true,
  schema: { type: 'string', minLength: 10, maxLength: 2000 },
  description: 'Signed link token, as put in the message',
};

/** `voice_webhook` → `ProviderConfigVoiceWebhook`. */
const componentName = (provider: string) =>
  `ProviderConfig${provider
    .split('_')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('')}`;

/**
 * Every provider once, with the channels it serves, read from the registry (not listed by hand) so
 * that a new provider shows up in the document the day it can be configured. The sandbox serves
 * every channel with one schema.
 */
const providers = (() => {
  const found = new Map<string, { channels: string[]; config: z.ZodType }>();
  for (const channel of templateChannels) {
    for (const name of providersOf(channel)) {
      const entry = found.get(name) ?? { channels: [], config: providerFactory(channel, name)!.config };
      entry.channels.push(channel);
      found.set(name, entry);
    }
  }
  return [...found].map(([name, p]) => ({ name, component: componentName(name), ...p }));
})();

/** A provider's config schema, saying which `provider` value and channels it belongs to (the zod schema cannot). */
function providerComponent(p: (typeof providers)[number]) {
  const js = schema(p.config) as { description?: string };
  const serves = `\`"provider": "${p.name}"\` on ${p.channels.join(', ')}.`;
  return { ...js, description: js.description ? `${js.description}. ${serves}` : serves };
}

/** ChannelSettings, with `config` pointing at the provider components so a reader finds every field. */
function channelSettingsComponent() {
  const js = schema(channelSettingsSchema) as { properties: Record<string, { description?: string }> };
  const which = providers.map((p) => `\`${p.name}\` → ${p.component}`).join(', ');
  js.properties['config'] = {
    ...js.properties['config'],
    description: `The provider's settings (credentials, endpoints), validated against the schema of \`provider\`: ${which}. Replaced whole on every PUT.`,
    anyOf: providers.map((p) => ref(p.component)),
  } as { description: string };
  return js;
}

export const messagingSchemas = {
  ChannelSettings: channelSettingsComponent(),
  ...Object.fromEntries(providers.map((p) => [p.component, providerComponent(p)])),
  Channel: {
    type: 'object',
    description: 'A channel as the API shows it: its provider (the sandbox until set), with secrets masked',
    required: ['channel', 'provider', 'config', 'ratePerSecond', 'updatedAt'],
    properties: {
      channel: { type: 'string', enum: [...templateChannels] },
      provider: { type: 'string' },
      config: {
        type: 'object',
        description:
          'The saved settings, defaults filled in; fields whose name suggests a secret (key, token, pass, auth, secret) show as "••••"',
      },
      ratePerSecond: { type: ['number', 'null'], description: 'At most this many calls a second to the provider; null: no limit' },
      updatedAt: { type: 'integer', description: 'Last change, epoch milliseconds; 0 while the channel is on the default sandbox' },
      providers: { type: 'array', items: { type: 'string' }, description: 'Providers the channel may be set to (listing only)' },
    },
  },
  MessagingSettings: schema(messagingSettingsSchema),
  SubscriptionRequest: schema(subscriptionBodySchema),
  Subscription: schema(
    subscriptionSchema
      .extend({
        source: z.string().describe('Who set it: `api`, `one-click` (unsubscribe link) or `reply` (an SMS stop keyword)'),
        updatedAt: z.number().int().describe('Epoch milliseconds'),
      })
      .describe('A consent or opt-out, as stored'),
    'output',
  ),
  CallbackResult: {
    type: 'object',
    description: 'What a callback changed. `code: 0` is the acknowledgement Aliyun expects; other providers read only the status.',
    properties: {
      code: { type: 'integer', const: 0 },
      msg: { type: 'string', const: 'ok' },
      receipts: { type: 'integer', description: 'Messages settled as delivered or failed' },
      optOuts: { type: 'integer', description: 'People opted out of the channel by a stop-keyword reply' },
    },
  },
};

const subscriptions = inline({ type: 'object', properties: { subscriptions: { type: 'array', items: ref('Subscription') } } });
/** The person of GET /api/subscriptions. `identity` (an object) cannot be given in a query string. */
const personQuery = [
  { name: 'userId', in: 'query', schema: { type: 'string' }, description: 'The person’s user id' },
  { name: 'anonymousId', in: 'query', schema: { type: 'string' }, description: 'Or their anonymous id' },
];

const tokenAuth =
  'No API key: the token is the credential. It names the workspace and the message and is signed (HMAC-SHA256) with the workspace’s link secret, which never leaves the server; a forged, mangled or unknown token gets a 404.';

const callbackAuth = [
  'No API key: each provider’s own proof is checked with the channel’s saved configuration, over the raw body (any content type) and the public URL.',
  '- `twilio` (sms): `X-Twilio-Signature`, HMAC-SHA1 keyed with `authToken` over the URL and the sorted form fields. Point `statusCallbackUrl` and the number’s incoming-message webhook here.',
  '- `aliyun` (sms): the `token` query parameter must equal `callbackToken` (without one configured, every callback is refused). Body: Aliyun’s JSON array of receipts or replies.',
  '- `voice_webhook` (voice): `x-signature`, hex HMAC-SHA256 of the body keyed with `apiKey`.',
  'Other providers (and the sandbox) send no callbacks: 404. Receipts settle the message they name (`Message Delivered` / `Message Failed`); a reply that is exactly a stop keyword opts the sender out of the whole channel.',
].join('\n');

export const messagingPaths = {
  '/api/channels': {
    get: admin('Every channel with its provider (the sandbox until set), secrets masked, and the providers it may use', {
      responses: {
        '200': {
          description: '{channels}',
          ...inline({ type: 'object', properties: { channels: { type: 'array', items: ref('Channel') } } }),
        },
        ...errors,
      },
    }),
  },
  '/api/channels/{channel}': {
    put: admin('Set a channel’s provider, its settings (validated against the provider’s schema) and a rate limit', {
      parameters: [channelParam],
      requestBody: json('ChannelSettings'),
      responses: {
        '200': { description: 'The channel as saved, secrets masked', ...json('Channel') },
        '400': error('Unknown channel or provider (the message lists the channel’s providers), or a bad setting (path `config.…`)'),
        '401': errors['401'],
      },
    }),
  },
  '/api/messaging/settings': {
    get: admin('The contact rules (defaults until set)', {
      responses: { '200': { description: 'The rules', ...json('MessagingSettings') }, ...errors },
    }),
    put: admin('Replace the contact rules (fields left out go back to their defaults)', {
      requestBody: json('MessagingSettings'),
      responses: { '200': { description: 'The rules as saved', ...json('MessagingSettings') }, ...errors },
    }),
  },
  '/api/subscriptions': {
    put: admin('Record a consent or an opt-out for a person, channel and topic (`*`: the whole channel)', {
      requestBody: json('SubscriptionRequest'),
      responses: {
        '200': { description: 'All of the person’s subscriptions', ...subscriptions },
        ...errors,
        '404': error('No such person'),
      },
    }),
    get: admin('A person’s consents and opt-outs', {
      parameters: personQuery,
      responses: { '200': { description: 'The subscriptions', ...subscriptions }, ...errors, '404': error('No such person') },
    }),
  },
  '/u/{token}': {
    get: open(
      'Unsubscribe page: a button that POSTs (link scanners follow GETs, so a GET changes nothing)',
      `${tokenAuth} The page itself does not check the token; the POST does.`,
      { parameters: [tokenParam], responses: { '200': html('The page'), '400': error('Not a token') } },
    ),
    post: open(
      'One-click unsubscribe (RFC 8058) from the message’s topic on its channel; records `Unsubscribed` once',
      `${tokenAuth} Mail clients POST \`List-Unsubscribe=One-Click\` as a form; the page’s button sends the same.`,
      {
        parameters: [tokenParam],
        requestBody: {
          required: false,
          content: {
            'application/x-www-form-urlencoded': {
              schema: { type: 'object', properties: { 'List-Unsubscribe': { type: 'string', const: 'One-Click' } } },
            },
          },
        },
        responses: { '200': html('Confirmation page'), '400': error('Not a token'), '404': error('Invalid link') },
      },
    ),
  },
  '/c/{token}': {
    get: open('Tracked link: records `Message Clicked` and redirects to the link’s original URL', tokenAuth, {
      parameters: [tokenParam],
      responses: {
        '302': { description: 'To the original URL', headers: { Location: { schema: { type: 'string', format: 'uri' } } } },
        '400': error('Not a token'),
        '404': error('Invalid link'),
      },
    }),
  },
  '/v1/callbacks/{workspaceId}/{channel}': {
    post: open('Delivery receipts and replies from the channel’s provider', callbackAuth, {
      parameters: [
        { name: 'workspaceId', in: 'path', required: true, schema: { type: 'integer', minimum: 1 }, description: 'The workspace' },
        channelParam,
        { name: 'token', in: 'query', schema: { type: 'string' }, description: 'Aliyun only: the configured `callbackToken`' },
      ],
      requestBody: { description: 'As the provider sends it; read raw', content: { '*/*': { schema: { type: 'string' } } } },
      responses: {
        '200': { description: 'Applied', ...json('CallbackResult') },
        '400': error('Bad workspace id or channel'),
        '401': error('Signature or token missing or wrong (path `signature`); nothing recorded'),
        '404': error('The channel’s provider sends no callbacks'),
      },
    }),
  },
};
