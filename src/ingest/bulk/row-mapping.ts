import type { ErrorBody } from '../../core/errors.ts';

/**
 * How a CSV row or a profile line becomes the Segment event (or product) it stands for, so
 * that every format goes through the same validation as the API.
 */

export type Mapped = { ok: true; value: Record<string, unknown> } | { ok: false; errors: ErrorBody[] };

const invalid = (path: string, message: string): Mapped => ({ ok: false, errors: [{ code: 'invalid_request', message, path }] });

/** Event CSV: plain text columns, and JSON columns holding an object. */
export const eventTextColumns = [
  'type',
  'event',
  'userId',
  'anonymousId',
  'messageId',
  'timestamp',
  'originalTimestamp',
  'sentAt',
  'name',
  'category',
  'groupId',
  'previousId',
] as const;
export const jsonColumns = ['properties', 'traits', 'context', 'integrations'] as const;

/** Profile lines: these keys mean what they mean on an identify call; every other key is a trait. */
export const profileReserved = ['userId', 'anonymousId', 'messageId', 'timestamp', 'context', 'traits'] as const;

/** Product CSV: numeric columns are converted; any column not in the schema goes to `properties`. */
export const productColumns = ['product_id', 'name', 'category', 'price', 'stock', 'image_url', 'properties'] as const;

export type RowKind = 'events' | 'profiles' | 'products';

/** Header problems refuse the whole file: every row would be misread. */
export function checkHeader(kind: RowKind, header: readonly string[]): ErrorBody[] {
  const errors: ErrorBody[] = [];
  const seen = new Set<string>();
  header.forEach((name, i) => {
    const at = `line 1: column ${i + 1}`;
    if (name === '') errors.push({ code: 'invalid_request', message: 'a column has no name', path: at });
    else if (seen.has(name)) errors.push({ code: 'invalid_request', message: `column "${name}" appears twice`, path: at });
    seen.add(name);
    const known = kind === 'events' ? [...eventTextColumns, ...jsonColumns] : null;
    if (known && name !== '' && !(known as readonly string[]).includes(name)) {
      errors.push({ code: 'invalid_request', message: `unknown column "${name}" (expected: ${known.join(', ')})`, path: at });
    }
  });
  if (kind === 'profiles' && !seen.has('userId') && !seen.has('anonymousId'))
    errors.push({ code: 'invalid_request', message: 'a profile file needs a userId or anonymousId column', path: 'line 1' });
  if (kind === 'products' && !seen.has('product_id'))
    errors.push({ code: 'invalid_request', message: 'a product file needs a product_id column', path: 'line 1' });
  return errors;
}

function parseJsonCell(name: string, cell: string, out: Record<string, unknown>): ErrorBody | null {
  try {
    out[name] = JSON.parse(cell);
    return null;
  } catch (err) {
    return { code: 'invalid_json', message: `not valid JSON: ${(err as Error).message}`, path: name };
  }
}

/** One CSV row as an object keyed by the header; empty cells are absent, as in a sparse JSON line. */
export function csvRow(kind: RowKind, header: readonly string[], cells: readonly string[]): Mapped {
  if (cells.length !== header.length) return invalid('', `expected ${header.length} cells, found ${cells.length}`);
  const row: Record<string, unknown> = {};
  const extras: Record<string, unknown> = {};
  const errors: ErrorBody[] = [];
  header.forEach((name, i) => {
    const cell = cells[i]!;
    if (cell === '') return;
    const isJson = (jsonColumns as readonly string[]).includes(name) && (kind !== 'products' || name === 'properties');
    if (isJson) {
      const e = parseJsonCell(name, cell, row);
      if (e) errors.push(e);
    } else if (kind === 'products' && (name === 'price' || name === 'stock')) {
      // A number when it reads as one; otherwise the text, so the schema names the bad cell.
      const n = Number(cell);
      row[name] = cell.trim() !== '' && Number.isFinite(n) ? n : cell;
    } else if (kind === 'products' && !(productColumns as readonly string[]).includes(name)) {
      extras[name] = cell;
    } else {
      row[name] = cell;
    }
  });
  if (errors.length) return { ok: false, errors };
  if (Object.keys(extras).length > 0) {
    const p = row.properties;
    row.properties = typeof p === 'object' && p !== null && !Array.isArray(p) ? { ...extras, ...p } : p === undefined ? extras : p;
  }
  return { ok: true, value: kind === 'profiles' ? profileToIdentify(row) : row };
}

/** A profile line ({userId, email, …} or {userId, traits: {…}}) as the identify call it means. */
export function profileToIdentify(line: Record<string, unknown>): Record<string, unknown> {
  const traits: Record<string, unknown> = {};
  const call: Record<string, unknown> = { type: 'identify' };
  for (const [key, value] of Object.entries(line)) {
    if (!(profileReserved as readonly string[]).includes(key)) traits[key] = value;
    else if (key !== 'traits') call[key] = value;
  }
  // An explicit traits object wins over loose keys of the same name; anything else is left for
  // the identify schema to refuse, as the API would.
  const explicit = line.traits;
  call.traits =
    explicit === undefined
      ? traits
      : typeof explicit === 'object' && explicit !== null && !Array.isArray(explicit)
        ? { ...traits, ...explicit }
        : explicit;
  return call;
}
