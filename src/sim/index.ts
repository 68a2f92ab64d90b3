import type { Progress } from '../cli/progress.ts';
import { type Product, upsertProducts } from '../commerce/index.ts';
import type { Clock } from '../core/clock.ts';
import type { Store } from '../store/index.ts';
import { cdnowProduct, importCdnow } from './cdnow.ts';
import { defaultThreads, generateShopParallel } from './parallel-out.ts';
import { generateShop, shopContextFor } from './shop.ts';
import { type EventSink, NdjsonSink, StoreSink, writeNdjsonFile } from './sinks.ts';

/**
 * The shop simulator: demo data for `npm start` and `shopflow demo`, input files for the
 * bulk-import benchmark, and (through the response model) the behaviour that journey
 * simulations and ROI forecasts run against. See docs/simulator.md.
 */

export interface DemoOptions {
  dataset: 'shop' | 'cdnow';
  users: number;
  days: number;
  seed: number;
  /** Simulated history ends at this instant (epoch ms), usually clock.now(). */
  endAt: number;
  /** CDNOW_master.txt path (dataset 'cdnow'). */
  cdnowFile?: string;
  /** Write the events as NDJSON (Segment spec, one per line) to this file instead of storing them. */
  out?: string;
}

export interface DemoSummary {
  users: number;
  events: number;
  products: number;
  seconds: number;
}

/** Below this many users, starting worker threads costs more than it saves. */
const PARALLEL_FROM_USERS = 20_000;

function check(options: DemoOptions): void {
  if (options.dataset === 'cdnow') {
    if (!options.cdnowFile) throw new Error('dataset cdnow needs cdnowFile (the path of CDNOW_master.txt)');
    return;
  }
  if (!Number.isInteger(options.users) || options.users < 1) throw new Error('users must be a positive integer');
  if (!(options.days > 0)) throw new Error('days must be positive');
  // Non-negative integers keep user ids (`sim-<seed>-<n>`) parseable back to their seed.
  if (!Number.isInteger(options.seed) || options.seed < 0) throw new Error('seed must be a non-negative integer');
  if (!Number.isFinite(options.endAt)) throw new Error('endAt must be an epoch-ms instant');
}

/**
 * Generates the chosen dataset and writes it through the ingestion path (or, with `out`, to
 * NDJSON files: `<out>` for events and `<out>.products.ndjson` for the catalog).
 */
export async function runDemo(
  store: Store,
  clock: Clock,
  workspaceId: number,
  options: DemoOptions,
  progress: Progress,
): Promise<DemoSummary> {
  check(options);
  // Elapsed time for the summary only (a duration, not a business instant: no Clock needed).
  const started = performance.now();
  const done = (users: number, events: number): DemoSummary => ({
    users,
    events,
    products: products.length,
    seconds: (performance.now() - started) / 1000,
  });
  const ctx = options.dataset === 'shop' ? shopContextFor(options) : null;
  const products: Product[] = ctx ? ctx.catalog.products.map((p) => p.product) : [cdnowProduct];
  // Products first, so events can be read against their catalog from the start.
  if (options.out) await writeNdjsonFile(`${options.out}.products.ndjson`, products);
  else await upsertProducts(store, workspaceId, products, clock.now());

  // Big files (the bulk-import benchmark) are generated on the spare cores; same bytes either way.
  if (ctx && options.out && options.users >= PARALLEL_FROM_USERS && defaultThreads() >= 2) {
    return done(options.users, await generateShopParallel(options, options.out, defaultThreads(), progress));
  }
  const sink: EventSink = options.out ? new NdjsonSink(options.out) : new StoreSink(store, clock, workspaceId);
  let users = options.users;
  try {
    if (ctx) await generateShop(ctx, options.users, sink, progress);
    else users = await importCdnow(options.cdnowFile!, sink, progress);
  } catch (err) {
    // Never leave the file handle open; the generation error is the one worth reporting.
    await sink.close().catch(() => {});
    throw err;
  }
  return done(users, await sink.close());
}

export { buildCatalog, type SimCatalog, type SimProduct } from './catalog.ts';
export { type LeafCategory, leafCategories, type TopCategory } from './categories.ts';
export { cdnowProduct, customerEvents, parseCdnow } from './cdnow.ts';
export { demoTemplates, installDemoTemplates, installPlaceholderTemplates, placeholderTemplate } from './demo-templates.ts';
export { buildMember, parseSimUserId, responderOf, type SimMember, simUserId } from './member.ts';
export {
  type Channel,
  channels,
  couponAttractiveness,
  type MessageResponse,
  type Responder,
  type ResponseProbabilities,
  respondToMessage,
  responseModel,
  responseProbabilities,
  type SimMessage,
} from './response-model.ts';
export { Rng } from './rng.ts';
export { shopContextFor } from './shop.ts';
export { simulateMember } from './shopper.ts';
