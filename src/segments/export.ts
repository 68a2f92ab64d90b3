import { createHash, createHmac } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { AppError } from '../core/errors.ts';
import type { Store } from '../store/index.ts';
import { requireSegment } from './segments-repo.ts';

/**
 * Audience export: a segment's current members streamed page by page (keyset paging on the
 * person key), so a million members never sit in memory and a slow reader (an HTTP client, a
 * file) holds the database back through stream back-pressure. See docs/audience-export.md.
 */

export interface ExportCounts {
  /** Data rows written (the header is not counted). */
  rows: number;
  /** Members left out (DMP export: people with neither email nor phone). */
  skipped: number;
}

interface CommonOptions {
  /** Members read per round trip (default 5,000). */
  pageSize?: number;
  /** End `out` when done (default true), as `stream.pipeline` does. */
  end?: boolean;
}

export interface CsvExportOptions extends CommonOptions {
  /** Top-level trait names to add as columns after the fixed ones, in this order. */
  traits?: readonly string[];
  /** Start with a UTF-8 byte-order mark so Excel reads non-ASCII names correctly (default false). */
  bom?: boolean;
}

export interface DmpExportOptions extends CommonOptions {
  /**
   * Adds `user_id_hmac` = HMAC-SHA256(key, user_id): a pseudonymous join key for matching results
   * back. Keyed, because a plain hash of guessable ids (sequential numbers) is reversible.
   */
  userIdHmacKey?: string;
}

const fixedCsvColumns = ['user_key', 'user_id', 'email', 'phone', 'entered_at'] as const;
const defaultPageSize = 5000;

interface MemberRow {
  userKey: number;
  enteredAt: number;
  userId: string | null;
  email: string | null;
  phone: string | null;
  traits: Record<string, unknown> | null;
}

/**
 * Pages of current members in person-key order. Each page is read fresh, so a refresh running
 * meanwhile shows up in later pages, but nobody is written twice (the cursor only moves forward).
 * Identities are the lowest value of each type, as `describePeople` shows them in the console.
 */
async function* memberPages(store: Store, workspaceId: number, segmentId: number, pageSize: number, withTraits: boolean) {
  let after = -1;
  for (;;) {
    const members = await store.query<{ user_key: number; entered_at: number }>(
      `SELECT user_key, entered_at FROM segment_members WHERE workspace_id = $1 AND segment_id = $2 AND user_key > $3
       ORDER BY user_key LIMIT ${pageSize}`,
      [workspaceId, segmentId, after],
    );
    if (members.length === 0) return;
    const keys = members.map((m) => Number(m.user_key));
    const lo = keys[0]!;
    const hi = keys[keys.length - 1]!;
    // The key range next to the key list lets DuckDB skip row groups by zone map and PostgreSQL
    // walk its (workspace_id, user_key) index; the list keeps gaps (non-members) out.
    const details = await store.query<{
      user_key: number;
      user_id: string | null;
      email: string | null;
      phone: string | null;
      traits: unknown;
    }>(
      `SELECT k.user_key, i.user_id, i.email, i.phone, ${withTraits ? 'u.traits' : 'NULL AS traits'}
       FROM (SELECT unnest($2::BIGINT[]) AS user_key) k
       LEFT JOIN (
         SELECT user_key,
           min(value) FILTER (WHERE type = 'user_id') AS user_id,
           min(value) FILTER (WHERE type = 'email') AS email,
           min(value) FILTER (WHERE type = 'phone') AS phone
         FROM identities
         WHERE workspace_id = $1 AND user_key BETWEEN $3 AND $4 AND type IN ('user_id', 'email', 'phone')
           AND user_key IN (SELECT unnest($2::BIGINT[]))
         GROUP BY user_key) i ON i.user_key = k.user_key
       ${withTraits ? 'LEFT JOIN users u ON u.workspace_id = $1 AND u.user_key = k.user_key' : ''}`,
      [workspaceId, keys, lo, hi],
    );
    const byKey = new Map(details.map((d) => [Number(d.user_key), d]));
    yield members.map((m): MemberRow => {
      const d = byKey.get(Number(m.user_key));
      const traits = d?.traits ?? null;
      return {
        userKey: Number(m.user_key),
        enteredAt: Number(m.entered_at),
        userId: d?.user_id ?? null,
        email: d?.email ?? null,
        phone: d?.phone ?? null,
        traits: typeof traits === 'string' ? (JSON.parse(traits) as Record<string, unknown>) : (traits as Record<string, unknown> | null),
      };
    });
    if (members.length < pageSize) return;
    after = hi;
  }
}

// ---------------------------------------------------------------- CSV (RFC 4180 + OWASP)

/** A cell that is only a number (`+8613800138000`, `-12.5`) cannot hold a formula. */
const plainNumber = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
/** Leading characters that make spreadsheets evaluate a cell (OWASP CSV injection, ASVS 1.2.10). */
const formulaStart = /^[=+\-@\t\r\0]/;

/**
 * One CSV field: neutralised against formula injection, then quoted per RFC 4180 when it holds a
 * comma, quote, CR or LF (quotes doubled). The neutraliser prefixes `'`, which spreadsheets take as
 * "text" — except for plain numbers, so E.164 phones and negative amounts stay intact.
 */
export function csvField(value: string): string {
  const safe = formulaStart.test(value) && !plainNumber.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** RFC 4180 records end with CRLF. */
function csvLine(cells: readonly string[]): string {
  return cells.map(csvField).join(',') + '\r\n';
}

function traitCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function checkTraitColumns(traits: readonly string[]): void {
  const seen = new Set<string>(fixedCsvColumns);
  traits.forEach((t, i) => {
    if (t.trim() === '') throw new AppError('invalid_request', 'a trait name is empty', `traits[${i}]`);
    if (seen.has(t)) throw new AppError('invalid_request', `column "${t}" appears twice`, `traits[${i}]`);
    seen.add(t);
  });
}

function pageSizeOf(options: CommonOptions): number {
  const size = options.pageSize ?? defaultPageSize;
  if (!Number.isInteger(size) || size < 1) throw new AppError('invalid_request', 'pageSize must be a positive integer', 'pageSize');
  return size;
}

/** Streams text chunks into `out` with back-pressure; rejects if `out` fails (e.g. the client left). */
async function streamTo(out: Writable, chunks: AsyncIterable<string>, end: boolean): Promise<void> {
  await pipeline(Readable.from(chunks, { objectMode: false }), out, { end });
}

/**
 * Writes the members of a segment as CSV: user_key, user_id, email, phone, entered_at (ISO 8601 UTC)
 * and the chosen traits (objects as JSON). For people inside the company: it carries raw PII.
 */
export async function exportSegmentCsv(
  store: Store,
  workspaceId: number,
  segmentId: number,
  out: Writable,
  options: CsvExportOptions = {},
): Promise<ExportCounts> {
  const traits = options.traits ?? [];
  checkTraitColumns(traits);
  const pageSize = pageSizeOf(options);
  await requireSegment(store, workspaceId, segmentId);
  const counts: ExportCounts = { rows: 0, skipped: 0 };
  async function* chunks() {
    yield (options.bom ? '\uFEFF' : '') + csvLine([...fixedCsvColumns, ...traits]);
    for await (const page of memberPages(store, workspaceId, segmentId, pageSize, traits.length > 0)) {
      let text = '';
      for (const m of page) {
        const fixed = [String(m.userKey), m.userId ?? '', m.email ?? '', m.phone ?? '', new Date(m.enteredAt).toISOString()];
        text += csvLine([...fixed, ...traits.map((t) => traitCell(m.traits?.[t]))]);
      }
      counts.rows += page.length;
      yield text;
    }
  }
  await streamTo(out, chunks(), options.end ?? true);
  return counts;
}

// ---------------------------------------------------------------- DMP (hashed identifiers only)

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const md5 = (s: string) => createHash('md5').update(s, 'utf8').digest('hex');

/** The normalised forms that get hashed; exported for tests and documentation examples. */
export function dmpIdentifiers(email: string | null, phone: string | null) {
  const e = email?.trim().toLowerCase() || null;
  // Stored phones are E.164 already; parsing again gives the national number and the line type
  // (the `max` metadata is needed to tell mobile from fixed lines).
  const parsed = phone ? parsePhoneNumberFromString(phone.trim()) : undefined;
  const e164 = parsed?.isValid() ? parsed.number : null;
  const type = parsed?.isValid() ? parsed.getType() : undefined;
  const mobile = type === 'MOBILE' || type === 'FIXED_LINE_OR_MOBILE';
  return {
    email_sha256: e ? sha256(e) : null,
    phone_sha256: e164 ? sha256(e164) : null,
    phone_digits_sha256: e164 ? sha256(e164.slice(1)) : null,
    phone_md5: e164 && mobile ? md5(parsed!.nationalNumber) : null,
  };
}

const dmpColumns = ['email_sha256', 'phone_sha256', 'phone_digits_sha256', 'phone_md5'] as const;

/**
 * Writes a segment for ad platforms (Meta, Google Customer Match, Tencent / Alibaba DMPs): one row
 * per member with lower-case hex hashes of normalised identifiers and no raw PII at all. People
 * with neither an email nor a valid phone cannot be matched and are skipped (counted).
 */
export async function exportDmpAudience(
  store: Store,
  workspaceId: number,
  segmentId: number,
  out: Writable,
  options: DmpExportOptions = {},
): Promise<ExportCounts> {
  const pageSize = pageSizeOf(options);
  await requireSegment(store, workspaceId, segmentId);
  const key = options.userIdHmacKey;
  if (key !== undefined && key.length < 16)
    throw new AppError('invalid_request', 'userIdHmacKey must be at least 16 characters', 'userIdHmacKey');
  const counts: ExportCounts = { rows: 0, skipped: 0 };
  async function* chunks() {
    yield csvLine(key === undefined ? dmpColumns : [...dmpColumns, 'user_id_hmac']);
    for await (const page of memberPages(store, workspaceId, segmentId, pageSize, false)) {
      let text = '';
      for (const m of page) {
        const ids = dmpIdentifiers(m.email, m.phone);
        if (ids.email_sha256 === null && ids.phone_sha256 === null) {
          counts.skipped++;
          continue;
        }
        const cells: string[] = dmpColumns.map((c) => ids[c] ?? '');
        if (key !== undefined) cells.push(m.userId ? createHmac('sha256', key).update(m.userId, 'utf8').digest('hex') : '');
        text += csvLine(cells);
        counts.rows++;
      }
      if (text !== '') yield text;
    }
  }
  await streamTo(out, chunks(), options.end ?? true);
  return counts;
}
