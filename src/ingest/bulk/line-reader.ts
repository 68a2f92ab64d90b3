import { createReadStream } from 'node:fs';
import { storableJson } from '../../core/storable-text.ts';

/** A run of consecutive lines: `lines[i]` is line `first + i`; null when it is not valid UTF-8. */
export interface LineBatch {
  first: number;
  lines: (string | null)[];
}

const strict = new TextDecoder('utf-8', { fatal: true });

function decodeLine(buf: Buffer): string | null {
  try {
    return strict.decode(buf);
  } catch {
    return null;
  }
}

/** Part of a file that starts at the beginning of line `first`: bytes [start, end). */
export interface LineRange {
  first: number;
  start: number;
  end: number;
}

/**
 * Streams a file (or a range of whole lines of it) as numbered lines ("\n" or "\r\n"; a
 * byte-order mark on line 1 is dropped), in batches of about `batchLines`, so memory stays flat
 * whatever the file size.
 */
export async function* readLines(
  file: string,
  batchLines: number,
  onBytes: (bytes: number) => void,
  range?: LineRange,
): AsyncGenerator<LineBatch> {
  let rest: Buffer = Buffer.alloc(0);
  let next = range?.first ?? 1;
  let done = 0;
  let batch: LineBatch = { first: next, lines: [] };
  const push = (buf: Buffer) => {
    let end = buf.length;
    if (end > 0 && buf[end - 1] === 13) end--;
    let text = decodeLine(buf.subarray(0, end));
    if (text !== null) text = storableJson(text);
    if (next === 1 && text?.charCodeAt(0) === 0xfeff) text = text.slice(1);
    batch.lines.push(text);
    next++;
  };
  if (range && range.end <= range.start) return;
  const stream = createReadStream(file, { highWaterMark: 1 << 20, ...(range ? { start: range.start, end: range.end - 1 } : {}) });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    done += chunk.length;
    const data = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    let from = 0;
    for (let i = data.indexOf(10); i >= 0; i = data.indexOf(10, from)) {
      push(data.subarray(from, i));
      from = i + 1;
    }
    rest = Buffer.from(data.subarray(from));
    onBytes(done);
    if (batch.lines.length >= batchLines) {
      yield batch;
      batch = { first: next, lines: [] };
    }
  }
  if (rest.length > 0) push(rest);
  if (batch.lines.length > 0) yield batch;
}
