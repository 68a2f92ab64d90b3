import { expect } from 'vitest';
import { buildServer, type Server } from '../src/api/server.ts';
import type { Clock } from '../src/core/clock.ts';
import { systemClock } from '../src/core/clock.ts';
import type { Store } from '../src/store/index.ts';
import { type CreatedWorkspace, createWorkspace } from '../src/workspaces/index.ts';
import { type Engine, freshStore } from './engines.ts';

export interface Harness {
  server: Server;
  store: Store;
  /** Where the store is (a PostgreSQL URL, or `duckdb:` and the file), to open it again as another process would. */
  url: string;
  keys: CreatedWorkspace;
  /** Basic auth header for the write key. */
  writeAuth: string;
  adminAuth: string;
  /** An admin API call (in-process), with the status and the parsed JSON body. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever shape each route answers
  admin(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Posts events to `/v1/batch` with the write key; fails the test unless they are accepted. */
  batch(events: object[]): Promise<void>;
  /** Starts real HTTP on a loopback port and returns its base URL. */
  listen(): Promise<string>;
  dispose(): Promise<void>;
}

export async function startHarness(engine: Engine, clock: Clock = systemClock): Promise<Harness> {
  const fresh = await freshStore(engine, clock);
  const keys = await createWorkspace(fresh.store, 'test', clock.now());
  const server = await buildServer({ store: fresh.store, clock, ingest: { maxEvents: 5000, maxDelayMs: 2 }, logLevel: 'silent' });
  const writeAuth = `Basic ${Buffer.from(`${keys.writeKey}:`).toString('base64')}`;
  return {
    server,
    store: fresh.store,
    url: fresh.url,
    keys,
    writeAuth,
    adminAuth: `Bearer ${keys.adminKey}`,
    async batch(events) {
      const res = await server.app.inject({
        method: 'POST',
        url: '/v1/batch',
        headers: { authorization: writeAuth },
        payload: { batch: events },
      });
      expect(res.statusCode, res.body).toBe(200);
    },
    async admin(method, url, body) {
      const res = await server.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${keys.adminKey}` },
        ...(body === undefined ? {} : { payload: body as object }),
      });
      return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null };
    },
    async listen() {
      return server.app.listen({ port: 0, host: '127.0.0.1' });
    },
    async dispose() {
      await server.close();
      await fresh.dispose();
    },
  };
}
