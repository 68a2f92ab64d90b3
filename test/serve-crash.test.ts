import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/core/clock.ts';
import { openStore, type Store } from '../src/store/index.ts';
import { startServe } from './cli-process.ts';
import { emptyPostgresDatabase, engines } from './engines.ts';
import { freePort } from './pg-server.ts';

/**
 * "Never double-send, never lose an event, even when a process is killed" (BRIEF), end to end: a
 * real `shopflow serve` takes a burst of sign-ups that a journey texts at once (sandbox provider),
 * is killed with SIGKILL in the middle of it, and is started again on the same store while the
 * clients go on (requests that got no answer are sent again, as an SDK retries). In the end every
 * sign-up is stored once, enters once and is sent once.
 */

const PEOPLE = 2_000;
const PER_REQUEST = 50;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe.each(engines)('serve killed during a burst (%s)', (engine) => {
  it('stores, enrols and sends every sign-up exactly once after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shopflow-kill-'));
    dirs.push(dir);
    // PostgreSQL: a new database, migrated by the server.
    const pgStore = engine === 'postgres' ? await emptyPostgresDatabase() : null;
    const where = pgStore ? ['--store', pgStore.url, '--data', dir] : ['--data', dir];
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // The restarted server takes over what the killed one claimed after this lease (PostgreSQL; DuckDB at once).
    const serve = () =>
      startServe([...where, '--port', String(port), '--no-demo', '--log-level', 'warn'], { SHOPFLOW_DISPATCH_LEASE_MS: '1000' });
    let server = await serve();
    let store: Store | null = null;
    try {
      const keys = JSON.parse(readFileSync(join(dir, 'default-workspace.json'), 'utf8'));
      const admin = async (url: string, body?: unknown) => {
        const res = await fetch(`${base}${url}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${keys.adminKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        return { status: res.status, body: await res.json() };
      };
      expect(
        (await admin('/api/templates', { name: 'welcome', channel: 'sms', fields: { text: 'Welcome {{ person.traits.name }}' } })).status,
      ).toBe(201);
      const journey = await admin('/api/journeys', {
        name: 'Welcome text',
        definition: {
          nodes: [
            { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Signed Up' } },
            { id: 'hi', type: 'send', channel: 'sms', template: 'welcome', transactional: true },
          ],
          edges: [{ from: 'in', to: 'hi' }],
        },
      });
      expect((await admin(`/api/journeys/${journey.body.journeyId}/publish`)).status).toBe(200);

      const auth = `Basic ${Buffer.from(`${keys.writeKey}:`).toString('base64')}`;
      const request = (first: number) => ({
        batch: Array.from({ length: PER_REQUEST }, (_, n) => first + n).flatMap((k) => [
          {
            type: 'identify',
            userId: `u${k}`,
            messageId: `id-${k}`,
            traits: { name: `n${k}`, phone: `+1212555${String(k).padStart(4, '0')}` },
          },
          { type: 'track', userId: `u${k}`, messageId: `signup-${k}`, event: 'Signed Up' },
        ]),
      });
      let acked = 0;
      let retried = 0;
      /** Posts until answered 200: while the server is down, the request is sent again (an SDK's retry). */
      const deliver = async (first: number) => {
        for (;;) {
          const status = await fetch(`${base}/v1/batch`, {
            method: 'POST',
            headers: { authorization: auth, 'content-type': 'application/json' },
            body: JSON.stringify(request(first)),
          }).then(
            (r) => r.status,
            () => null,
          );
          if (status === 200) break;
          expect(status).toBeNull();
          retried++;
          await sleep(100);
        }
        acked++;
      };
      const starts = Array.from({ length: PEOPLE / PER_REQUEST }, (_, i) => i * PER_REQUEST);
      const clients = [0, 1, 2, 3].map(async (c) => {
        for (const first of starts.filter((_, i) => i % 4 === c)) await deliver(first);
      });
      // Killed while the burst is going through ingest, the journey and the dispatcher.
      while (acked < starts.length / 3) await sleep(5);
      server.child.kill('SIGKILL');
      await new Promise((r) => server.child.once('exit', r));
      server = await serve();
      await Promise.all(clients);
      expect(retried).toBeGreaterThan(0);

      const sent = async () => {
        const res = await fetch(`${base}/api/outbox?status=sent&limit=10000`, { headers: { authorization: `Bearer ${keys.adminKey}` } });
        return ((await res.json()) as { messages: unknown[] }).messages.length;
      };
      const deadline = Date.now() + 60_000;
      while ((await sent()) < PEOPLE) {
        if (Date.now() > deadline) throw new Error(`not all sent: ${server.output()}`);
        await sleep(250);
      }
      // Stopped as an operator would, so that this process may open the store (DuckDB: one process per file).
      server.child.kill('SIGTERM');
      await new Promise((r) => server.child.once('exit', r));
      store = await openStore({ url: pgStore?.url ?? '', dataDir: dir, dedupeDays: 8 }, systemClock);
      const count = async (sql: string) => Number((await store!.query<{ n: number }>(sql))[0]?.n);
      expect(await count(`SELECT count(*) AS n FROM events WHERE event = 'Signed Up'`)).toBe(PEOPLE);
      expect(await count(`SELECT count(DISTINCT message_id) AS n FROM events WHERE event = 'Signed Up'`)).toBe(PEOPLE);
      expect(await count('SELECT count(*) AS n FROM users')).toBe(PEOPLE);
      expect(await count('SELECT count(*) AS n FROM journey_instances')).toBe(PEOPLE);
      expect(await count('SELECT count(DISTINCT user_key) AS n FROM journey_instances')).toBe(PEOPLE);
      expect(await count('SELECT count(*) AS n FROM outbox')).toBe(PEOPLE);
      expect(await count(`SELECT count(*) AS n FROM events WHERE event = 'Message Sent'`)).toBe(PEOPLE);
    } finally {
      await store?.close();
      server.child.kill('SIGKILL');
      await pgStore?.drop().catch(() => {});
    }
  }, 150_000);
});
