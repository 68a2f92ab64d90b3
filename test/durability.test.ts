import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentProgress } from '../src/cli/progress.ts';
import { DAY, HOUR, systemClock, VirtualClock } from '../src/core/clock.ts';
import { importFile } from '../src/ingest/bulk/index.ts';
import { normalizeEvent, writeBatch } from '../src/ingest/index.ts';
import type { MessageIdWindow } from '../src/store/duckdb/message-window.ts';
import { openStore, type Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { shopflow, startServe } from './cli-process.ts';
import { engines, freshStore } from './engines.ts';
import { freePort } from './pg-server.ts';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'shopflow-dur-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const viewed = { type: 'track', userId: 'u', event: 'Product Viewed', properties: { product_id: 'p' } };

/** A `Product Viewed` with this messageId, normalised as the API does now. */
function viewedEvent(workspaceId: number, messageId: string) {
  const r = normalizeEvent({ ...viewed, messageId }, [], { workspaceId, receivedAt: systemClock.now(), source: 'api' });
  if (!r.ok) throw new Error('invalid');
  return r.event;
}

/** Imports a file of `Product Viewed` lines with these message ids. */
function importViewed(store: Store, workspaceId: number, messageIds: string[]) {
  const file = join(tempDir(), 'events.ndjson');
  writeFileSync(file, messageIds.map((messageId) => JSON.stringify({ ...viewed, messageId })).join('\n'));
  return importFile(store, systemClock, workspaceId, { kind: 'events', file, format: 'ndjson', skipInvalid: false }, silentProgress);
}

describe.each(engines)('dedupe window on %s', (engine) => {
  it('still recognises a retry 7 days and 23 hours later', async () => {
    const clock = new VirtualClock(Date.UTC(2026, 10, 1));
    const fresh = await freshStore(engine, clock);
    try {
      const ws = await createWorkspace(fresh.store, 'w', clock.now());
      const send = async () => {
        const ctx = { workspaceId: ws.workspaceId, receivedAt: clock.now(), source: 'api' as const };
        const r = normalizeEvent({ type: 'track', userId: 'u', event: 'X', messageId: 'm-7d' }, [], ctx);
        if (!r.ok) throw new Error('invalid');
        return writeBatch(fresh.store, ws.workspaceId, [r.event], clock.now());
      };
      expect((await send()).stored).toBe(1);
      for (let day = 1; day <= 8; day++) {
        clock.advance(day === 8 ? 23 * HOUR : DAY);
        expect((await send()).duplicates).toBe(1);
      }
    } finally {
      await fresh.dispose();
    }
  });
  it('treats an imported messageId sent again through the API as a duplicate', async () => {
    const clock = new VirtualClock(Date.UTC(2026, 10, 1));
    const fresh = await freshStore(engine, clock);
    try {
      const ws = (await createWorkspace(fresh.store, 'w', clock.now())).workspaceId;
      const file = join(tempDir(), 'history.ndjson');
      const shipped = { type: 'track', userId: 'u', event: 'Order Shipped', messageId: 'm-imported', properties: { order_id: 'o-1' } };
      writeFileSync(file, `${JSON.stringify(shipped)}\n`);
      const summary = await importFile(
        fresh.store,
        clock,
        ws,
        { kind: 'events', file, format: 'ndjson', skipInvalid: false },
        silentProgress,
      );
      expect(summary.stored).toBe(1);
      clock.advance(DAY);
      const r = normalizeEvent(shipped, [], {
        workspaceId: ws,
        receivedAt: clock.now(),
        source: 'api',
      });
      if (!r.ok) throw new Error('invalid');
      expect(await writeBatch(fresh.store, ws, [r.event], clock.now())).toMatchObject({ stored: 0, duplicates: 1 });
    } finally {
      await fresh.dispose();
    }
  });
});

describe('PostgreSQL store opened as `shopflow import` opens it', () => {
  it('imports with dedupe against stored events, and still ingests (its dedupe is the unique index)', async () => {
    const fresh = await freshStore('postgres');
    const store = await openStore({ url: fresh.url, dataDir: '.', dedupeDays: 8, warmCaches: false }, systemClock);
    try {
      const ws = (await createWorkspace(fresh.store, 'w', systemClock.now())).workspaceId;
      expect((await writeBatch(fresh.store, ws, [viewedEvent(ws, 'm-sent')], systemClock.now())).stored).toBe(1);
      expect(await importViewed(store, ws, ['m-sent', 'm-imported'])).toMatchObject({ stored: 1, duplicates: 1 });
      const again = [viewedEvent(ws, 'm-imported'), viewedEvent(ws, 'm-new')];
      expect(await writeBatch(store, ws, again, systemClock.now())).toMatchObject({ stored: 1, duplicates: 1 });
    } finally {
      await store.close();
      await fresh.dispose();
    }
  });
});

describe('DuckDB durability and single-writer lock', () => {
  it('remembers message ids, sent or imported, across a restart (dedupe window is rebuilt)', async () => {
    const dir = tempDir();
    const config = { dataDir: dir, dedupeDays: 8 };
    let store = await openStore(config, systemClock);
    const ws = await createWorkspace(store, 'w', systemClock.now());
    const raw = { type: 'track', userId: 'u', event: 'Product Viewed', messageId: 'm-restart', properties: { product_id: 'p' } };
    const ctx = { workspaceId: ws.workspaceId, receivedAt: systemClock.now(), source: 'api' as const };
    const ev = () => {
      const r = normalizeEvent(raw, [], ctx);
      if (!r.ok) throw new Error('invalid');
      return r.event;
    };
    expect((await writeBatch(store, ws.workspaceId, [ev()], systemClock.now())).stored).toBe(1);
    // An imported event's id is remembered too.
    const file = join(dir, 'history.ndjson');
    // …unless the event happened before the window: a history import does not fill memory.
    const old = { ...raw, messageId: 'm-history', timestamp: '2024-01-01T00:00:00Z' };
    writeFileSync(file, `${JSON.stringify({ ...raw, messageId: 'm-imported' })}\n${JSON.stringify(old)}\n`);
    await importFile(store, systemClock, ws.workspaceId, { kind: 'events', file, format: 'ndjson', skipInvalid: false }, silentProgress);
    await store.close();
    store = await openStore(config, systemClock);
    expect((await writeBatch(store, ws.workspaceId, [ev()], systemClock.now())).duplicates).toBe(1);
    const again = normalizeEvent({ ...raw, messageId: 'm-imported' }, [], ctx);
    if (!again.ok) throw new Error('invalid');
    expect((await writeBatch(store, ws.workspaceId, [again.event], systemClock.now())).duplicates).toBe(1);
    expect((store.messageIds as MessageIdWindow).size()).toBe(2);
    await store.close();
  });

  it('imports without loading the caches of the ingestion path, as `shopflow import` opens the store', async () => {
    const config = { dataDir: tempDir(), dedupeDays: 8 };
    let store = await openStore(config, systemClock);
    const ws = (await createWorkspace(store, 'w', systemClock.now())).workspaceId;
    expect((await writeBatch(store, ws, [viewedEvent(ws, 'm-sent')], systemClock.now())).stored).toBe(1);
    await store.close();

    store = await openStore({ ...config, warmCaches: false }, systemClock);
    try {
      // The import dedupes against the stored events, not the window.
      expect(await importViewed(store, ws, ['m-sent', 'm-imported'])).toMatchObject({ stored: 1, duplicates: 1 });
      expect((store.messageIds as MessageIdWindow).size()).toBe(0);
      expect(store.identityCache?.complete).toBe(false);
      // Without its window the ingestion path would store a retry twice: it refuses instead.
      await expect(writeBatch(store, ws, [viewedEvent(ws, 'm-other')], systemClock.now())).rejects.toThrow(/dedupe window was not loaded/);
    } finally {
      await store.close();
    }

    store = await openStore(config, systemClock);
    try {
      expect((await writeBatch(store, ws, [viewedEvent(ws, 'm-imported')], systemClock.now())).duplicates).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('keeps every acknowledged event when the server is killed, and a second process refuses the file', async () => {
    const dir = tempDir();
    const port = await freePort();
    const server = await startServe(['--data', dir, '--port', String(port), '--no-demo', '--log-level', 'warn']);
    const keys = JSON.parse(readFileSync(join(dir, 'default-workspace.json'), 'utf8'));
    const auth = `Basic ${Buffer.from(`${keys.writeKey}:`).toString('base64')}`;

    const second = shopflow(['keys', 'create', '--data', dir, '--workspace', 'other']);
    expect(second.status).toBe(2);
    expect(second.stderr).toMatch(/already open in another process \(PID \d+\)/);

    // Through the running server instead:
    const viaServer = shopflow([
      'keys',
      'create',
      '--server',
      `http://127.0.0.1:${port}`,
      '--admin-key',
      keys.adminKey,
      '--workspace',
      'other',
      '--json',
    ]);
    expect(viaServer.status, viaServer.stderr).toBe(0);
    expect(Object.keys(JSON.parse(viaServer.stdout))).toEqual(['workspace', 'writeKey', 'adminKey']);

    const acked: string[] = [];
    for (let i = 0; i < 20; i++) {
      const batch = Array.from({ length: 50 }, () => ({
        type: 'track',
        userId: `u${i}`,
        event: 'Product Viewed',
        messageId: randomUUID(),
        properties: { product_id: 'p' },
      }));
      const r = await fetch(`http://127.0.0.1:${port}/v1/batch`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify({ batch }),
      });
      expect(r.status).toBe(200);
      acked.push(...batch.map((b) => b.messageId));
    }
    server.child.kill('SIGKILL');
    await new Promise((r) => server.child.once('exit', r));

    const store = await openStore({ dataDir: dir, dedupeDays: 8 }, systemClock);
    const rows = await store.query<{ message_id: string }>('SELECT message_id FROM events');
    await store.close();
    expect(new Set(rows.map((r) => r.message_id))).toEqual(new Set(acked));
  });
});

describe('CLI keys', () => {
  it('prints {"workspace","writeKey","adminKey"} with --json', () => {
    const dir = tempDir();
    const r = shopflow(['keys', 'create', '--data', dir, '--workspace', 'shop-a', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const keys = JSON.parse(r.stdout);
    expect(keys).toEqual({ workspace: 'shop-a', writeKey: expect.stringMatching(/^wk_/), adminKey: expect.stringMatching(/^ak_/) });
    const again = shopflow(['keys', 'create', '--data', dir, '--workspace', 'shop-a', '--json']);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain('already exists');
  });
});
