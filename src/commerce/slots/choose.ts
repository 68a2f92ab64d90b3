import { bucketOf, saltHash } from '../../core/buckets.ts';
import type { KeyBits } from './key-bits.ts';
import { DEFAULT_VARIANT, type DecisionSource, HOLDOUT_VARIANT, type SlotContent, type SlotDefinition } from './schema.ts';

/**
 * The decision itself, in memory and without I/O: a slot compiled once per definition change,
 * then asked per request. Targeting reads segment bitmaps; splits and the holdout use the same
 * stable buckets as journey splits (core/buckets.ts), so a person always sees the same variant
 * and SQL (`bucketSql`) can recompute every decision for checks and reports.
 */

interface CompiledVariant {
  id: string;
  segmentId: number | null;
  excludeSegmentId: number | null;
  weight: number;
  startAt: number;
  endAt: number;
  content: SlotContent;
}

interface PriorityGroup {
  priority: number;
  /** Salt of the A/B split among this group's eligible variants. */
  splitSalt: string;
  variants: CompiledVariant[];
}

export interface CompiledSlot {
  name: string;
  paused: boolean;
  holdoutPercent: number;
  holdoutSalt: string;
  defaultContent: SlotContent | null;
  /** Highest priority first. */
  groups: PriorityGroup[];
  /** Segments whose membership the slot reads. */
  segmentIds: number[];
}

/** Salts per slot name, so renaming nothing keeps everyone's bucket and two slots split independently. */
export const holdoutSalt = (slot: string) => `slot:${slot}:holdout`;
export const splitSalt = (slot: string, priority: number) => `slot:${slot}:split:${priority}`;

export function compileSlot(slot: SlotDefinition): CompiledSlot {
  const byPriority = new Map<number, CompiledVariant[]>();
  const segmentIds = new Set<number>();
  for (const v of slot.variants) {
    if (v.segmentId) segmentIds.add(v.segmentId);
    if (v.excludeSegmentId) segmentIds.add(v.excludeSegmentId);
    const list = byPriority.get(v.priority) ?? [];
    list.push({
      id: v.id,
      segmentId: v.segmentId ?? null,
      excludeSegmentId: v.excludeSegmentId ?? null,
      weight: v.weight,
      startAt: v.startAt ? Date.parse(v.startAt) : Number.NEGATIVE_INFINITY,
      endAt: v.endAt ? Date.parse(v.endAt) : Number.POSITIVE_INFINITY,
      content: v.content,
    });
    byPriority.set(v.priority, list);
  }
  const groups = [...byPriority.entries()]
    .sort((a, b) => b[0] - a[0])
    .map(([priority, variants]) => ({ priority, splitSalt: splitSalt(slot.name, priority), variants }));
  return {
    name: slot.name,
    paused: slot.status === 'paused',
    holdoutPercent: slot.holdoutPercent,
    holdoutSalt: holdoutSalt(slot.name),
    defaultContent: slot.defaultContent,
    groups,
    segmentIds: [...segmentIds],
  };
}

/**
 * Who is asking: a known person (their key: targeting applies, buckets as in SQL), or an
 * unknown visitor (no segment holds them; buckets come from a hash of the identity, stable per
 * visitor).
 */
export interface Asker {
  userKey: number | null;
  bucketKey: number;
}

/** Bucket key of an unknown visitor: a 31-bit hash of their identity. */
export const visitorBucketKey = (identity: string) => saltHash(identity) & 0x7fffffff;

export interface Choice {
  variant: string | null;
  content: SlotContent | null;
  source: DecisionSource;
}

export type Membership = (segmentId: number) => KeyBits | undefined;

function eligible(v: CompiledVariant, who: Asker, members: Membership, now: number): boolean {
  if (v.weight === 0 || now < v.startAt || now >= v.endAt) return false;
  if (v.segmentId !== null && (who.userKey === null || !members(v.segmentId)?.has(who.userKey))) return false;
  if (v.excludeSegmentId !== null && who.userKey !== null && members(v.excludeSegmentId)?.has(who.userKey)) return false;
  return true;
}

const fallback = (slot: CompiledSlot, source: 'default' | 'holdout' | 'paused'): Choice => {
  if (source === 'holdout') return { variant: HOLDOUT_VARIANT, content: slot.defaultContent, source };
  return slot.defaultContent === null
    ? { variant: null, content: null, source: source === 'paused' ? 'paused' : 'none' }
    : { variant: DEFAULT_VARIANT, content: slot.defaultContent, source };
};

/**
 * The highest-priority group with an eligible variant wins; within it, the person's split bucket
 * picks among the eligible variants by weight. People in the holdout bucket get the default
 * content instead — only those a variant would have reached, so the holdout is the control group
 * of the personalised content. No allocation: this runs per request.
 */
export function choose(slot: CompiledSlot, who: Asker, members: Membership, now: number): Choice {
  if (slot.paused) return fallback(slot, 'paused');
  for (const group of slot.groups) {
    let total = 0;
    let only: CompiledVariant | null = null;
    for (const v of group.variants) {
      if (!eligible(v, who, members, now)) continue;
      total += v.weight;
      only = v;
    }
    if (only === null) continue;
    let chosen = only;
    if (total !== only.weight) {
      // Several eligible: cumulative weights scaled to the 0–99 bucket.
      const bucket = bucketOf(who.bucketKey, group.splitSalt);
      let upper = 0;
      for (const v of group.variants) {
        if (!eligible(v, who, members, now)) continue;
        upper += v.weight;
        if (bucket < (upper * 100) / total) {
          chosen = v;
          break;
        }
      }
    }
    if (slot.holdoutPercent > 0 && bucketOf(who.bucketKey, slot.holdoutSalt) < slot.holdoutPercent) return fallback(slot, 'holdout');
    return { variant: chosen.id, content: chosen.content, source: 'variant' };
  }
  return fallback(slot, 'default');
}
