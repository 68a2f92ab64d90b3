import { AppError } from '../../core/errors.ts';
import type { MessagingSettings } from '../governance/settings.ts';
import { type LinkRef, trackLinks } from '../links.ts';
import { UNSUBSCRIBE_URL_PLACEHOLDER } from '../templates/context.ts';
import type { BatchRender } from '../templates/render.ts';
import type { ChannelOption, ClaimedMessage } from './types.ts';

export interface Composed {
  /** What the provider gets. */
  fields: Record<string, unknown>;
  /** What is stored with the message: the fields and the original URLs of tracked links. */
  content: Record<string, unknown>;
  unsubscribeUrl: string | null;
}

export interface ComposeContext {
  render: BatchRender;
  settings: MessagingSettings;
  /** Signs link tokens with the workspace's link secret (see link-signer.ts). */
  sign: (ref: LinkRef) => string;
  workspaceId: number;
  /** The platform's public base URL (links in messages point here). */
  publicUrl: string;
}

/** Replaces the unsubscribe placeholder in every string of a rendered value (most have none: they are returned as they are). */
function substitute(value: unknown, url: string): unknown {
  if (typeof value === 'string')
    return value.includes(UNSUBSCRIBE_URL_PLACEHOLDER) ? value.replaceAll(UNSUBSCRIBE_URL_PLACEHOLDER, url) : value;
  if (Array.isArray(value)) return value.map((v) => substitute(v, url));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) out[k] = substitute((value as Record<string, unknown>)[k], url);
    return out;
  }
  return value;
}

/**
 * The message as it goes out on the chosen channel: rendered, with the person's signed
 * unsubscribe link, the SMS opt-out line marketing needs, and links turned into tracked
 * redirects. A template that fails to render is an AppError (the message fails with its reason).
 */
export async function compose(m: ClaimedMessage, option: ChannelOption, ctx: ComposeContext): Promise<Composed> {
  if (option.template === null) {
    const fields = { body: m.payload.body ?? {} };
    return { fields, content: { fields }, unsubscribeUrl: null };
  }
  const rendered = await ctx.render(m, option.template, option.channel);
  const base = ctx.publicUrl.endsWith('/') ? ctx.publicUrl.slice(0, -1) : ctx.publicUrl;
  const token = (link: number) => ctx.sign({ workspaceId: ctx.workspaceId, messageKey: m.message_key, link });
  const unsubscribeUrl = m.transactional ? null : `${base}/u/${token(-1)}`;
  const fields = substitute(rendered.fields, unsubscribeUrl ?? '') as Record<string, unknown>;
  if (option.channel === 'sms' && !m.transactional && ctx.settings.smsOptOutText && typeof fields.text === 'string') {
    if (!fields.text.includes(ctx.settings.smsOptOutText)) fields.text = `${fields.text} ${ctx.settings.smsOptOutText}`;
  }
  const links: string[] = [];
  if (ctx.settings.trackClicks) {
    const url = (i: number) => `${base}/c/${token(i)}`;
    if (option.channel === 'email' && typeof fields.html === 'string') fields.html = trackLinks(fields.html, 'html', base, url, links);
    if (option.channel === 'email' && typeof fields.text === 'string') fields.text = trackLinks(fields.text, 'text', base, url, links);
    if (option.channel === 'sms' && typeof fields.text === 'string') fields.text = trackLinks(fields.text, 'text', base, url, links);
  }
  const content = { template: rendered.template, fields, unsubscribe_url: unsubscribeUrl, ...(links.length > 0 ? { links } : {}) };
  return { fields, content, unsubscribeUrl };
}

/** A render failure as the reason stored with the failed message. */
export function renderFailure(err: unknown): string {
  if (err instanceof AppError) return `template: ${err.message}${err.path ? ` (${err.path})` : ''}`;
  throw err;
}
