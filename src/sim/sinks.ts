import { createWriteStream, type WriteStream } from 'node:fs';
import type { Clock } from '../core/clock.ts';
import { normalizeEvent, type NormalizedEvent, writeBatch } from '../ingest/index.ts';
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
 * for real traffic. Events are marked `source: 'import'`: they are history, not live traffic.
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
      const r = normalizeEvent(raw, [this.validated++], { workspaceId: this.workspaceId, receivedAt, source: 'import' });
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

/** Streams NDJSON (one Segment-spec event per line), respecting back-pressure. */
export class NdjsonSink implements EventSink {
  private readonly stream: WriteStream;
  private chunk: string[] = [];
  private chunkBytes = 0;
  private written = 0;
  private failed: Error | null = null;

  constructor(file: string) {
    this.stream = createWriteStream(file);
    this.stream.on('error', (err) => {
      this.failed = err;
    });
  }

  async write(events: readonly RawEvent[]): Promise<void> {
    for (const e of events) {
      const line = eventLine(e);
      this.chunk.push(line);
      this.chunkBytes += line.length + 1;
    }
    this.written += events.length;
    if (this.chunkBytes >= 1 << 20) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.failed) throw this.failed;
    if (this.chunk.length === 0) return;
    const text = `${this.chunk.join('\n')}\n`;
    this.chunk = [];
    this.chunkBytes = 0;
    if (this.stream.write(text)) return;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.stream.once('error', onError);
      this.stream.once('drain', () => {
        this.stream.off('error', onError);
        resolve();
      });
    });
  }

  async close(): Promise<number> {
    await this.flush();
    await new Promise<void>((resolve, reject) => this.stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
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
