import { z } from 'zod';
import { AppError } from '../core/errors.ts';
import { type IdentityType, identityTypes, normalizeIdentity } from '../core/identities.ts';
import type { Store } from '../store/index.ts';

/** Body fields naming one person (journey entry, template preview): userId, anonymousId or any identity. */
export const personFields = {
  userId: z.string().min(1).optional(),
  anonymousId: z.string().min(1).optional(),
  identity: z
    .strictObject({ type: z.enum(identityTypes), value: z.string().min(1) })
    .optional()
    .describe('Any other identity'),
};

/** The person's key from an identity, or a 404 (400 when the value is not a valid identity of that type). */
export async function personKey(store: Store, workspaceId: number, type: IdentityType, raw: string, path: string): Promise<number> {
  const value = normalizeIdentity(type, raw);
  if (value === null) throw new AppError('invalid_request', `not a valid ${type}`, path);
  const [hit] = await store.query<{ user_key: number }>(
    'SELECT user_key FROM identities WHERE workspace_id = $1 AND type = $2 AND value = $3',
    [workspaceId, type, value],
  );
  if (!hit) throw new AppError('not_found', `no person with ${type} "${raw}"`, path);
  return Number(hit.user_key);
}

/** The person a body names with `personFields`. */
export function namedPersonKey(
  store: Store,
  workspaceId: number,
  body: { userId?: string; anonymousId?: string; identity?: { type: IdentityType; value: string } },
): Promise<number> {
  if (body.userId) return personKey(store, workspaceId, 'user_id', body.userId, 'userId');
  if (body.anonymousId) return personKey(store, workspaceId, 'anonymous_id', body.anonymousId, 'anonymousId');
  if (body.identity) return personKey(store, workspaceId, body.identity.type, body.identity.value, 'identity.value');
  throw new AppError('invalid_request', 'name the person: userId, anonymousId or identity', 'userId');
}
