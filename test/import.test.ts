import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Progress, silentProgress } from '../src/cli/progress.ts';
import { getProduct } from '../src/commerce/index.ts';
import { VirtualClock } from '../src/core/clock.ts';
import { type ImportOptions, importFile } from '../src/ingest/bulk/index.ts';
import { normalizeEvent, writeBatch } from '../src/ingest/index.ts';
import { getPerson } from '../src/profiles/index.ts';
import type { SqlExecutor, Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { engines, freshStore } from './engines.ts';

const fixture = (name: string) => join(import.meta.dirname, 'fixtures', 'import', name);

describe.each(engines)('shopflow import on %s', (engine) => {
  const clock = new VirtualClock(Date.UTC(2026, 9, 2));
  let store: Store;
  let dispose: () => Promise<void>;
  let dir: string;
  let wsCount = 0;

  beforeAll(async () => {
    ({ store, dispose } = await freshStore(engine, clock));
    dir = mkdtempSync(join(tmpdir(), 'import-test-'));
  });
  afterAll(async () => {
    await dispose?.();
    rmSync(dir, { recursive: true, force: true });
  });

  const workspace = async () => (await createWorkspace(store, `ws-${++wsCount}`, clock.now())).workspaceId;
  const run = (
    ws: number,
    kind: ImportOptions['kind'],
    file: string,
    extra: Partial<ImportOptions> = {},
    progress: Progress = silentProgress,
  ) =>
    importFile(store, clock, ws, { kind, file, format: file.endsWith('.csv') ? 'csv' : 'ndjson', skipInvalid: false, ...extra }, progress);
  const count = async (table: string, ws: number) =>
    Number((await store.query<{ c: number }>(`SELECT count(*) AS c FROM ${table} WHERE workspace_id = $1`, [ws]))[0]!.c);
  const eventsOf = (ws: number) =>
    store.query<Record<string, unknown>>(
      `SELECT type, event, ts, user_id, anonymous_id, order_id, total, currency, product_id, source, properties FROM events
       WHERE workspace_id = $1 ORDER BY ts, type, event`,
      [ws],
    );

  it('imports NDJSON events with the API rules: people, traits, items, generated ids', async () => {
    const ws = await workspace();
    const summary = await run(ws, 'events', fixture('events.ndjson'));
    expect(summary).toMatchObject({ rows: 8, stored: 8, duplicates: 0, rejected: 0, errors: [] });
    const bob = await getPerson(store, ws, { type: 'email', value: 'bob@example.com' }, 10);
    expect(bob?.identities).toEqual([
      { type: 'anonymous_id', value: 'visitor-7' },
      { type: 'email', value: 'bob@example.com' },
      { type: 'user_id', value: 'bob' },
    ]);
    expect(bob?.traits).toEqual({ email: 'bob@example.com', first_name: 'Bob', country: 'CN' });
    expect(bob?.events.map((e) => e.event)).toEqual(['Order Completed', null, 'Product Added']);
    const ann = await getPerson(store, ws, { type: 'user_id', value: 'ann' }, 10);
    expect(ann?.identities).toContainEqual({ type: 'phone', value: '+8613800138000' });
    expect(ann?.events).toHaveLength(5);
    const [order] = await store.query<Record<string, unknown>>(
      `SELECT order_id, total, currency, source FROM events WHERE message_id = 'f-4'`,
    );
    expect(order).toEqual({ order_id: 'o-1', total: 130, currency: 'CNY', source: 'import' });
    expect(await count('event_items', ws)).toBe(4);
    // Lines without a messageId get one from the file's hash and their line number.
    const ids = await store.query<{ message_id: string }>(
      `SELECT message_id FROM events WHERE workspace_id = $1 AND event = 'Search' ORDER BY message_id`,
      [ws],
    );
    expect(ids.map((r) => r.message_id)).toEqual([
      expect.stringMatching(/^import-[0-9a-f]{24}-8$/),
      expect.stringMatching(/^import-[0-9a-f]{24}-9$/),
    ]);
  });

  it('lets live traffic continue on the people an import created', async () => {
    const ws = await workspace();
    await run(ws, 'events', fixture('events.ndjson'));
    const live = normalizeEvent(
      { type: 'identify', userId: 'bob', anonymousId: 'visitor-7', traits: { email: 'bob@example.com', plan: 'vip' } },
      [],
      { workspaceId: ws, receivedAt: clock.now(), source: 'api' },
    );
    if (!live.ok) throw new Error('invalid');
    expect(await writeBatch(store, ws, [live.event], clock.now())).toMatchObject({ stored: 1, merges: 0 });
    const bob = await getPerson(store, ws, { type: 'user_id', value: 'bob' }, 20);
    expect(bob?.traits).toMatchObject({ first_name: 'Bob', plan: 'vip' });
    expect(await count('identities', ws)).toBe(
      Number(
        (await store.query<{ c: number }>('SELECT count(DISTINCT type || value) AS c FROM identities WHERE workspace_id = $1', [ws]))[0]!.c,
      ),
    );
  });

  it('reads CSV events into the same rows as the NDJSON file', async () => {
    const [a, b] = [await workspace(), await workspace()];
    await run(a, 'events', fixture('events.ndjson'));
    expect(await run(b, 'events', fixture('events.csv'))).toMatchObject({ rows: 8, stored: 8, rejected: 0 });
    expect(await eventsOf(b)).toEqual(await eventsOf(a));
    const bob = await getPerson(store, b, { type: 'user_id', value: 'bob' }, 0);
    expect(bob?.traits).toEqual({ email: 'bob@example.com', first_name: 'Bob', country: 'CN' });
  });

  it('reads CSV events with a column per field (properties.total) into the same rows, typed as JSON would be', async () => {
    const [a, b] = [await workspace(), await workspace()];
    await run(a, 'events', fixture('events.ndjson'));
    expect(await run(b, 'events', fixture('events-columns.csv'))).toMatchObject({ rows: 8, stored: 8, rejected: 0 });
    expect(await eventsOf(b)).toEqual(await eventsOf(a));
    expect((await getPerson(store, b, { type: 'user_id', value: 'ann' }, 0))?.traits).toEqual({ phone: '+8613800138000', plan: 'gold' });

    // Numbers, booleans and JSON as a JSON line would have them; ids, codes and what JSON would
    // not read as a number stay text; a JSON column and columns inside it are merged.
    const typed = join(dir, 'typed.csv');
    writeFileSync(
      typed,
      'type,event,userId,properties,properties.order_id,properties.total,properties.coupon,properties.gift,properties.note,properties.ref,properties.big,properties.shipping.city,context.timezone\n' +
        'track,Order Completed,u-1,"{""channel"":""app"",""total"":5}",000123,99.50,8888,true,007,+1,12345678901234567890,Berlin,Europe/Berlin\n',
    );
    const c = await workspace();
    expect(await run(c, 'events', typed)).toMatchObject({ rows: 1, stored: 1, rejected: 0 });
    const [order] = await store.query<{
      properties: Record<string, unknown>;
      context: Record<string, unknown>;
      order_id: string;
      total: number;
    }>('SELECT properties, context, order_id, total FROM events WHERE workspace_id = $1', [c]);
    expect(order).toMatchObject({ order_id: '000123', total: 5 });
    expect(order?.properties).toEqual({
      channel: 'app',
      order_id: '000123',
      total: 5,
      coupon: '8888',
      gift: true,
      note: '007',
      ref: '+1',
      big: '12345678901234567890',
      shipping: { city: 'Berlin' },
    });
    expect(order?.context).toMatchObject({ timezone: 'Europe/Berlin' });
  });

  it('refuses CSV headers whose columns cannot be read as fields', async () => {
    const bad = join(dir, 'bad-header.csv');
    writeFileSync(bad, 'type,userId,props.total,properties.shipping,properties.shipping.city,properties.__proto__.x\ntrack,u-1,1,2,3,4\n');
    const refused = await run(await workspace(), 'events', bad);
    expect(refused).toMatchObject({ stored: 0 });
    expect(refused.errors).toEqual([
      { code: 'invalid_request', message: expect.stringMatching(/^unknown column "props.total"/), path: 'line 1: column 3' },
      { code: 'invalid_request', message: 'column "properties.__proto__.x" names a reserved key', path: 'line 1: column 6' },
      {
        code: 'invalid_request',
        message: 'column "properties.shipping.city" is inside column "properties.shipping"',
        path: 'line 1: column 5',
      },
    ]);
  });

  it('stores nothing new when the same file is imported again', async () => {
    const ws = await workspace();
    await run(ws, 'events', fixture('events.ndjson'));
    const before = await Promise.all(['events', 'event_items', 'users', 'identities'].map((t) => count(t, ws)));
    expect(await run(ws, 'events', fixture('events.ndjson'))).toMatchObject({ rows: 8, stored: 0, duplicates: 8 });
    expect(await Promise.all(['events', 'event_items', 'users', 'identities'].map((t) => count(t, ws)))).toEqual(before);
  });

  it('refuses a file with an invalid line, naming the line and field; --skip-invalid stores the rest', async () => {
    const ws = await workspace();
    const refused = await run(ws, 'events', fixture('invalid.ndjson'));
    expect(refused).toMatchObject({ rows: 5, stored: 0, rejected: 3 });
    expect(refused.errors).toEqual([
      { code: 'invalid_request', message: expect.any(String), path: 'line 2: properties.total' },
      { code: 'invalid_request', message: 'either userId or anonymousId is required', path: 'line 4: userId' },
      { code: 'invalid_json', message: expect.stringMatching(/^not valid JSON/), path: 'line 5' },
    ]);
    expect(await count('events', ws)).toBe(0);
    const skipped = await run(ws, 'events', fixture('invalid.ndjson'), { skipInvalid: true });
    expect(skipped).toMatchObject({ rows: 5, stored: 2, rejected: 3 });
    const ids = await store.query<{ message_id: string }>('SELECT message_id FROM events WHERE workspace_id = $1 ORDER BY message_id', [
      ws,
    ]);
    expect(ids.map((r) => r.message_id)).toEqual(['bad-1', 'bad-3']);
  });

  it('imports profiles as identify calls, from NDJSON and CSV', async () => {
    const ws = await workspace();
    expect(await run(ws, 'profiles', fixture('profiles.ndjson'))).toMatchObject({ rows: 3, stored: 3, rejected: 0 });
    const m1 = await getPerson(store, ws, { type: 'email', value: 'm1@shop.cn' }, 5);
    expect(m1?.traits).toEqual({ email: 'm1@shop.cn', first_name: 'Mei', tier: 'gold', visits: 12 });
    expect(m1?.events).toEqual([expect.objectContaining({ type: 'identify' })]);
    expect((await getPerson(store, ws, { type: 'phone', value: '+8613800138002' }, 0))?.traits).toMatchObject({ first_name: 'Li' });
    expect((await getPerson(store, ws, { type: 'anonymous_id', value: 'guest-3' }, 0))?.traits).toEqual({ city: 'Hangzhou' });
    expect(await run(ws, 'profiles', fixture('profiles.csv'))).toMatchObject({ rows: 3, stored: 3, rejected: 0 });
    const m4 = await getPerson(store, ws, { type: 'user_id', value: 'm-4' }, 0);
    // Cells are typed as a JSON line would have them (visits: 3), except fields that are text by
    // meaning (member_no: '42'); empty cells are absent, so m-2 keeps what it had.
    expect(m4?.traits).toEqual({ email: 'four@shop.cn', first_name: 'Zhang, San', tier: 'silver', visits: 3, member_no: '42' });
    expect((await getPerson(store, ws, { type: 'user_id', value: 'm-1' }, 0))?.traits).toMatchObject({ visits: 12 });
    // A column inside `traits` sets a field at any depth, as in event files.
    const nested = join(dir, 'nested-profiles.csv');
    writeFileSync(nested, 'userId,traits.address.city,traits.address.zip,vip\nm-5,Berlin,10115,true\n');
    expect(await run(ws, 'profiles', nested)).toMatchObject({ rows: 1, stored: 1, rejected: 0 });
    expect((await getPerson(store, ws, { type: 'user_id', value: 'm-5' }, 0))?.traits).toEqual({
      address: { city: 'Berlin', zip: '10115' },
      vip: true,
    });
    expect((await getPerson(store, ws, { type: 'user_id', value: 'm-2' }, 0))?.traits).toMatchObject({
      first_name: 'Li',
      phone: '+8613800138002',
    });
  });

  it('imports products from NDJSON and CSV, and a second import changes nothing', async () => {
    const [a, b] = [await workspace(), await workspace()];
    expect(await run(a, 'products', fixture('products.ndjson'))).toMatchObject({ rows: 3, stored: 3, duplicates: 0, rejected: 0 });
    expect(await run(b, 'products', fixture('products.csv'))).toMatchObject({ rows: 3, stored: 3, rejected: 0 });
    for (const ws of [a, b]) {
      const phone = await getProduct(store, ws, 'sku-1');
      expect(phone).toMatchObject({
        name: 'Phone X',
        price: 99.5,
        stock: 10,
        categoryLevels: { top: 'Electronics', mid: 'Phones', leaf: 'Smartphones' },
      });
      expect(phone?.properties).toEqual({ brand: 'Acme' });
      expect(await getProduct(store, ws, '3')).toMatchObject({ name: 'Cable', category: 'Accessories' });
    }
    expect(await run(a, 'products', fixture('products.ndjson'))).toMatchObject({ rows: 3, stored: 0, duplicates: 3 });
    const bad = join(dir, 'bad-products.ndjson');
    writeFileSync(bad, '{"product_id":"x","name":"X","category":"A","price":-1}\n{"product_id":"y","name":"Y","category":"A"}\n');
    expect(await run(a, 'products', bad)).toMatchObject({
      stored: 0,
      rejected: 1,
      errors: [{ code: 'invalid_request', path: 'line 1: price' }],
    });
    expect(await run(a, 'products', bad, { skipInvalid: true })).toMatchObject({ stored: 1, rejected: 1 });
  });

  it('reads files DuckDB cannot take natively (CRLF, invalid UTF-8) line by line, with the same result', async () => {
    const [a, b] = [await workspace(), await workspace()];
    const lf = readFileSync(fixture('events.ndjson'), 'utf8');
    const crlf = join(dir, 'crlf.ndjson');
    writeFileSync(crlf, Buffer.concat([Buffer.from(lf.replace(/\n/g, '\r\n')), Buffer.from([0xff, 0xfe, 0x0a])]));
    await run(a, 'events', fixture('events.ndjson'));
    const summary = await run(b, 'events', crlf, { skipInvalid: true });
    expect(summary).toMatchObject({
      rows: 9,
      stored: 8,
      rejected: 1,
      errors: [{ code: 'invalid_json', message: 'not UTF-8 text', path: 'line 10' }],
    });
    expect(await eventsOf(b)).toEqual(await eventsOf(a));
  });

  it('reports progress by stage', async () => {
    const ws = await workspace();
    const stages: string[] = [];
    const progress: Progress = { start: (label) => stages.push(label), update() {}, stop() {} };
    await run(ws, 'events', fixture('events.ndjson'), {}, progress);
    expect(stages[0]).toBe('import: scan file');
    expect(stages.at(-1)).toBe('import: write');
  });

  it('leaves nothing behind when the import fails half-way, and a re-run completes it', async () => {
    const ws = await workspace();
    // A store whose event_items insert fails: everything before it must roll back.
    const failOnItems = (tx: SqlExecutor): SqlExecutor => ({
      query: (sql, params) => (sql.startsWith('INSERT INTO event_items') ? Promise.reject(new Error('disk full')) : tx.query(sql, params)),
      append: (t, c, r) => tx.append(t, c, r),
      execute: (sql, params) =>
        sql.startsWith('INSERT INTO event_items') ? Promise.reject(new Error('disk full')) : tx.execute(sql, params),
    });
    const failing: Store = {
      ...store,
      session: (fn) => store.session((s) => fn({ ...s, transaction: (inner) => s.transaction((tx) => inner(failOnItems(tx))) })),
    };
    await expect(
      importFile(
        failing,
        clock,
        ws,
        { kind: 'events', file: fixture('events.ndjson'), format: 'ndjson', skipInvalid: false },
        silentProgress,
      ),
    ).rejects.toThrow('disk full');
    expect(await Promise.all(['events', 'users', 'identities'].map((t) => count(t, ws)))).toEqual([0, 0, 0]);
    expect(await run(ws, 'events', fixture('events.ndjson'))).toMatchObject({ stored: 8, duplicates: 0 });
    expect(await count('event_items', ws)).toBe(4);
  });
});
