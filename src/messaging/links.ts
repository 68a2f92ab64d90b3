import { signedToken, tokenPayload, verifySignedToken } from '../core/signed-token.ts';

/**
 * Signed links in messages: one-click unsubscribe (`/u/{token}`) and tracked clicks
 * (`/c/{token}`). A token names the workspace, the message key and (for clicks) which link of
 * the message, signed with the workspace's link secret (core/signed-token.ts): everything else
 * (person, channel, topic, target URL) is read from the outbox row.
 */

export interface LinkRef {
  workspaceId: number;
  messageKey: string;
  /** Which tracked link of the message; -1 for the unsubscribe link. */
  link: number;
}

export function linkToken(secret: string, ref: LinkRef): string {
  return signedToken(secret, `${ref.workspaceId}|${ref.messageKey}|${ref.link}`);
}

/** The workspace a token claims, before its signature can be checked with that workspace's secret. */
export function tokenWorkspace(token: string): number | null {
  const ref = decode(tokenPayload(token));
  return ref ? ref.workspaceId : null;
}

/** The reference a token carries, if its signature is right. */
export function verifyLinkToken(secret: string, token: string): LinkRef | null {
  const payload = verifySignedToken(secret, token);
  return payload === null ? null : decode(payload);
}

function decode(payload: string): LinkRef | null {
  const parts = payload.split('|');
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
