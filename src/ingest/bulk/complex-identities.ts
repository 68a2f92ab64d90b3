import type { EventType } from '../../core/events.ts';
import type { IdentityClaim, IdentityType } from '../../core/identities.ts';
import { type ColumnSpec, reserveKeys, type SqlExecutor } from '../../store/index.ts';
import { recordMergesAndConflicts } from '../identity-records.ts';
import type { NormalizedEvent } from '../normalized-event.ts';
import { type Resolution, resolveIdentities } from '../resolve-identities.ts';
import { lookupOrd } from './staging.ts';

const cols = (spec: Record<string, ColumnSpec['type']>): ColumnSpec[] => Object.entries(spec).map(([name, type]) => ({ name, type }));

/** resolveIdentities reads only type, messageId, claims and previousId; the rest is filler. */
function eventFor(type: EventType, messageId: string, claims: IdentityClaim[]): NormalizedEvent {
  return {
    workspaceId: 0,
    messageId,
    type,
    event: null,
    ts: 0,
    receivedAt: 0,
    sentAt: null,
    userId: null,
    anonymousId: null,
    claims,
    previousId: null,
    traits: null,
    properties: null,
    context: null,
    integrations: null,
    orderId: null,
    total: null,
    currency: null,
    productId: null,
    category: null,
    items: [],
    source: 'import',
  };
}

/**
 * The components where people meet (merges, conflicts, aliases) go through `resolveIdentities`,
 * the API's own code, in file order: the same rules, merge records and conflict records. Its
 * outcome is loaded back into staging tables so that the writes stay set-at-a-time.
 */
export interface ComplexOutcome {
  /** [from, into] of every merge of stored people, for the identity cache after the commit. */
  merges: [number, number][];
  conflicts: number;
}

export async function resolveComplex(tx: SqlExecutor, workspaceId: number, now: number): Promise<ComplexOutcome> {
  const rows = await tx.query<{ n: number; message_id: string; type: EventType; ord: number; ctype: IdentityType; value: string }>(
    `SELECT e.n, e.message_id, e.type, c.ord, c.type AS ctype, c.value
     FROM imp_evc v JOIN imp_comp k ON k.comp = v.comp JOIN imp_ev e ON e.n = v.n JOIN imp_claim c ON c.n = v.n
     WHERE NOT k.simple AND c.ord <= ${lookupOrd} ORDER BY e.n, c.ord`,
  );
  await tx.query('CREATE TEMP TABLE imp_xident (type TEXT, value TEXT, user_key BIGINT)');
  await tx.query('CREATE TEMP TABLE imp_remap (from_key BIGINT, to_key BIGINT, into_key BIGINT)');
  await tx.query('CREATE TEMP TABLE imp_tsrc (user_key BIGINT, src_key BIGINT, prio BIGINT)');
  if (rows.length === 0) return { merges: [], conflicts: 0 };

  const lines: number[] = [];
  const events: NormalizedEvent[] = [];
  for (const r of rows) {
    const n = Number(r.n);
    if (lines[lines.length - 1] !== n) {
      lines.push(n);
      events.push(eventFor(r.type, r.message_id, []));
    }
    const event = events[events.length - 1]!;
    // The pseudo-claim at lookupOrd carries an alias's previousId (see staging.ts).
    if (Number(r.ord) === lookupOrd) event.previousId = r.value;
    else event.claims.push({ type: r.ctype, value: r.value });
  }
  // No identity cache: this transaction's own view of the identities table is the truth here.
  const res = await resolveIdentities(tx, workspaceId, events, null, (n) => reserveKeys(tx, 'user_key', n));

  await tx.append(
    'imp_person',
    cols({ n: 'bigint', user_key: 'bigint' }),
    lines.map((n, i) => [n, res.userKeys[i]]),
  );
  await tx.append(
    'imp_newuser',
    cols({ user_key: 'bigint' }),
    res.newUsers.map((k) => [k]),
  );
  await tx.append(
    'imp_xident',
    cols({ type: 'text', value: 'text', user_key: 'bigint' }),
    res.newIdentities.map((i) => [i.claim.type, i.claim.value, i.userKey]),
  );
  await recordMergesAndConflicts(tx, workspaceId, res, now);
  const { remap, sources } = mergePlan(res);
  await tx.append('imp_remap', cols({ from_key: 'bigint', to_key: 'bigint', into_key: 'bigint' }), remap);
  await tx.append('imp_tsrc', cols({ user_key: 'bigint', src_key: 'bigint', prio: 'bigint' }), sources);
  return { merges: res.merges.map((m) => [m.from, m.into]), conflicts: res.conflicts.length };
}

/**
 * What the API's applyMerges does to stored people, as data: each merged-away person's rows
 * move to the final survivor (remap), and the survivor's traits are rebuilt from the traits of
 * everyone merged into it. A merge sets into = {...from, ...into}, so a later merge ranks below
 * everything merged before it; `prio` orders the sources (higher wins), below the survivor's
 * own traits (0) and the file's identify traits (line numbers, all positive). (People new in
 * the file are absorbed, never merged, so every merge is of stored people.)
 */
export function mergePlan(res: Resolution): { remap: number[][]; sources: number[][] } {
  const next = new Map<number, number>();
  const chain = new Map<number, number[]>(); // survivor → merged people, lowest priority first
  for (const m of res.merges) {
    next.set(m.from, m.into);
    chain.set(m.into, [...(chain.get(m.from) ?? []), m.from, ...(chain.get(m.into) ?? [])]);
    chain.delete(m.from);
  }
  const final = (k: number) => {
    let cur = k;
    for (let n = next.get(cur); n !== undefined; n = next.get(cur)) cur = n;
    return cur;
  };
  const remap = res.merges.map((m) => [m.from, final(m.from), m.into]);
  const sources: number[][] = [];
  for (const [survivor, merged] of chain) {
    sources.push([survivor, survivor, 0]);
    for (const [i, k] of merged.entries()) sources.push([survivor, k, i - merged.length]);
  }
  return { remap, sources };
}
