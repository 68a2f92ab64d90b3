import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';

/**
 * A run of at most `sliceLines` consecutive lines of the file: the unit an import stages and
 * writes at a time (see events-import.ts).
 */
export interface SliceSpan {
  /** Line number of its first line (1-based, in the whole file). */
  first: number;
  lines: number;
  /** Byte range [start, end) in the file. */
  start: number;
  end: number;
  /** Σ (line number within the slice) × line bytes, mod 67108859: DuckDB's numbering must give the same. */
  checksum: number;
}

export interface FileScan {
  bytes: number;
  /** sha256 of the whole file, hex: the seed of the messageIds of lines that have none. */
  sha256: string;
  /** Lines as a line reader counts them (a last line without "\n" counts). */
  lines: number;
  longestLine: number;
  /** The file cut into slices of `sliceLines` lines (one empty slice for an empty file). */
  slices: SliceSpan[];
  /** UTF-8 throughout, and no NUL, \x01 or \r bytes: DuckDB's raw line reader takes it as is. */
  plain: boolean;
}

/**
 * One streaming pass over the file before anything is read into the database: its hash (so a
 * re-import derives the same messageIds) and whether DuckDB can read it natively. A failed
 * statement aborts the whole DuckDB transaction, so the fallback must be chosen up front.
 */
export async function scanFile(file: string, onBytes: (bytes: number) => void, sliceLines = Number.POSITIVE_INFINITY): Promise<FileScan> {
  const bytes = statSync(file).size;
  const hash = createHash('sha256');
  let lines = 0;
  let longest = 0;
  let current = 0; // length of the line being read so far
  const P = 67_108_859; // below 2^26, so each product is exact in a double
  const slices: SliceSpan[] = [];
  let slice: SliceSpan = { first: 1, lines: 0, start: 0, end: 0, checksum: 0 };
  /** Counts the line that ends at byte `end` (exclusive) and closes the slice when it is full. */
  const endLine = (end: number) => {
    if (current > longest) longest = current;
    lines++;
    slice.lines++;
    slice.checksum = (slice.checksum + (((slice.lines % P) * (current % P)) % P)) % P;
    slice.end = end;
    current = 0;
    if (slice.lines >= sliceLines) {
      slices.push(slice);
      slice = { first: lines + 1, lines: 0, start: end, end, checksum: 0 };
    }
  };
  let plain = true;
  let carry: Buffer = Buffer.alloc(0); // an incomplete UTF-8 sequence at a chunk end
  let done = 0;
  let offset = 0; // bytes before the current chunk
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    done += chunk.length;
    if (plain) {
      const data = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      // Check UTF-8 up to the last newline; the rest waits for the next chunk.
      const cut = data.lastIndexOf(10) + 1;
      const whole = cut > 0 ? data.subarray(0, cut) : data.length > 1 << 24 ? data : Buffer.alloc(0);
      if (!isUtf8(whole) || whole.includes(0) || whole.includes(1) || whole.includes(13)) plain = false;
      carry = Buffer.from(data.subarray(whole.length));
    }
    for (let i = chunk.indexOf(10), from = 0; ; i = chunk.indexOf(10, from)) {
      if (i < 0) {
        current += chunk.length - from;
        break;
      }
      current += i - from;
      endLine(offset + i + 1);
      from = i + 1;
    }
    offset += chunk.length;
    onBytes(done);
  }
  if (current > 0) endLine(offset);
  if (slice.lines > 0 || slices.length === 0) slices.push(slice);
  if (plain && carry.length && (!isUtf8(carry) || carry.includes(0) || carry.includes(1) || carry.includes(13))) plain = false;
  return { bytes, sha256: hash.digest('hex'), lines, longestLine: longest, slices, plain };
}

/**
 * The messageId prefix of lines without one: same file, same ids, so a re-import stores nothing.
 * Profiles get their own, so importing one file both ways does not look like a duplicate.
 */
export const messageIdPrefix = (sha256: string, kind: 'events' | 'profiles') =>
  `${kind === 'events' ? 'import' : 'profile'}-${sha256.slice(0, 24)}-`;
