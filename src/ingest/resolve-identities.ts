import type { IdentityClaim } from '../core/identities.ts';
import type { SqlExecutor } from '../store/index.ts';
import type { NormalizedEvent } from './normalized-event.ts';

/**
 * Identity resolution for one batch of one workspace, inside the write transaction.
 *
 * Policy (README "Identities"):
 * - Every identity (type, value) belongs to exactly one person (a unique key guarantees it).
 * - An event's identities are joined into the person the event is about (its userId, else its
 *   anonymousId). An identity that already belongs to someone else causes a merge: the person
 *   without a user_id is merged into the one with it (anonymous browsing joins the member).
 * - A person has at most one user_id. When a merge would join two people holding different
 *   user_ids, nothing is merged: the identity stays with its current owner and the attempt is
 *   recorded in `identity_conflicts`. Only an explicit `alias` may join two user_ids.
 * - Every merge is recorded in `identity_merges`; events of the merged person move to the survivor.
 */

const keyOf = (c: IdentityClaim) => `${c.type}\u0000${c.value}`;

export interface MergeRecord {
  from: number;
  into: number;
  via: IdentityClaim;
  messageId: string;
}

export interface ConflictRecord {
  claim: IdentityClaim;
  owner: number;
  claimant: number;
  messageId: string;
}

export interface Resolution {
  /** Person (user_key) of each event, after all merges of the batch. */
  userKeys: number[];
  newUsers: number[];
  newIdentities: { claim: IdentityClaim; userKey: number }[];
  merges: MergeRecord[];
  conflicts: ConflictRecord[];
}

export async function resolveIdentities(tx: SqlExecutor, workspaceId: number, events: readonly NormalizedEvent[]): Promise<Resolution> {
  // 1. Look up every identity the batch names, in one query.
  const wanted = new Map<string, IdentityClaim>();
  for (const e of events) {
    for (const c of e.claims) wanted.set(keyOf(c), c);
    // alias.previousId may be an old user_id rather than an anonymous id
    if (e.type === 'alias') {
      const prev = e.claims[e.claims.length - 1]!;
      wanted.set(keyOf({ type: 'user_id', value: prev.value }), { type: 'user_id', value: prev.value });
    }
  }
  const claims = [...wanted.values()];
  const rows = await tx.query<{ type: string; value: string; user_key: number }>(
    `SELECT i.type, i.value, i.user_key FROM identities i
     JOIN (SELECT unnest($2::text[]) AS type, unnest($3::text[]) AS value) k ON i.type = k.type AND i.value = k.value
     WHERE i.workspace_id = $1`,
    [workspaceId, claims.map((c) => c.type), claims.map((c) => c.value)],
  );
  const owner = new Map<string, number>();
  for (const r of rows) owner.set(`${r.type}\u0000${r.value}`, r.user_key);

  // user_id held by each person we touch: known from the batch lookup, loaded lazily otherwise.
  const userIdOf = new Map<number, string | null>();
  for (const r of rows) if (r.type === 'user_id') userIdOf.set(r.user_key, r.value);
  const userIdLoaded = new Set<number>(rows.filter((r) => r.type === 'user_id').map((r) => r.user_key));
  async function heldUserId(userKey: number): Promise<string | null> {
    if (userIdLoaded.has(userKey) || userIdOf.has(userKey)) return userIdOf.get(userKey) ?? null;
    const r = await tx.query<{ value: string }>(
      `SELECT value FROM identities WHERE workspace_id = $1 AND user_key = $2 AND type = 'user_id' LIMIT 1`,
      [workspaceId, userKey],
    );
    userIdLoaded.add(userKey);
    userIdOf.set(userKey, r[0]?.value ?? null);
    return r[0]?.value ?? null;
  }

  const mergedInto = new Map<number, number>();
  const live = (k: number): number => {
    let cur = k;
    for (let next = mergedInto.get(cur); next !== undefined; next = mergedInto.get(cur)) cur = next;
    return cur;
  };

  const newUsers: number[] = [];
  const newIdentity = new Map<string, IdentityClaim>();
  const merges: MergeRecord[] = [];
  const conflicts: ConflictRecord[] = [];
  let pendingNewUsers = 0;
  const placeholder = () => -++pendingNewUsers; // negative until real keys are allocated

  const eventOwner: number[] = [];
  for (const e of events) {
    let claimsOfEvent = e.claims;
    if (e.type === 'alias') {
      const prev = claimsOfEvent[claimsOfEvent.length - 1]!;
      const asUserId = { type: 'user_id' as const, value: prev.value };
      if (owner.has(keyOf(asUserId))) claimsOfEvent = [...claimsOfEvent.slice(0, -1), asUserId];
    }
    const primary = claimsOfEvent[0]!;
    const known = owner.get(keyOf(primary));
    let person: number;
    if (known === undefined) {
      person = placeholder();
      newUsers.push(person);
      owner.set(keyOf(primary), person);
      newIdentity.set(keyOf(primary), primary);
      userIdOf.set(person, primary.type === 'user_id' ? primary.value : null);
      userIdLoaded.add(person);
    } else {
      person = known;
    }
    person = live(person);
    for (const claim of claimsOfEvent.slice(1)) {
      const k = keyOf(claim);
      const current = owner.get(k);
      if (current === undefined) {
        owner.set(k, person);
        newIdentity.set(k, claim);
        if (claim.type === 'user_id' && userIdOf.get(person) == null) userIdOf.set(person, claim.value);
        continue;
      }
      const other = live(current);
      if (other === person) continue;
      const mine: string | null = person < 0 ? (userIdOf.get(person) ?? null) : await heldUserId(person);
      const theirs: string | null = other < 0 ? (userIdOf.get(other) ?? null) : await heldUserId(other);
      if (mine && theirs && mine !== theirs && e.type !== 'alias') {
        conflicts.push({ claim, owner: other, claimant: person, messageId: e.messageId });
        continue;
      }
      // The person holding a user_id survives; an alias keeps the new userId's person.
      const survivor: number = e.type === 'alias' || mine || !theirs ? person : other;
      const loser = survivor === person ? other : person;
      mergedInto.set(loser, survivor);
      userIdOf.set(survivor, userIdOf.get(survivor) ?? (survivor === person ? theirs : mine));
      merges.push({ from: loser, into: survivor, via: claim, messageId: e.messageId });
      person = survivor;
    }
    eventOwner.push(person);
  }

  // 2. Allocate real keys for new people in one statement.
  const realKey = new Map<number, number>();
  if (newUsers.length > 0) {
    const keys = await tx.query<{ k: number }>(`SELECT nextval('user_key_seq') AS k FROM (SELECT unnest($1::bigint[]) AS n) t`, [
      newUsers.map((_, i) => i),
    ]);
    newUsers.forEach((p, i) => {
      realKey.set(p, Number(keys[i]!.k));
    });
  }
  const real = (k: number) => {
    const l = live(k);
    return l < 0 ? realKey.get(l)! : l;
  };

  return {
    userKeys: eventOwner.map(real),
    newUsers: newUsers.map((p) => realKey.get(p)!),
    newIdentities: [...newIdentity.entries()].map(([k, claim]) => ({ claim, userKey: real(owner.get(k)!) })),
    merges: merges.map((m) => ({
      ...m,
      from: m.from < 0 ? realKey.get(m.from)! : m.from,
      into: m.into < 0 ? realKey.get(m.into)! : m.into,
    })),
    conflicts: conflicts.map((c) => ({ ...c, owner: real(c.owner), claimant: real(c.claimant) })),
  };
}
