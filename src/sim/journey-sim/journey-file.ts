import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { AppError, formatPath } from '../../core/errors.ts';
import { graphProblems, type JourneyInput, journeyInputSchema } from '../../journeys/index.ts';
import { type SegmentDefinition, segmentDefinitionSchema } from '../../segments/index.ts';

/**
 * What `shopflow simulate --journey <file>` reads. One of:
 * - a bare journey definition `{nodes, edges, settings?}`;
 * - `{name?, description?, definition}` (what the API and `shopflow journeys create` take);
 * - the same plus `segments: {<name>: <segment definition>}`: segments created in the simulated
 *   workspace first. Anywhere in the journey (or in a later segment), `"segmentId": "<name>"`
 *   refers to one of them; it is replaced by the created segment's numeric id.
 */
export interface JourneyFile {
  file: string;
  name: string;
  description?: string;
  /** Declared segments, in file order (a segment may use those declared before it). */
  segments: { name: string; definition: unknown }[];
  /** The definition as written, segment names unresolved. */
  definition: unknown;
}

function fail(file: string, message: string, path = ''): never {
  throw new AppError('invalid_request', `${file}: ${message}`, path);
}

export function readJourneyFile(file: string): JourneyFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new AppError('invalid_json', `${file} is not a readable JSON file: ${(err as Error).message}`, 'file');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) fail(file, 'expected a JSON object');
  const o = parsed as Record<string, unknown>;
  const fallbackName = basename(file, extname(file));
  if (!('definition' in o)) return { file, name: fallbackName, segments: [], definition: o };
  const unknownKeys = Object.keys(o).filter((k) => !['name', 'description', 'segments', 'definition'].includes(k));
  if (unknownKeys.length > 0) fail(file, `unknown field "${unknownKeys[0]}" (expected name, description, segments, definition)`);
  const segments = o.segments ?? {};
  if (segments === null || typeof segments !== 'object' || Array.isArray(segments)) fail(file, '"segments" must map names to definitions');
  return {
    file,
    name: typeof o.name === 'string' && o.name.trim() ? o.name.trim() : fallbackName,
    ...(typeof o.description === 'string' ? { description: o.description } : {}),
    segments: Object.entries(segments as Record<string, unknown>).map(([name, definition]) => ({ name, definition })),
    definition: o.definition,
  };
}

/** A deep copy of `value` with every string `segmentId` replaced by `ids.get(name)`. */
export function resolveSegmentNames(value: unknown, ids: ReadonlyMap<string, number>, where: string, path: PropertyKey[] = []): unknown {
  if (Array.isArray(value)) return value.map((v, i) => resolveSegmentNames(v, ids, where, [...path, i]));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === 'segmentId' && typeof v === 'string') {
      const id = ids.get(v);
      if (id === undefined) {
        const known = [...ids.keys()];
        fail(
          where,
          `segment "${v}" is not declared in "segments"${known.length ? ` (declared: ${known.join(', ')})` : ''}`,
          formatPath([...path, k]),
        );
      }
      out[k] = id;
    } else out[k] = resolveSegmentNames(v, ids, where, [...path, k]);
  }
  return out;
}

/** The journey as the API would take it, with segment names replaced by these ids; validated. */
export function journeyInput(f: JourneyFile, ids: ReadonlyMap<string, number>): JourneyInput {
  const parsed = journeyInputSchema.safeParse({
    name: f.name,
    ...(f.description !== undefined ? { description: f.description } : {}),
    definition: resolveSegmentNames(f.definition, ids, f.file, ['definition']),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    fail(f.file, `${formatPath(issue.path)}: ${issue.message}`, formatPath(issue.path));
  }
  const problems = graphProblems(parsed.data.definition);
  if (problems.length > 0) fail(f.file, problems[0]!.message, problems[0]!.path);
  return parsed.data;
}

/** A declared segment's definition with earlier segments' names resolved; validated. */
export function segmentDefinition(f: JourneyFile, index: number, ids: ReadonlyMap<string, number>): SegmentDefinition {
  const s = f.segments[index]!;
  const parsed = segmentDefinitionSchema.safeParse(resolveSegmentNames(s.definition, ids, f.file, ['segments', s.name]));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    fail(f.file, `segments.${s.name}${issue.path.length ? `.${formatPath(issue.path)}` : ''}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * Checks files before any data is generated (a typo should cost a second, not a minute):
 * schemas and graphs, with every declared segment standing in as a placeholder id.
 */
export function checkJourneyFiles(files: readonly JourneyFile[]): void {
  // Segments are shared by the journeys of one run: a file may use one declared by an earlier file.
  const declared = new Map<string, string>();
  const ids = new Map<string, number>();
  for (const f of files) {
    f.segments.forEach((s, i) => {
      segmentDefinition(f, i, ids);
      const previous = declared.get(s.name);
      const text = JSON.stringify(s.definition);
      if (previous !== undefined && previous !== text) fail(f.file, `segment "${s.name}" is declared differently in another journey file`);
      declared.set(s.name, text);
      ids.set(s.name, ids.get(s.name) ?? ids.size + 1);
    });
    journeyInput(f, ids);
  }
}
