import { createWriteStream, type WriteStream } from 'node:fs';
import type { Clock } from '../core/clock.ts';
import { type NormalizedEvent, normalizeEvent, writeBatch } from '../ingest/index.ts';
import type { Store } from '../store/index.ts';
import { eventLine } from './ndjson.ts';
import type { RawEvent } from './raw-events.ts';

/** Where simulated events go: the store (through ingestion) or an NDJSON file. */
export interface EventSink {
  /** One person's events, in their time order. */
  write(events: readonly RawEvent[]): Promise<void>;
  /** Flushes what is buffered; returns how many events were written in total. */
  close(): Promise<number>;
}

export const STORE_BATCH = 5000;

/**
 * Validates every event with the API's normaliser and writes batches with the API's writer:
 * identity resolution (anonymous → member merges), dedupe and line items behave exactly as
 * for real traffic, including `source: 'api'`, so a re-run with the same seed is deduplicated
 * by the same window as a client's retries.
 */
export class StoreSink implements EventSink {
  private buffer: NormalizedEvent[] = [];
  private written = 0;
  private validated = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly workspaceId: number,
    private readonly batchSize = STORE_BATCH,
  ) {}

  async write(events: readonly RawEvent[]): Promise<void> {
    const receivedAt = this.clock.now();
    for (const raw of events) {
      const r = normalizeEvent(raw, [this.validated++], { workspaceId: this.workspaceId, receivedAt, source: 'api' });
      // The simulator builds its events; one that does not validate is a bug here, not data.
      if (!r.ok) throw new Error(`simulator produced an invalid event ${raw.event ?? raw.type}: ${JSON.stringify(r.errors)}`);
      this.buffer.push(r.event);
    }
    if (this.buffer.length >= this.batchSize) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    const result = await writeBatch(this.store, this.workspaceId, batch, this.clock.now());
    this.written += result.stored;
  }

  async close(): Promise<number> {
    await this.flush();
    return this.written;
  }
}

const CHUNK_BYTES = 4 << 20;
/** Bytes queued on a file stream before we wait: generation continues while the disk writes. */
export const STREAM_BUFFER = 32 << 20;

/**
 * NDJSON lines encoded straight into large buffers: joining millions of small strings and
 * encoding the result cost more than generating the events.
 */
export class LineBuffer {
  private buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  private used = 0;
  private full: Buffer[] = [];
  bytes = 0;

  add(events: readonly RawEvent[]): void {
    for (const e of events) {
      const line = eventLine(e);
      // UTF-8 needs at most 3 bytes per UTF-16 unit; a longer line gets a buffer of its own.
      const worst = line.length * 3 + 1;
      if (this.used + worst > this.buffer.length) {
        this.seal();
        if (worst > this.buffer.length) this.buffer = Buffer.allocUnsafe(worst);
      }
      this.used += this.buffer.write(line, this.used);
      this.buffer[this.used++] = 10;
    }
  }

  private seal(): void {
    if (this.used === 0) return;
    this.full.push(this.buffer.subarray(0, this.used));
    this.bytes += this.used;
    // The consumer keeps the sealed bytes: continue in a fresh buffer.
    this.buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    this.used = 0;
  }

  /** The filled buffers so far (and `all`: the partly filled one too). */
  take(all: boolean): Buffer[] {
    if (all) this.seal();
    const out = this.full;
    this.full = [];
    return out;
  }
}

/** Writes buffers to a stream, waiting when the stream asks for back-pressure. */
export async function writeAll(stream: WriteStream, buffers: readonly Buffer[]): Promise<void> {
  for (const b of buffers) {
    if (stream.write(b)) continue;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      stream.once('error', onError);
      stream.once('drain', () => {
        stream.off('error', onError);
        resolve();
      });
    });
  }
}

export async function endStream(stream: WriteStream): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    stream.once('error', reject);
    stream.end(() => resolve());
  });
}

/** Streams NDJSON (one Segment-spec event per line) to a file. */
export class NdjsonSink implements EventSink {
  private readonly stream: WriteStream;
  private readonly lines = new LineBuffer();
  private written = 0;
  private failed: Error | null = null;

  constructor(file: string) {
    this.stream = createWriteStream(file, { highWaterMark: STREAM_BUFFER });
    // Without a listener an open/write error would crash the process instead of failing the run.
    this.stream.on('error', (err) => {
      this.failed = err;
    });
  }

  async write(events: readonly RawEvent[]): Promise<void> {
    if (this.failed) throw this.failed;
    this.lines.add(events);
    this.written += events.length;
    const ready = this.lines.take(false);
    if (ready.length > 0) await writeAll(this.stream, ready);
  }

  async close(): Promise<number> {
    if (this.failed) throw this.failed;
    await writeAll(this.stream, this.lines.take(true));
    await endStream(this.stream);
    if (this.failed) throw this.failed;
    return this.written;
  }
}

/** Writes any rows as NDJSON in one go (the products file: small). */
export async function writeNdjsonFile(file: string, rows: readonly unknown[]): Promise<void> {
  const stream = createWriteStream(file);
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject);
    stream.end(rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length > 0 ? '\n' : ''), () => resolve());
  });
}
