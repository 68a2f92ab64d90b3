import * as crypto from 'node:crypto';
import { type LinkRef, linkToken } from '../links.ts';

/**
 * The links.ts tokens (`base64url(workspace|message|link).base64url(HMAC-SHA256)[0..16]`), made
 * for one secret many times: every message of a batch signs two (unsubscribe and tracked link),
 * and `createHmac` prepares the key and builds an object per token. HMAC is
 * `H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m))` (RFC 2104); with the padded keys computed once, a token is
 * two one-shot hashes, about half the CPU. The strings are latin1 and the hash reads UTF-8, so this
 * only holds for an ASCII secret of at most one block (64 bytes) — link secrets are base64url —
 * and any other secret (or a Node without crypto.hash) goes through linkToken. dispatch-link-signer.test.ts checks both agree.
 */
export function linkSigner(secret: string): (ref: LinkRef) => string {
  // crypto.hash is Node ≥ 20.12.
  const hash = crypto.hash as typeof crypto.hash | undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII is exactly \x00-\x7f.
  if (!hash || secret.length > 64 || !/^[\x00-\x7f]*$/.test(secret)) return (ref) => linkToken(secret, ref);
  let ipad = '';
  let opad = '';
  for (let i = 0; i < 64; i++) {
    const k = i < secret.length ? secret.charCodeAt(i) : 0;
    ipad += String.fromCharCode(k ^ 0x36);
    opad += String.fromCharCode(k ^ 0x5c);
  }
  return (ref) => {
    const body = Buffer.from(`${ref.workspaceId}|${ref.messageKey}|${ref.link}`).toString('base64url');
    const inner = hash('sha256', ipad + body, 'binary');
    const mac = hash('sha256', Buffer.from(opad + inner, 'latin1'), 'base64url');
    return `${body}.${mac.slice(0, 16)}`;
  };
}
