import type { ErrorBody } from '../../core/errors.ts';
import { identityTraits } from '../../core/identities.ts';
import { storableJson } from '../../core/storable-text.ts';

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

/**
 * An event CSV column naming a field inside one of the JSON columns, `properties.total` or
 * `context.page.url`: its path (root first), else null.
 */
function dottedPath(name: string): string[] | null {
  const path = name.split('.');
  const [root] = path;
  if (path.length < 2 || !(jsonColumns as readonly string[]).includes(root ?? '')) return null;
  return path.every((key) => key !== '') ? path : null;
}

/** Keys that would reach an object's prototype instead of a field of its own. */
const unsafeKeys = new Set(['__proto__', 'constructor', 'prototype']);

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
    const path = kind === 'events' ? dottedPath(name) : null;
    if (known && name !== '' && !(known as readonly string[]).includes(name) && !path) {
      errors.push({
        code: 'invalid_request',
        message: `unknown column "${name}" (expected: ${known.join(', ')}, or a field inside one of ${jsonColumns.join(', ')}, e.g. properties.total)`,
        path: at,
      });
    }
    if (name.split('.').some((key) => unsafeKeys.has(key)))
      errors.push({ code: 'invalid_request', message: `column "${name}" names a reserved key`, path: at });
  });
  // properties.shipping and properties.shipping.city cannot both be filled: one would overwrite the
  // other. (A JSON column and columns inside it can: they are merged, see csvRow.)
  header.forEach((name, i) => {
    const holder = kind === 'products' ? undefined : header.find((other) => dottedPath(other) && name.startsWith(`${other}.`));
    if (holder)
      errors.push({ code: 'invalid_request', message: `column "${name}" is inside column "${holder}"`, path: `line 1: column ${i + 1}` });
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

const jsonNumber = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const textKeys = new Set(['coupon', 'currency', 'sku', 'name', 'category', 'tier', 'zip', 'postal_code']);
/** Fields that are text by meaning, whatever they look like: ids (`order_id`, `productId`), identity traits, codes. */
const textField = (key: string) =>
  /(?:^|_)id$|[a-z]Id$/.test(key) || (identityTraits as readonly string[]).includes(key) || textKeys.has(key);

/**
 * A cell of a field inside properties or traits (`properties.total`, a profile's `visits`, a
 * product's `brand`), typed as a JSON line would write it: a number as JSON writes one (so `007`
 * and `+1` stay text, and an integer beyond 2^53 too, which a number would round), `true` or
 * `false`, a JSON object or array (`[{"product_id":"sku-1"}]`); anything else is text. Fields that
 * are text by meaning (`textField`) stay text: a numeric order id or coupon code is kept as written.
 */
function typedCell(key: string, cell: string): unknown {
  if (textField(key)) return cell;
  if (jsonNumber.test(cell)) {
    const n = Number(cell);
    const integer = /^-?\d+$/.test(cell);
    return Number.isFinite(n) && (!integer || Number.isSafeInteger(n)) ? n : cell;
  }
  if (cell === 'true' || cell === 'false') return cell === 'true';
  if (cell.startsWith('{') || cell.startsWith('[')) {
    try {
      return JSON.parse(cell);
    } catch {
      return cell;
    }
  }
  return cell;
}

/** Sets `value` at `keys` under `target`, making the objects on the way (checkHeader refused paths that collide). */
function setPath(target: Record<string, unknown>, keys: readonly string[], value: unknown): void {
  let at = target;
  for (const key of keys.slice(0, -1)) {
    const next = at[key];
    if (typeof next === 'object' && next !== null && !Array.isArray(next)) {
      at = next as Record<string, unknown>;
    } else {
      const made: Record<string, unknown> = {};
      at[key] = made;
      at = made;
    }
  }
  at[keys.at(-1) as string] = value;
}

/** Fields from columns (`fields`) under a JSON column's object: the JSON cell's own keys win; a JSON cell that is not an object is left for the schema to refuse. */
function mergeFields(explicit: unknown, fields: Record<string, unknown>): unknown {
  if (explicit === undefined) return fields;
  return typeof explicit === 'object' && explicit !== null && !Array.isArray(explicit) ? { ...fields, ...explicit } : explicit;
}

/**
 * Where a CSV column's cell goes when it is one field of an object: an event's
 * `properties.total`, a profile's trait, a product's property (columns outside its schema);
 * null for the row's own columns.
 */
function fieldPath(kind: RowKind, name: string): string[] | null {
  switch (kind) {
    case 'events':
      return dottedPath(name);
    case 'profiles': {
      // `traits.address.city` and `context.timezone` as in event files; any other column is a trait named as written.
      const path = dottedPath(name);
      if (path?.[0] === 'traits' || path?.[0] === 'context') return path;
      return (profileReserved as readonly string[]).includes(name) ? null : ['traits', name];
    }
    case 'products':
      return (productColumns as readonly string[]).includes(name) ? null : ['properties', name];
    default: {
      const never: never = kind;
      throw new Error(`unknown row kind ${String(never)}`);
    }
  }
}

/**
 * One CSV row as an object keyed by the header; empty cells are absent, as in a sparse JSON line.
 * JSON columns hold a JSON object; fields inside them also come from columns of their own
 * (`fieldPath`), typed by `typedCell`.
 */
export function csvRow(kind: RowKind, header: readonly string[], cells: readonly string[]): Mapped {
  if (cells.length !== header.length) return invalid('', `expected ${header.length} cells, found ${cells.length}`);
  const row: Record<string, unknown> = {};
  const fields: Record<string, unknown> = {};
  const errors: ErrorBody[] = [];
  header.forEach((name, i) => {
    // A cell may hold JSON (properties, a typed field): made storable as a JSON line is.
    const cell = storableJson(cells[i]!);
    if (cell === '') return;
    const path = fieldPath(kind, name);
    const isJson = (jsonColumns as readonly string[]).includes(name) && (kind !== 'products' || name === 'properties');
    if (path) {
      setPath(fields, path, typedCell(path.at(-1) as string, cell));
    } else if (isJson) {
      const e = parseJsonCell(name, cell, row);
      if (e) errors.push(e);
    } else if (kind === 'products' && (name === 'price' || name === 'stock')) {
      // A number when it reads as one; otherwise the text, so the schema names the bad cell.
      const n = Number(cell);
      row[name] = cell.trim() !== '' && Number.isFinite(n) ? n : cell;
    } else {
      row[name] = cell;
    }
  });
  if (errors.length) return { ok: false, errors };
  for (const [root, inner] of Object.entries(fields)) row[root] = mergeFields(row[root], inner as Record<string, unknown>);
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
