import { parentPort, workerData } from 'node:worker_threads';
import { OutboundClient } from '../../core/outbound-http.ts';
import type { ChannelProvider } from '../channels/channel.ts';
import { providerFactory } from '../channels/registry.ts';
import { type DeliveryItem, runDeliveries } from './deliver.ts';
import type { DeliveryJob, FromWorker, ProviderSpec, ToWorker, WorkerInit } from './delivery-protocol.ts';
import { TokenBucket } from './token-bucket.ts';

/**
 * A delivery thread (started by delivery-pool.ts through delivery-worker-boot.mjs): makes the
 * provider calls of the batches it is given and answers their outcomes. It never touches the
 * database: the dispatcher records every attempt before it hands a batch over, and the outcomes
 * after this thread answers, so the exactly-once contract is the dispatcher's alone.
 */

const port = parentPort;
if (!port) throw new Error('delivery-worker.ts runs in a worker thread');
const init = workerData as WorkerInit;
const http = new OutboundClient(init.outbound);

// The dispatcher's clock (virtual in tests) as of the current job, advanced by real time since.
let clockBase = { now: 0, at: performance.now() };
const now = () => clockBase.now + (performance.now() - clockBase.at);

interface Live {
  updatedAt: number;
  provider: ChannelProvider;
  limiter: TokenBucket | null;
}
const live = new Map<string, Live>();

async function providerFor(spec: ProviderSpec): Promise<Live> {
  const current = live.get(spec.key);
  if (current && current.updatedAt === spec.updatedAt) return current;
  await current?.provider.close?.();
  const factory = providerFactory(spec.channel, spec.provider);
  if (!factory) throw new Error(`no provider "${spec.provider}" for ${spec.channel}`);
  const provider = factory.create(factory.config.parse(spec.config), {
    http,
    allowPrivateNetworks: init.outbound.allowPrivateNetworks,
    now,
  });
  const entry = { updatedAt: spec.updatedAt, provider, limiter: spec.ratePerSecond ? new TokenBucket(spec.ratePerSecond) : null };
  live.set(spec.key, entry);
  return entry;
}

async function deliver(job: DeliveryJob): Promise<FromWorker> {
  clockBase = { now: job.now, at: performance.now() };
  const providers = await Promise.all(job.specs.map(providerFor));
  const items = job.items.map((item): DeliveryItem => {
    const p = providers[item.spec] as Live;
    return {
      message: item.message,
      send: (m, signal) => p.provider.send(m, signal),
      ...(p.limiter ? { take: () => (p.limiter as TokenBucket).take() } : {}),
    };
  });
  const outcomes = await runDeliveries(items, job.concurrency, AbortSignal.timeout(job.deadlineMs));
  return { type: 'done', id: job.id, outcomes };
}

async function close(): Promise<void> {
  for (const { provider } of live.values()) await provider.close?.();
  live.clear();
  await http.close();
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'deliver':
      // Only building a provider can throw (runDeliveries turns send errors into outcomes), and
      // then no call was made: the pool puts the job's messages back in the queue.
      deliver(msg).then(
        (reply) => port.postMessage(reply),
        (err: unknown) => port.postMessage({ type: 'failed', id: msg.id, reason: (err as Error).message } satisfies FromWorker),
      );
      return;
    case 'close':
      close().finally(() => {
        port.postMessage({ type: 'closed' } satisfies FromWorker);
        port.close();
      });
      return;
    default: {
      const never: never = msg;
      throw new Error(`unknown message ${JSON.stringify(never)}`);
    }
  }
});

port.postMessage({ type: 'ready' } satisfies FromWorker);
