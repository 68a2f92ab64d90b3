import { describe, expect, it } from 'vitest';
import { systemClock } from '../src/core/clock.ts';
import { openStore, type Store } from '../src/store/index.ts';
import { startServeOn } from './cli-process.ts';
import { emptyPostgresDatabase } from './engines.ts';
import { TwilioMock } from './mock-providers/twilio.ts';
import { postOrder, setUpShop } from './order-texts-shop.ts';

/**
 * `serve --role`: the API, the engine and the dispatcher in processes of their own on one
 * PostgreSQL database, each doing its part and nothing else, and waking the next through the
 * database (NOTIFY) — also after its LISTEN connection was cut. Their ticks are set to a minute, so
 * that within the test's deadlines only a wake-up moves an order on. (PostgreSQL only: DuckDB allows
 * one process, and `--role` there is refused, see cli-errors.test.ts.)
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const A_MINUTE = '60000';

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${ms} ms`);
    await sleep(100);
  }
}

describe('serve --role on PostgreSQL', () => {
  it('splits the API, the engine and the dispatcher into processes that wake each other', async () => {
    const db = await emptyPostgresDatabase();
    const twilio = new TwilioMock('AC0123456789abcdef0123456789abcdef', 'token');
    await twilio.start();
    const servers: Awaited<ReturnType<typeof startServeOn>>[] = [];
    const env = { SHOPFLOW_ALLOW_PRIVATE_NETWORKS: 'true', SHOPFLOW_JOURNEY_TICK_MS: A_MINUTE, SHOPFLOW_DISPATCH_TICK_MS: A_MINUTE };
    const start = async (role: string) => {
      const server = await startServeOn(db.url, ['--no-demo', '--role', role], env);
      servers.push(server);
      return server;
    };
    let store: Store | null = null;
    try {
      const api = await start('api');
      store = await openStore({ url: db.url, dataDir: '.', dedupeDays: 8 }, systemClock);
      const { writeKey, workspaceId } = await setUpShop(store, twilio);
      const order = (url: string, i: number) => postOrder(url, writeKey, i);
      const counts = async () => {
        const [row] = await store!.query<{ events: number; instances: number; queued: number; sent: number }>(
          `SELECT (SELECT count(*) FROM events WHERE workspace_id = $1 AND event = 'Order Placed') AS events,
                  (SELECT count(*) FROM journey_instances WHERE workspace_id = $1) AS instances,
                  (SELECT count(*) FROM outbox WHERE workspace_id = $1 AND status = 'queued') AS queued,
                  (SELECT count(*) FROM outbox WHERE workspace_id = $1 AND status = 'sent') AS sent`,
          [workspaceId],
        );
        return { events: Number(row!.events), instances: Number(row!.instances), queued: Number(row!.queued), sent: Number(row!.sent) };
      };

      // The API alone stores orders; nobody enters the journey.
      expect(await (await fetch(`${api.url}/health`)).json()).toEqual({ ok: true, store: 'postgres', roles: ['api'] });
      for (let i = 0; i < 10; i++) expect(await order(api.url, i)).toBe(200);
      await sleep(1_000);
      expect(await counts()).toEqual({ events: 10, instances: 0, queued: 0, sent: 0 });

      // An engine enrols them and queues their texts, which nobody sends. It has no API.
      const engine = await start('engine');
      expect(engine.output()).toContain('roles: engine');
      expect((await fetch(`${engine.url}/v1/batch`, { method: 'POST' })).status).toBe(404);
      await until('the engine enrols the stored orders', counts, (c) => c.queued === 10);
      await sleep(1_000);
      expect(await counts()).toEqual({ events: 10, instances: 10, queued: 10, sent: 0 });
      expect(twilio.delivered).toHaveLength(0);

      // A dispatcher sends them.
      await start('dispatcher');
      await until('the dispatcher sends the queued texts', counts, (c) => c.sent === 10);

      // New orders go API → engine → dispatcher on wake-ups alone (every tick is a minute away).
      for (let i = 10; i < 20; i++) expect(await order(api.url, i)).toBe(200);
      await until('new orders are texted', counts, (c) => c.sent === 20);

      // The listeners' connections are cut: they come back, and the next orders are texted too.
      const cut = await store.query<{ pid: number }>(
        `SELECT pg_terminate_backend(pid) AS pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`,
      );
      expect(cut).toHaveLength(2);
      await until(
        'both listeners are back',
        () => store!.query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`),
        (rows) => rows.length === 2,
      );
      for (let i = 20; i < 30; i++) expect(await order(api.url, i)).toBe(200);
      await until('orders after the cut are texted', counts, (c) => c.sent === 30);

      const texted = twilio.delivered.map((d) => d.to);
      expect(texted).toHaveLength(30);
      expect(new Set(texted).size).toBe(30);
    } finally {
      await store?.close();
      for (const s of servers) s.child.kill('SIGKILL');
      await twilio.stop();
      await db.drop();
    }
  }, 120_000);
});
