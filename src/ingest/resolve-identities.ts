import type { IdentityClaim } from '../core/identities.ts';
import type { IdentityCache, SqlExecutor } from '../store/index.ts';
import type { NormalizedEvent } from './normalized-event.ts';

/**
 * Identity resolution for one batch of one workspace, inside the write transaction.
 *
 * Policy (README "Identities"):
 * - Every identity (type, value) belongs to exactly one person (a unique key guarantees it).
 * - An event's identities are joined into the person the event is about (its userId, else its
 *   anonymousId). An identity new to the store simply joins that person; an anonymous person
 *   who signs up becomes the member (their history stays theirs, nothing is moved).
 * - When two people already stored turn out to be one, they are merged: the one without a
 *   user_id is merged into the one with it (an alias keeps the new userId's person). Events and
 *   identities move to the survivor, its traits win, and `identity_merges` records it.
 * - A person has at most one user_id. When a merge would join two people holding different
 *   user_ids, nothing is merged: the identity stays with its current owner and the attempt is
 *   recorded in `identity_conflicts`. Only an explicit `alias` may join two user_ids.
 */

export const claimKey = (c: IdentityClaim) => `${c.type}\u0000${c.value}`;

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
  /** Merges of people who were already stored. */
  merges: MergeRecord[];
  conflicts: ConflictRecord[];
  /** Every identity the batch named, with its person after the batch (for the cache). */
  owners: Map<string, number>;
  /** The user_id (or null) of every person whose holding the batch learned (for the cache). */
  userIds: Map<number, string | null>;
}

/** Looks up every identity of the batch: from the cache where possible, the rest in one query. */
async function lookUp(tx: SqlExecutor, workspaceId: number, claims: IdentityClaim[], cache: IdentityCache | null) {
  const owner = new Map<string, number>();
  const misses: IdentityClaim[] = [];
  for (const c of claims) {
    const k = claimKey(c);
    const hit = cache?.get(workspaceId, k);
    if (hit === undefined) misses.push(c);
    else owner.set(k, hit);
  }
  // A complete cache (DuckDB, while every identity fits in memory) knows that a miss is new.
  if (misses.length > 0 && !cache?.complete) {
    const rows = await tx.query<{ type: string; value: string; user_key: number }>(
      `SELECT i.type, i.value, i.user_key FROM identities i
       JOIN (SELECT unnest($2::text[]) AS type, unnest($3::text[]) AS value) k ON i.type = k.type AND i.value = k.value
       WHERE i.workspace_id = $1`,
      [workspaceId, misses.map((c) => c.type), misses.map((c) => c.value)],
    );
    for (const r of rows) owner.set(`${r.type}\u0000${r.value}`, r.user_key);
  }
  return owner;
}

/**
 * The stored people a merge of this batch may involve: the owners of an event's identities when
 * they are not all one person (or one of them is new). A superset: merges earlier in the batch
 * only ever join people of this set.
 */
function mayMerge(events: readonly NormalizedEvent[], owner: Map<string, number>): number[] {
  const involved = new Set<number>();
  for (const e of events) {
    const claims = e.previousId === null ? e.claims : [...e.claims, { type: 'user_id' as const, value: e.previousId }];
    const owners = new Set(claims.map((c) => owner.get(claimKey(c))));
    if (owners.size < 2) continue;
    for (const p of owners) if (p !== undefined) involved.add(p);
  }
  return [...involved];
}

export async function resolveIdentities(
  tx: SqlExecutor,
  workspaceId: number,
  events: readonly NormalizedEvent[],
  cache: IdentityCache | null,
  /** Reserves n consecutive person keys and returns the first (see store/key-ranges.ts). */
  reserveKeys: (n: number) => Promise<number>,
): Promise<Resolution> {
  const wanted = new Map<string, IdentityClaim>();
  for (const e of events) {
    for (const c of e.claims) wanted.set(claimKey(c), c);
    // alias.previousId may be an old user_id rather than an anonymous id
    if (e.previousId !== null) {
      const prev = { type: 'user_id' as const, value: e.previousId };
      wanted.set(claimKey(prev), prev);
    }
  }
  const owner = await lookUp(tx, workspaceId, [...wanted.values()], cache);

  // The user_id each person holds: from the batch's own user_id identities, else the cache, else
  // the store — read once for every stored person a merge of this batch may involve.
  const userIdOf = new Map<number, string | null>();
  for (const [k, person] of owner) if (k.startsWith('user_id\u0000')) userIdOf.set(person, k.slice('user_id\u0000'.length));
  const readUserIds = async (people: number[]) => {
    for (const p of people) userIdOf.set(p, null);
    const rows = await tx.query<{ user_key: number; value: string }>(
      `SELECT user_key, min(value) AS value FROM identities
       WHERE workspace_id = $1 AND type = 'user_id' AND user_key IN (SELECT unnest($2::bigint[])) GROUP BY user_key`,
      [workspaceId, people],
    );
    for (const r of rows) userIdOf.set(Number(r.user_key), r.value);
  };
  const unknown = mayMerge(events, owner).filter((p) => !userIdOf.has(p) && cache?.userIdOf(p) === undefined);
  if (unknown.length > 0) await readUserIds(unknown);
  const heldUserId = async (person: number): Promise<string | null> => {
    if (!userIdOf.has(person)) {
      const cached = cache?.userIdOf(person);
      // Not read above (mayMerge should make this impossible): read alone rather than guess.
      if (cached === undefined) await readUserIds([person]);
      else userIdOf.set(person, cached);
    }
    return userIdOf.get(person) ?? null;
  };

  // People first seen in this batch get negative placeholder keys until real keys are allocated.
  let placeholders = 0;
  const isNew = (k: number) => k < 0;
  const mergedInto = new Map<number, number>();
  const live = (k: number): number => {
    let cur = k;
    for (let next = mergedInto.get(cur); next !== undefined; next = mergedInto.get(cur)) cur = next;
    return cur;
  };

  const newIdentity = new Map<string, IdentityClaim>();
  const merges: MergeRecord[] = [];
  const conflicts: ConflictRecord[] = [];
  const eventOwner: number[] = [];

  for (const e of events) {
    let claims = e.claims;
    if (e.previousId !== null) {
      const asUserId = { type: 'user_id' as const, value: e.previousId };
      const previous = (c: IdentityClaim) => c.type === 'anonymous_id' && c.value === e.previousId;
      if (owner.has(claimKey(asUserId))) claims = claims.map((c) => (previous(c) ? asUserId : c));
    }
    const primary = claims[0]!;
    let person = owner.get(claimKey(primary));
    if (person === undefined) {
      person = -++placeholders;
      owner.set(claimKey(primary), person);
      newIdentity.set(claimKey(primary), primary);
      userIdOf.set(person, primary.type === 'user_id' ? primary.value : null);
    }
    person = live(person);
    for (const claim of claims.slice(1)) {
      const k = claimKey(claim);
      const current = owner.get(k);
      if (current === undefined) {
        owner.set(k, person);
        newIdentity.set(k, claim);
        if (claim.type === 'user_id' && !userIdOf.get(person)) userIdOf.set(person, claim.value);
        continue;
      }
      const other = live(current);
      if (other === person) continue;
      const mine = await heldUserId(person);
      const theirs = await heldUserId(other);
      if (mine && theirs && mine !== theirs && e.type !== 'alias') {
        conflicts.push({ claim, owner: other, claimant: person, messageId: e.messageId });
        continue;
      }
      // A person new in this batch is absorbed by a stored one (nothing to move, no merge to
      // record); between two stored people, the user_id holder survives (alias: the new userId).
      let survivor: number;
      if (isNew(person) !== isNew(other)) survivor = isNew(person) ? other : person;
      else survivor = e.type === 'alias' || mine || !theirs ? person : other;
      const loser = survivor === person ? other : person;
      mergedInto.set(loser, survivor);
      userIdOf.set(survivor, mine ?? theirs);
      if (!isNew(loser)) merges.push({ from: loser, into: survivor, via: claim, messageId: e.messageId });
      person = survivor;
    }
    eventOwner.push(person);
  }

  // Real keys for the new people that were not absorbed, reserved in one statement.
  const newPeople = Array.from({ length: placeholders }, (_, i) => -(i + 1)).filter((p) => live(p) === p);
  const realKey = new Map<number, number>();
  if (newPeople.length > 0) {
    const first = await reserveKeys(newPeople.length);
    newPeople.forEach((p, i) => {
      realKey.set(p, first + i);
    });
  }
  const real = (k: number) => {
    const l = live(k);
    return isNew(l) ? realKey.get(l)! : l;
  };
  const owners = new Map<string, number>();
  for (const [k, v] of owner) owners.set(k, real(v));
  const userIds = new Map<number, string | null>();
  for (const [person, userId] of userIdOf) if (live(person) === person) userIds.set(real(person), userId);

  return {
    userKeys: eventOwner.map(real),
    newUsers: newPeople.map((p) => realKey.get(p)!),
    newIdentities: [...newIdentity.entries()].map(([k, claim]) => ({ claim, userKey: owners.get(k)! })),
    merges: merges.map((m) => ({ ...m, into: real(m.into) })),
    conflicts: conflicts.map((c) => ({ ...c, owner: real(c.owner), claimant: real(c.claimant) })),
    owners,
    userIds,
  };
}
