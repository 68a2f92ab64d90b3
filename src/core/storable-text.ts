/**
 * Text neither engine can store, in what we receive — JSON bodies, import lines and cells, URL
 * parameters — becomes U+FFFD, the replacement character, as a decoder does with what it cannot
 * represent, before it is parsed:
 * - U+0000 (NUL), raw or as JSON's escape `\u0000`: PostgreSQL stores it in neither TEXT nor
 *   JSONB (the whole batch holding one failed with a 500 there, while DuckDB stored it);
 * - a lone UTF-16 surrogate escape (`\ud800` without its pair): valid for JSON.parse, refused by
 *   both engines' JSON types (a 500 on both).
 * So an event is stored, the same on both engines, rather than losing the batch it came in.
 */
export function storableJson(text: string): string {
  const out = withoutNul(text);
  // Every request body passes here: escapes are only taken apart when one may be bad (a NUL or
  // a surrogate), not for every \uXXXX of text that escapes all non-ASCII.
  return mayHoldBadEscape.test(out) ? replaceBadEscapes(out) : out;
}

const withoutNul = (text: string) => (text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text);
/** `\u0000` or a surrogate escape (`\uD800`–`\uDFFF`); a match after an escaped backslash is text, which replaceBadEscapes tells apart. */
const mayHoldBadEscape = /\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})/;

/** Every JSON escape, left to right (so `\\` is one escape, and the `u0000` after it is text). */
const jsonEscape = /\\(?:u([0-9a-fA-F]{4})|[^u])/g;

function replaceBadEscapes(text: string): string {
  const escapes = [...text.matchAll(jsonEscape)].map((m) => ({
    start: m.index,
    end: m.index + m[0].length,
    code: m[1] === undefined ? null : Number.parseInt(m[1], 16),
  }));
  const bad: { start: number; end: number }[] = [];
  for (let i = 0; i < escapes.length; i++) {
    const e = escapes[i]!;
    if (e.code === null) continue;
    const next = escapes[i + 1];
    if (isHigh(e.code) && next && next.start === e.end && next.code !== null && isLow(next.code)) i++;
    else if (e.code === 0 || isHigh(e.code) || isLow(e.code)) bad.push(e);
  }
  if (bad.length === 0) return text;
  let out = '';
  let at = 0;
  for (const b of bad) {
    out += `${text.slice(at, b.start)}\\ufffd`;
    at = b.end;
  }
  return out + text.slice(at);
}

const isHigh = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLow = (code: number) => code >= 0xdc00 && code <= 0xdfff;

/** The string values of `record` (URL params, a query: strings or arrays of them), NUL replaced in place. */
export function storableValues(record: unknown): void {
  if (typeof record !== 'object' || record === null) return;
  const values = record as Record<string, unknown>;
  const storable = (v: unknown) => (typeof v === 'string' ? withoutNul(v) : v);
  for (const [key, v] of Object.entries(values)) values[key] = Array.isArray(v) ? v.map(storable) : storable(v);
}
