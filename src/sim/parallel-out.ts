import { createWriteStream } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Progress } from '../cli/progress.ts';
import type { BlockJob, BlockResult } from './out-worker.ts';
import type { ShopRun } from './shop.ts';
import { endStream, STREAM_BUFFER, writeAll } from './sinks.ts';

/**
 * The shop generator on several threads, for the big NDJSON files of the bulk-import benchmark
 * (tens of millions of events). Workers simulate blocks of members; this thread writes the
 * blocks in index order, so the file is byte-identical to the single-threaded one. At most three
 * blocks per worker are generated but not yet written, so memory stays bounded.
 */
export const BLOCK_USERS = 2000;

/**
 * Starts a worker on out-worker.ts. Shopflow runs TypeScript through tsx, whose hooks do not
 * reach worker threads on Node 20 (nor a worker started from vitest), so the worker registers
 * tsx itself before importing its module.
 */
function startWorker(run: ShopRun): Worker {
  // The ESM build of tsx's API (the CommonJS one resolves its hooks relative to the caller).
  const tsxApi = pathToFileURL(
    createRequire(import.meta.url)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  const entry = new URL('./out-worker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true, workerData: run });
}

/**
 * Generator threads worth starting: one core stays with the writer (and the rest of the
 * machine). On two cores, measured under load, a worker did not beat the single-threaded path.
 */
export function defaultThreads(): number {
  return Math.max(1, Math.min(8, availableParallelism() - 1));
}

export async function generateShopParallel(
  run: ShopRun,
  file: string,
  threads: number,
  progress: Progress,
  blockUsers = BLOCK_USERS,
): Promise<number> {
  const blocks = Math.ceil(run.users / blockUsers);
  const stream = createWriteStream(file, { highWaterMark: STREAM_BUFFER });
  let failed: Error | null = null;
  stream.on('error', (err) => {
    failed = err;
  });
  const workers = Array.from({ length: Math.min(threads, blocks) }, () => startWorker(run));
  progress.start('Simulating shop', run.users);
  try {
    const done = new Map<number, BlockResult>();
    let nextJob = 0;
    let nextWrite = 0;
    let events = 0;
    let wake: (() => void) | null = null;
    let workerError: Error | null = null;
    const queued = new Map<Worker, number>(workers.map((w) => [w, 0]));
    const limit = 3 * workers.length; // blocks generated but not yet written: bounds memory
    // Up to two jobs per worker, so none waits for the writer to hand it the next block.
    const refill = () => {
      for (const w of workers) {
        while (nextJob < blocks && queued.get(w)! < 2 && nextJob - nextWrite < limit) {
          const job: BlockJob = { block: nextJob, from: nextJob * blockUsers, to: Math.min(run.users, (nextJob + 1) * blockUsers) };
          nextJob++;
          queued.set(w, queued.get(w)! + 1);
          w.postMessage(job);
        }
      }
    };
    for (const w of workers) {
      w.on('message', (r: BlockResult) => {
        done.set(r.block, r);
        queued.set(w, queued.get(w)! - 1);
        refill();
        wake?.();
      });
      w.on('error', (err) => {
        workerError = err;
        wake?.();
      });
      w.on('exit', (code) => {
        if (nextWrite < blocks) workerError ??= new Error(`simulator worker exited early (code ${code})`);
        wake?.();
      });
    }
    refill();
    while (nextWrite < blocks) {
      if (workerError) throw workerError;
      if (failed) throw failed;
      const r = done.get(nextWrite);
      if (!r) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
        continue;
      }
      done.delete(nextWrite);
      await writeAll(
        stream,
        r.chunks.map((c) => Buffer.from(c.buffer, c.offset, c.length)),
      );
      events += r.events;
      nextWrite++;
      refill();
      progress.update(Math.min(run.users, nextWrite * blockUsers));
    }
    await endStream(stream);
    if (failed) throw failed;
    return events;
  } finally {
    progress.stop();
    await Promise.all(workers.map((w) => w.terminate()));
    if (!stream.closed) stream.destroy();
  }
}
