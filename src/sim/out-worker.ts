import { parentPort, workerData } from 'node:worker_threads';
import { buildMember } from './member.ts';
import { type ShopRun, shopContextFor } from './shop.ts';
import { simulateMember } from './shopper.ts';
import { LineBuffer } from './sinks.ts';

/**
 * A generator thread of the parallel NDJSON writer: simulates blocks of members and sends back
 * their NDJSON bytes. Members depend only on (seed, index), so any thread can do any block
 * and the file is the same as the single-threaded one.
 */
export interface BlockJob {
  block: number;
  from: number;
  to: number;
}

export interface BlockResult {
  block: number;
  events: number;
  chunks: { buffer: ArrayBuffer; offset: number; length: number }[];
}

const ctx = shopContextFor(workerData as ShopRun);
const port = parentPort!;
port.on('message', (job: BlockJob) => {
  const lines = new LineBuffer();
  let events = 0;
  for (let i = job.from; i < job.to; i++) {
    const list = simulateMember(ctx, buildMember(ctx.seed, i, ctx.start, ctx.end));
    lines.add(list);
    events += list.length;
  }
  // Each sealed buffer owns its ArrayBuffer (4 MB, never from Node's small-buffer pool), so
  // it can be transferred to the main thread without a copy.
  const chunks = lines.take(true).map((b) => ({ buffer: b.buffer as ArrayBuffer, length: b.length, offset: b.byteOffset }));
  const result: BlockResult = { block: job.block, events, chunks };
  port.postMessage(result, [...new Set(chunks.map((c) => c.buffer))]);
});
