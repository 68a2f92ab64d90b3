import { describe, expect, it } from 'vitest';
import { systemClock } from '../src/core/clock.ts';
import { openStore } from '../src/store/index.ts';
import { startServeOn } from './cli-process.ts';
import { emptyPostgresDatabase } from './engines.ts';
import { TwilioMock } from './mock-providers/twilio.ts';
import { postOrder, setUpShop } from './order-texts-shop.ts';

/**
 * "On PostgreSQL many processes may share one database" (README, DESIGN.md), end to end: two real
 * `shopflow serve` processes start at once on a new database (one loads the demo shop), both take orders, and one is killed
 * (SIGKILL) while it works. A client whose request to the dead server got no answer sends it again
 * to the other, as a load balancer would. Every acknowledged order must be stored once, enter the
 * order journey once and have its SMS sent at most once — by whichever process gets to it.
 * (DuckDB allows one process per file; that a second one is refused is tested in durability.test.ts.)
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ORDERS = 60;
/** The dead server's claimed messages go to the live one after this long (SHOPFLOW_DISPATCH_LEASE_MS). */
const LEASE_MS = 2_000;

describe('two servers on one PostgreSQL database', () => {
  it('start together, share the orders, and when one is killed every acknowledged order is texted once at most', async () => {
    const db = await emptyPostgresDatabase();
    const twilio = new TwilioMock('AC0123456789abcdef0123456789abcdef', 'token');
    await twilio.start();
    const servers: Awaited<ReturnType<typeof startServeOn>>[] = [];
    try {
      const env = {
        SHOPFLOW_ALLOW_PRIVATE_NETWORKS: 'true',
        SHOPFLOW_DISPATCH_LEASE_MS: String(LEASE_MS),
        SHOPFLOW_JOURNEY_TICK_MS: '200',
        SHOPFLOW_DISPATCH_TICK_MS: '100',
      };
      const start = () => startServeOn(db.url, ['--log-level', 'warn'], env);
      // Both at once on an empty database: one migrates, creates the default workspace and loads the
      // demo shop; the other waits for each and finds it done.
      const [a, b] = await Promise.all([start(), start()]);
      servers.push(a, b);
      const loaded = [a, b].map((s) => /Demo data: .*?, ([\d,]+) events/.exec(s.output())?.[1]).filter((n) => n !== undefined);
      expect(loaded).toHaveLength(1);

      const store = await openStore({ url: db.url, dataDir: '.', dedupeDays: 8 }, systemClock);
      try {
        const [demo] = await store.query<{ n: number }>(
          `SELECT count(*) AS n FROM events e JOIN workspaces w ON w.workspace_id = e.workspace_id AND w.name = 'default'`,
        );
        expect(Number(demo?.n)).toBe(Number(loaded[0]!.replaceAll(',', '')));
        const { writeKey, workspaceId } = await setUpShop(store, twilio);
        const post = (url: string, i: number) => postOrder(url, writeKey, i);

        // Two clients, one per server; server b dies a third of the way through its orders.
        const acknowledged = new Set<number>();
        const resent: number[] = [];
        const client = async (server: typeof a, orders: number[], killAfter?: number) => {
          for (const [n, i] of orders.entries()) {
            // Killed a moment after this request left: it may be stored and unanswered, stored and enrolled, or lost.
            if (n === killAfter) setTimeout(() => server.child.kill('SIGKILL'), 3);
            const status = await post(server.url, i).catch(() => null);
            if (status === 200) acknowledged.add(i);
            else {
              expect(server).toBe(b);
              resent.push(i);
              expect(await post(a.url, i)).toBe(200);
              acknowledged.add(i);
            }
          }
        };
        const all = Array.from({ length: ORDERS }, (_, i) => i);
        await Promise.all([
          client(
            a,
            all.filter((i) => i % 2 === 0),
          ),
          client(
            b,
            all.filter((i) => i % 2 === 1),
            ORDERS / 6,
          ),
        ]);
        expect(acknowledged.size).toBe(ORDERS);
        expect(resent.length).toBeGreaterThan(0);

        // Settled: every order's message is sent, or (taken by b as it died) known to be in doubt.
        const deadline = Date.now() + 45_000;
        let rows: { instance_key: string; status: string; n: number }[] = [];
        for (;;) {
          rows = await store.query(
            `SELECT i.instance_key, o.status, count(*) OVER (PARTITION BY i.instance_key) AS n
             FROM journey_instances i LEFT JOIN outbox o ON o.workspace_id = i.workspace_id AND o.instance_id = i.instance_id
             WHERE i.workspace_id = $1`,
            [workspaceId],
          );
          const settled = rows.filter((r) => r.status === 'sent' || r.status === 'unknown');
          if (settled.length === ORDERS) break;
          if (Date.now() > deadline) {
            throw new Error(`not settled: ${JSON.stringify(rows.filter((r) => r.status !== 'sent'))}; server a said: ${a.output()}`);
          }
          await sleep(200);
        }

        // Every order stored once, entered once, one outbox row each.
        const stored = await store.query<{ message_id: string }>(
          `SELECT message_id FROM events WHERE workspace_id = $1 AND event = 'Order Placed'`,
          [workspaceId],
        );
        expect(stored.map((r) => r.message_id).sort()).toEqual(all.map((i) => `order-${i}`).sort());
        expect(rows.map((r) => r.instance_key).sort()).toEqual(all.map((i) => `o-${i}`).sort());
        expect(rows.every((r) => Number(r.n) === 1)).toBe(true);
        // Nobody texted twice; every message marked sent reached the provider.
        const texted = twilio.delivered.map((d) => d.to);
        expect(new Set(texted).size).toBe(texted.length);
        const sent = rows.filter((r) => r.status === 'sent').length;
        expect(texted.length).toBeGreaterThanOrEqual(sent);
        expect(texted.length).toBeLessThanOrEqual(ORDERS);
      } finally {
        await store.close();
      }
    } finally {
      for (const s of servers) s.child.kill('SIGKILL');
      await twilio.stop();
      await db.drop();
    }
  }, 120_000);
});
