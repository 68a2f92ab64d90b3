import { signedToken, tokenPayload, verifySignedToken } from '../../core/signed-token.ts';
import { DEFAULT_VARIANT, HOLDOUT_VARIANT, type Slot } from './schema.ts';

/**
 * Server-side click tracking for slots: a decision whose content has an absolute `link` also gets
 * a `clickUrl` (`/s/{token}`). Following it records `Content Clicked` and redirects to the link,
 * so content rendered where no script runs (an e-mail, an app's native banner) is counted too.
 *
 * The token carries who was shown what (workspace, slot, variant, decision, person), signed with
 * the workspace's link secret. The target is not in it: the redirect reads the variant's current
 * `link` from the slot, so a token can never send anyone to an address the operator did not set.
 */
export interface SlotClickRef {
  workspaceId: number;
  slot: string;
  variant: string;
  decisionId: string;
  userId?: string | undefined;
  anonymousId?: string | undefined;
}

export function slotClickToken(secret: string, ref: SlotClickRef): string {
  return signedToken(
    secret,
    JSON.stringify([ref.workspaceId, ref.slot, ref.variant, ref.decisionId, ref.userId ?? null, ref.anonymousId ?? null]),
  );
}

/** The workspace a token claims (its secret then checks the signature). */
export function slotClickWorkspace(token: string): number | null {
  return decode(tokenPayload(token))?.workspaceId ?? null;
}

export function verifySlotClickToken(secret: string, token: string): SlotClickRef | null {
  const payload = verifySignedToken(secret, token);
  return payload === null ? null : decode(payload);
}

function decode(payload: string): SlotClickRef | null {
  let parts: unknown;
  try {
    parts = JSON.parse(payload);
  } catch {
    return null;
  }
  if (!Array.isArray(parts) || parts.length !== 6) return null;
  const [workspaceId, slot, variant, decisionId, userId, anonymousId] = parts as unknown[];
  if (!Number.isInteger(workspaceId) || typeof slot !== 'string' || typeof variant !== 'string' || typeof decisionId !== 'string')
    return null;
  if (typeof userId !== 'string' && typeof anonymousId !== 'string') return null;
  return {
    workspaceId: workspaceId as number,
    slot,
    variant,
    decisionId,
    userId: typeof userId === 'string' ? userId : undefined,
    anonymousId: typeof anonymousId === 'string' ? anonymousId : undefined,
  };
}

/** A content's `link` when it is an absolute http(s) URL: the only kind a redirect can go to. */
export function absoluteLink(content: Record<string, unknown> | null | undefined): string | null {
  const link = content?.link;
  if (typeof link !== 'string') return null;
  try {
    const url = new URL(link);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.toString() : null;
  } catch {
    return null;
  }
}

/** Where a click on `variant` of `slot` goes now: its content's absolute link, or null. */
export function slotClickTarget(slot: Slot, variant: string): string | null {
  if (variant === DEFAULT_VARIANT || variant === HOLDOUT_VARIANT) return absoluteLink(slot.defaultContent);
  return absoluteLink(slot.variants.find((v) => v.id === variant)?.content);
}
