/**
 * U+0000 (NUL) in text we receive — JSON bodies, import lines — becomes U+FFFD, the replacement
 * character, as a decoder does with what it cannot represent: PostgreSQL stores NUL in neither
 * TEXT nor JSONB, and refused the whole batch holding one (a 500), while DuckDB stored it. Replacing
 * it before parsing keeps both engines storing the same thing, and keeps such an event rather than
 * losing the batch it came in. Replaced are a raw NUL and JSON's escape `\u0000`; an escaped
 * backslash followed by `u0000` is text, not a NUL, and stays.
 */
export function withoutNul(text: string): string {
  if (!text.includes('\\u0000') && !text.includes('\u0000')) return text;
  return text.replaceAll('\u0000', '\uFFFD').replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\ufffd');
}
