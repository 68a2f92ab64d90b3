import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dispatcher } from '../src/messaging/index.ts';
import type { SqlExecutor, Store } from '../src/store/index.ts';
import { engines } from './engines.ts';
import { Shop } from './journey-fixtures.ts';
import { TwilioMock } from './mock-providers/twilio.ts';

/** The store, noting the LIMIT of every claim (the batch size the dispatcher asked for). */
function noteClaims(store: Store, limits: number[]): Store {
  const note = (sql: string) => {
    const claim = /status = 'queued'[\s\S]*ORDER BY[\s\S]*LIMIT (\d+)/.exec(sql);
    if (claim) limits.push(Number(claim[1]));
  };
  const noting = <T extends SqlExecutor>(ex: T): T =>
    new Proxy(ex, {
      get(target, prop) {
        if (prop === 'query') {
          return (sql: string, params?: Parameters<SqlExecutor['query']>[1]) => {
            note(sql);
            return target.query(sql, params);
          };
        }
        const value = Reflect.get(target, prop);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  return new Proxy(noting(store), {
    get(target, prop) {
      if (prop === 'transaction') return (fn: (tx: SqlExecutor) => Promise<unknown>) => store.transaction((tx) => fn(noting(tx)));
      return Reflect.get(target, prop);
    },
  });
}

/**
 * Batches follow the provider's speed (Dispatcher.nextBatchSize): a batch waits in `sending` while
 * the one before it is on the wire and must be done within half a lease of its attempt write, so
 * with a slow provider a large batch would have its last calls run out of time.
 */
describe.each(engines)('dispatch batch sizes (%s)', (engine) => {
  let shop: Shop;
  const twilio = new TwilioMock(`AC${'3'.repeat(32)}`, 'batch-token');
  beforeAll(async () => {
    shop = await Shop.open(engine);
    await twilio.serveSms(shop, 'slow', 'Hello {{ person.traits.name }}');
  });
  afterAll(async () => {
    await shop.dispose();
    await twilio.stop();
  });

  it('shrink to what a slow provider sends in an eighth of a lease, and each message still goes out once', async () => {
    await shop.journey('slow', {
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Joined' } },
        { id: 'sms', type: 'send', channel: 'sms', template: 'slow' },
      ],
      edges: [{ from: 'in', to: 'sms' }],
    });
    const phones = Array.from({ length: 60 }, (_, i) => `+1415556${String(1000 + i)}`);
    for (const [i, phone] of phones.entries()) {
      await shop.identify(`s${i}`, { name: `s${i}`, phone });
      await shop.track(`s${i}`, 'Joined');
    }
    await shop.tick();

    // 100 ms a call, 4 at once: 0.04 messages a ms. A lease of 4 s allows 500 ms a batch: ~20 messages.
    twilio.misbehave({ kind: 'slow', ms: 100 }, phones.length);
    const limits: number[] = [];
    const dispatcher = new Dispatcher(noteClaims(shop.store, limits), shop.clock, {
      publicUrl: 'https://shop.test',
      outbound: { allowPrivateNetworks: true, timeoutMs: 2_000 },
      batchSize: 28,
      concurrency: 4,
      leaseMs: 4_000,
    });
    try {
      await dispatcher.tick();
    } finally {
      await dispatcher.stop();
    }
    // The first two are planned before any batch has gone out (the second while the first is on the wire).
    expect(limits.slice(0, 2)).toEqual([28, 28]);
    const later = limits.slice(2);
    expect(later.length).toBeGreaterThan(0);
    expect(Math.max(...later)).toBeLessThan(28);
    expect(Math.min(...later)).toBeGreaterThanOrEqual(10);

    const delivered = twilio.delivered.map((d) => d.to);
    expect(new Set(delivered).size).toBe(delivered.length);
    expect(delivered.sort()).toEqual([...phones].sort());
  }, 60_000);
});
