import { describe, expect, it } from 'vitest';
import { linkSigner } from '../src/messaging/dispatch/link-signer.ts';
import { linkToken, verifyLinkToken } from '../src/messaging/links.ts';

/** The dispatcher's batch signer must make exactly the tokens links.ts makes and verifies. */
describe('link signer', () => {
  const secrets = [
    'k3J9sd8f7G6h5j4K3l2Z1x0C9v8B7n6M5q4W3e2R1t0', // base64url, as workspaces get
    'x'.repeat(64), // exactly one block
    'x'.repeat(65), // longer than a block: hashed first by HMAC (the fallback)
    'sécret-ünicode', // not ASCII (the fallback)
    '',
  ];
  const refs = [
    { workspaceId: 1, messageKey: 'j1.v1.i1.send.s1', link: -1 },
    { workspaceId: 42, messageKey: 'bench.12345', link: 0 },
    { workspaceId: 7, messageKey: 'a key with spaces and ünïcode', link: 12 },
  ];
  for (const secret of secrets) {
    it(`agrees with linkToken and verifyLinkToken (secret of ${secret.length} chars)`, () => {
      const sign = linkSigner(secret);
      for (const ref of refs) {
        const token = sign(ref);
        expect(token).toBe(linkToken(secret, ref));
        expect(verifyLinkToken(secret, token)).toEqual(ref);
      }
    });
  }
});
