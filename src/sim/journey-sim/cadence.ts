import { type Condition, computedTraitNames } from '../../segments/index.ts';

/**
 * How often a simulation runs its background work (run.ts). In `serve` it runs every few
 * seconds; in a simulation every step of virtual time pays for it in statements, so work whose
 * inputs cannot have changed is left out.
 */

/**
 * Whether a segment reads only computed traits and predictions (`computed` conditions under
 * and / or / not), like "bought before, last order more than 45 days ago". In a simulation those
 * change only when the daily profile job runs (there is no per-event trait update), so the
 * segment's membership can only change then — or with time alone, which the simulation also
 * looks at once a virtual day (run.ts, SEGMENT_TIME_REFRESH). Anything else — events, profile
 * traits set by `identify`, other segments — can change at any step.
 */
export function readsOnlyComputedTraits(definition: Condition): boolean {
  switch (definition.type) {
    case 'and':
    case 'or':
      return definition.conditions.every(readsOnlyComputedTraits);
    case 'not':
      return readsOnlyComputedTraits(definition.condition);
    case 'computed':
      return true;
    default:
      return false;
  }
}

const computedNames = new Set<string>(computedTraitNames);

/**
 * Whether any of these definitions (journeys, segments) may read a computed trait or a
 * prediction: a `computed` segment condition (in a segment, or in a journey's audience
 * condition), or a wait until a date trait that is computed (`last_order_at`,
 * `expected_next_order_at`…). Nothing else in a simulation reads them (the response model has its
 * own view of each person, and outbox rows are answered on their own channel), so when none does,
 * the daily recomputation can be left out.
 */
export function readsComputedTraits(definitions: readonly unknown[]): boolean {
  const visit = (v: unknown): boolean => {
    if (Array.isArray(v)) return v.some(visit);
    if (v === null || typeof v !== 'object') return false;
    const o = v as Record<string, unknown>;
    if (o.type === 'computed') return true;
    if (o.kind === 'trait' && typeof o.trait === 'string' && computedNames.has(o.trait)) return true;
    return Object.values(o).some(visit);
  };
  return definitions.some(visit);
}
