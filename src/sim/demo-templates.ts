import { type JourneyDefinition, messagesOf } from '../journeys/index.ts';
import { createTemplate, getTemplate, type TemplateDefinition } from '../messaging/index.ts';
import type { Store } from '../store/index.ts';

/**
 * Starter templates for the demo shop: one per (message, channel) the README's journey and
 * examples/journeys/ use, named `{message}-{channel}`. They show what templates can read — the
 * person's traits, the coupon, the triggering event, recommended products — and give a new user
 * real rendered messages in the sandbox (GET /api/outbox) before any provider is connected.
 */
const messages: Record<string, { title: string; body: string }> = {
  'coupon-arrived': { title: 'A coupon for you', body: '{{ coupon.value }} off your next order with code {{ coupon.code }}' },
  reminder: { title: 'Still thinking it over?', body: 'Your {{ coupon.value }} off (code {{ coupon.code }}) is waiting' },
  'last-call': { title: 'Last call', body: 'Your code {{ coupon.code }} expires soon' },
  'cart-coupon': { title: 'Your cart is waiting', body: 'Finish your order: {{ coupon.value }} off with code {{ coupon.code }}' },
  'cart-reminder': { title: 'Still in your cart', body: 'Your items are still there, and so is code {{ coupon.code }}' },
  'coupon-expiring': { title: 'Your coupon expires soon', body: 'Code {{ coupon.code }} ends {{ coupon.expires_at | date: "%b %d" }}' },
  'we-miss-you': { title: 'We miss you', body: 'Come back for {{ coupon.value }} off with code {{ coupon.code }}' },
  'picked-for-you': { title: 'Picked for you', body: 'New picks we think you will like' },
  'welcome-coupon': { title: 'Welcome!', body: 'Here is {{ coupon.value }} off your first order: code {{ coupon.code }}' },
  'coupon-reminder': { title: 'Your welcome coupon', body: 'Code {{ coupon.code }} is still waiting for your first order' },
  'top-picks': { title: 'Our top picks', body: 'What other shoppers love right now' },
  'coupon-and-picks': { title: 'A coupon and some picks', body: '{{ coupon.value }} off with code {{ coupon.code }}, and a few ideas' },
  'vip-flash-sale': { title: 'VIP flash sale', body: 'Tonight only for you: {{ coupon.value }} off with code {{ coupon.code }}' },
  'vip-flash-sale-ends': { title: 'The flash sale ends soon', body: 'Hours left to use {{ coupon.code }}' },
};

const hello = '{{ person.traits.firstName | default: "Hi" }}';
const productList = '{% for p in products %}{{ p.name }}{% unless forloop.last %}, {% endunless %}{% endfor %}';

function templateFor(name: string, channel: 'sms' | 'push' | 'email' | 'wechat', m: { title: string; body: string }): TemplateDefinition {
  const full = `${name}-${channel}`;
  switch (channel) {
    case 'sms':
      return {
        name: full,
        channel,
        fields: { text: `${hello}, ${m.body}{% if products.size > 0 %}: ${productList}{% endif %}. https://shop.example/` },
      };
    case 'push':
      return {
        name: full,
        channel,
        fields: { title: m.title, body: `${m.body}{% if products.size > 0 %}: ${productList}{% endif %}`, deepLink: 'shop://home' },
      };
    case 'email':
      return {
        name: full,
        channel,
        fields: {
          subject: `${hello}, ${m.title.toLowerCase()}`,
          html: `<p>${hello},</p><p>${m.body}.</p>{% for p in products %}<p><a href="https://shop.example/p/{{ p.id }}">{{ p.name }}</a> {{ p.price }}</p>{% endfor %}<p><a href="https://shop.example/">Shop now</a></p><p style="font-size:12px"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>`,
          text: `${hello}, ${m.body}. https://shop.example/`,
        },
      };
    case 'wechat':
      return {
        name: full,
        channel,
        fields: {
          kind: 'template',
          templateId: 'DEMO_TEMPLATE_ID',
          data: { first: m.title, keyword1: m.body, remark: 'shop.example' },
          url: 'https://shop.example/',
        },
      };
    default: {
      const never: never = channel;
      throw new Error(`unknown channel ${String(never)}`);
    }
  }
}

/**
 * Every starter template, for each channel; and `recommendations`, the template a `recommend` node
 * sends with when it names none (to the sandbox, which takes a template of any channel).
 */
export function demoTemplates(): TemplateDefinition[] {
  const channels = ['sms', 'push', 'email', 'wechat'] as const;
  const perChannel = Object.entries(messages).flatMap(([name, m]) => channels.map((c) => templateFor(name, c, m)));
  return [...perChannel, { ...templateFor('picked-for-you', 'email', messages['picked-for-you']!), name: 'recommendations' }];
}

/** Creates the starter templates a workspace does not have yet (names it already uses are left alone). */
export async function installDemoTemplates(store: Store, workspaceId: number, now: number): Promise<number> {
  let created = 0;
  for (const t of demoTemplates()) {
    if (await getTemplate(store, workspaceId, t.name)) continue;
    await createTemplate(store, workspaceId, t, now);
    created++;
  }
  return created;
}

/** A template of one line for `channel` (the sandbox takes any: an sms one), for when nobody reads what it says. */
export function placeholderTemplate(name: string, channel: string): TemplateDefinition {
  const text = `${hello}, ${name}`;
  switch (channel) {
    case 'push':
      return { name, channel, fields: { title: name, body: text } };
    case 'email':
      return { name, channel, fields: { subject: name, html: `<p>${text}</p>`, text } };
    case 'wechat':
      return { name, channel, fields: { kind: 'template', templateId: 'T1', data: { first: text } } };
    case 'webhook':
      return { name, channel, fields: { body: `{"text": {{ "${name}" }}}` } };
    case 'voice':
      return { name, channel, fields: { script: text } };
    default:
      return { name, channel: 'sms', fields: { text } };
  }
}

/**
 * Creates a placeholder for each template `definition` sends that the workspace lacks, so it can be
 * published: a simulation never renders its messages (the response model reads the outbox rows),
 * and tests that do not read them need not write them.
 */
export async function installPlaceholderTemplates(store: Store, workspaceId: number, definition: JourneyDefinition, now: number) {
  for (const m of definition.nodes.flatMap(messagesOf)) {
    if (await getTemplate(store, workspaceId, m.template)) continue;
    await createTemplate(store, workspaceId, placeholderTemplate(m.template, m.channel), now);
  }
}
