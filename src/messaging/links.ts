import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed links in messages: one-click unsubscribe (`/u/{token}`) and tracked clicks
 * (`/c/{token}`). A token names the workspace, the message key and (for clicks) which link of
 * the message, signed with the workspace's link secret: short enough for an SMS, unforgeable,
 * and everything else (person, channel, topic, target URL) is read from the outbox row.
 */

export interface LinkRef {
  workspaceId: number;
  messageKey: string;
  /** Which tracked link of the message; -1 for the unsubscribe link. */
  link: number;
}

const sign = (secret: string, body: string): string => createHmac('sha256', secret).update(body).digest('base64url').slice(0, 16);

export function linkToken(secret: string, ref: LinkRef): string {
  const body = Buffer.from(`${ref.workspaceId}|${ref.messageKey}|${ref.link}`).toString('base64url');
  return `${body}.${sign(secret, body)}`;
}

/** The workspace a token claims, before its signature can be checked with that workspace's secret. */
export function tokenWorkspace(token: string): number | null {
  const ref = decode(token);
  return ref ? ref.workspaceId : null;
}

/** The reference a token carries, if its signature is right. */
export function verifyLinkToken(secret: string, token: string): LinkRef | null {
  const [body, sig] = token.split('.');
  if (!body || !sig) return null;
  const want = Buffer.from(sign(secret, body));
  const got = Buffer.from(sig);
  if (want.length !== got.length || !timingSafeEqual(want, got)) return null;
  return decode(token);
}

function decode(token: string): LinkRef | null {
  const body = token.split('.')[0] ?? '';
  const parts = Buffer.from(body, 'base64url').toString('utf8').split('|');
  if (parts.length !== 3) return null;
  const [ws, messageKey, link] = parts as [string, string, string];
  const workspaceId = Number(ws);
  const n = Number(link);
  if (!Number.isInteger(workspaceId) || !Number.isInteger(n) || messageKey === '') return null;
  return { workspaceId, messageKey, link: n };
}

/**
 * Replaces http(s) links in a text with tracked redirects, except links to ourselves (the
 * unsubscribe link). `html` rewrites only `href="…"` attributes. Returns the text and the
 * original URLs in link order (stored with the message; the redirect reads them from there).
 */
export function trackLinks(
  text: string,
  mode: 'html' | 'text',
  ownBase: string,
  linkUrl: (index: number) => string,
  links: string[],
): string {
  const track = (url: string): string => {
    if (url.startsWith(ownBase)) return url;
    links.push(url);
    return linkUrl(links.length - 1);
  };
  if (mode === 'html')
    return text.replace(/href="(https?:\/\/[^"]+)"/gi, (_, url: string) => `href="${track(url.replace(/&amp;/g, '&'))}"`);
  return text.replace(/https?:\/\/[^\s<>"']+/gi, (url) => track(url));
}
