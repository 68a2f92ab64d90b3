import type { SqlExecutor } from '../../store/index.ts';
import type { PersonAt } from './people.ts';
import { recommendFor } from './recommend.ts';
import { type RecommendationSpec, recommendationSpecSchema, type Strategy, strategies } from './schema.ts';

/**
 * `recommendations` in templates. Liquid renders synchronously, so nothing can be fetched while a
 * template runs: the renderer reads which lists a template's source names —
 * `recommendations.related`, `recommendations["trending"]`, `recommendations.segment_12` — and
 * computes those lists for the whole batch of messages first, one statement per list.
 *
 * A list holds `templateCount` products; a template shows fewer with `limit:`
 * (`{% for p in recommendations.related limit: 3 %}`). A list reached only through a variable
 * (`{% assign r = recommendations %}{{ r.related }}`) is not seen, and renders empty.
 */
export const templateCount = 10;

const referencePattern = /\brecommendations\s*(?:\.\s*([A-Za-z0-9_]+)|\[\s*(['"])([A-Za-z0-9_]+)\2\s*\])/g;

/** The list keys the sources name, known ones only (see specForTemplateKey). */
export function referencedRecommendations(sources: Iterable<string>): string[] {
  const keys = new Set<string>();
  for (const source of sources) {
    if (!source.includes('recommendations')) continue;
    for (const m of source.matchAll(referencePattern)) {
      const key = m[1] ?? m[3] ?? '';
      if (specForTemplateKey(key)) keys.add(key);
    }
  }
  return [...keys].sort();
}

/** `related`, `popular`, … (`bestsellers` = popular), or `segment_<id>`: the favourites of a segment. */
export function specForTemplateKey(key: string): RecommendationSpec | null {
  const segment = /^segment_(\d{1,15})$/.exec(key);
  if (segment) return recommendationSpecSchema.parse({ strategy: 'segment', segmentId: Number(segment[1]), count: templateCount });
  const strategy: Strategy | undefined = key === 'bestsellers' ? 'popular' : strategies.find((s) => s === key);
  return strategy ? recommendationSpecSchema.parse({ strategy, count: templateCount }) : null;
}

/** For each pk, each key's product ids in order (missing keys: nothing to recommend). */
export async function templateRecommendations(
  db: SqlExecutor,
  workspaceId: number,
  now: number,
  keys: readonly string[],
  people: readonly PersonAt[],
): Promise<Map<number, Record<string, string[]>>> {
  const out = new Map<number, Record<string, string[]>>();
  for (const key of keys) {
    const spec = specForTemplateKey(key);
    if (!spec) continue;
    const lists = await recommendFor(db, workspaceId, now, spec, people);
    for (const [pk, list] of lists) {
      const entry = out.get(pk) ?? {};
      entry[key] = list.map((r) => r.productId);
      out.set(pk, entry);
    }
  }
  return out;
}
