import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Tokens for links we hand out (unsubscribe, tracked clicks, slot clicks): the payload in
 * base64url, a dot, and 16 characters of its HMAC-SHA256 under a per-workspace secret. Short
 * enough for an SMS, unforgeable, and readable (the workspace id) before the secret is known.
 */
const sign = (secret: string, body: string): string => createHmac('sha256', secret).update(body).digest('base64url').slice(0, 16);

export function signedToken(secret: string, payload: string): string {
  const body = Buffer.from(payload).toString('base64url');
  return `${body}.${sign(secret, body)}`;
}

/** The payload, unchecked: only to find which workspace's secret checks the signature. */
export function tokenPayload(token: string): string {
  return Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8');
}

/** The payload if the signature is right, else null. */
export function verifySignedToken(secret: string, token: string): string | null {
  const [body, sig] = token.split('.');
  if (!body || !sig) return null;
  const want = Buffer.from(sign(secret, body));
  const got = Buffer.from(sig);
  if (want.length !== got.length || !timingSafeEqual(want, got)) return null;
  return tokenPayload(token);
}
