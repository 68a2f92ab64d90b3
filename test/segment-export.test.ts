import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../src/core/clock.ts';
import { normalizeEvent, writeBatch } from '../src/ingest/index.ts';
import { csvField, exportDmpAudience, exportSegmentCsv } from '../src/segments/export.ts';
import { createStaticSegment } from '../src/segments/index.ts';
import type { Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { engines, freshStore } from './engines.ts';

/** Collects what is written, as a file or an HTTP response would receive it. */
class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void) {
    this.text += chunk.toString('utf8');
    done();
  }
}

/** An independent RFC 4180 reader (quoted fields may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += ch;
  }
  if (field !== '' || row.length > 0) throw new Error('last record not terminated by CRLF');
  return rows;
}

// Known vectors, computed outside Node (coreutils sha256sum / md5sum on the exact bytes).
const vectors = {
  'sha256(test@example.com)': '973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b',
  'sha256(+8613800138000)': 'ec61f3c620a98bdead8c1f1f0ae747abd1b62a0c2dba4fd4bc22cf0d1d8653e5',
  'sha256(8613800138000)': 'bf08aacce7f9b2452863cf99373043c3333f0e3127f1f787c4abb46ab6cf2b83',
  'md5(13800138000)': '7945bd83237335e5376ff44d62e4f0ae',
  'sha256(+442079460000)': '543f9cda443b9c55ebcf8ab34b586f9dc34948776b73de02393c41d5f8edc356',
  'sha256(442079460000)': '38e62b3e091778f9214de3aa00ae498aa4b78433d73dec5977eb2ec1c8be4a69',
  'md5(4155552671)': '12e6769a653d2063d7bedf3de23c44b7',
};

describe('CSV fields', () => {
  it('quotes per RFC 4180 and neutralises formulas, leaving plain numbers alone', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('=HYPERLINK("http://evil.example","x")')).toBe(`"'=HYPERLINK(""http://evil.example"",""x"")"`);
    expect(csvField('+1+cmd')).toBe(`'+1+cmd`);
    expect(csvField("-2+3+cmd|' /C calc'!A0")).toBe(`'-2+3+cmd|' /C calc'!A0`);
    expect(csvField('@SUM(A1:A9)')).toBe(`'@SUM(A1:A9)`);
    expect(csvField('\t=1')).toBe(`'\t=1`);
    expect(csvField('+8613800138000')).toBe('+8613800138000');
    expect(csvField('-12.5')).toBe('-12.5');
  });
});

describe.each(engines)('segment export on %s', (engine) => {
  let store: Store;
  let dispose: () => Promise<void>;
  let ws: number;
  let segmentId: number;
  const clock = new VirtualClock(Date.UTC(2026, 2, 1));
  const people = [
    {
      userId: 'u-a',
      traits: { email: 'Test@Example.com ', phone: '+86 138 0013 8000', name: '=HYPERLINK("http://evil.example","x")', tier: 'gold' },
    },
    { userId: 'u-b', traits: { email: 'b@example.com', name: 'Doe, "Jo"\nSecond line', tier: { level: 2 } } },
    { userId: 'u-c', traits: { phone: '+44 20 7946 0000', name: '@SUM(A1)' } },
    { userId: 'u-d', traits: { phone: '+1 415 555 2671', name: '张伟' } },
    { userId: 'u-e', traits: { name: 'no contact' } },
  ];
  const keys = new Map<string, number>();

  beforeAll(async () => {
    ({ store, dispose } = await freshStore(engine, clock));
    ws = (await createWorkspace(store, 'exp', clock.now())).workspaceId;
    const ctx = { workspaceId: ws, receivedAt: clock.now(), source: 'api' as const };
    const events = people.map((p, i) => {
      const r = normalizeEvent({ type: 'identify', userId: p.userId, traits: p.traits, messageId: `id-${i}` }, [], ctx);
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      return r.event;
    });
    await writeBatch(store, ws, events, clock.now());
    const rows = await store.query<{ value: string; user_key: number }>(
      `SELECT value, user_key FROM identities WHERE workspace_id = $1 AND type = 'user_id'`,
      [ws],
    );
    for (const r of rows) keys.set(r.value, Number(r.user_key));
    const segment = await createStaticSegment(store, ws, { name: 'export me', userKeys: [...keys.values()] }, clock.now());
    segmentId = segment.segmentId;
  });
  afterAll(async () => dispose?.());

  it('writes every member as CSV over several pages, quoting and neutralising cells', async () => {
    const out = new Sink();
    const counts = await exportSegmentCsv(store, ws, segmentId, out, { traits: ['name', 'tier'], pageSize: 2 });
    expect(counts).toEqual({ rows: 5, skipped: 0 });
    expect(out.writableFinished).toBe(true);
    const rows = parseCsv(out.text);
    expect(rows[0]).toEqual(['user_key', 'user_id', 'email', 'phone', 'entered_at', 'name', 'tier']);
    const body = rows.slice(1);
    expect(body.map((r) => Number(r[0]))).toEqual([...keys.values()].sort((a, b) => a - b));
    const byId = new Map(body.map((r) => [r[1], r]));
    expect(byId.get('u-a')).toEqual([
      String(keys.get('u-a')),
      'u-a',
      'test@example.com',
      '+8613800138000',
      '2026-03-01T00:00:00.000Z',
      `'=HYPERLINK("http://evil.example","x")`,
      'gold',
    ]);
    expect(byId.get('u-b')!.slice(5)).toEqual(['Doe, "Jo"\nSecond line', '{"level":2}']);
    expect(byId.get('u-c')!.slice(3, 6)).toEqual(['+442079460000', '2026-03-01T00:00:00.000Z', `'@SUM(A1)`]);
    expect(byId.get('u-d')![5]).toBe('张伟');
    expect(byId.get('u-e')!.slice(2, 4)).toEqual(['', '']);
  });

  it('writes only hashes for ad platforms and skips people without email or phone', async () => {
    const out = new Sink();
    const counts = await exportDmpAudience(store, ws, segmentId, out, { pageSize: 2, userIdHmacKey: 'a-secret-of-16-chars' });
    expect(counts).toEqual({ rows: 4, skipped: 1 });
    const rows = parseCsv(out.text);
    expect(rows[0]).toEqual(['email_sha256', 'phone_sha256', 'phone_digits_sha256', 'phone_md5', 'user_id_hmac']);
    const body = rows.slice(1);
    expect(body).toHaveLength(4);
    // Members come in person-key order, which is the order they were identified in.
    expect(body[0]!.slice(0, 4)).toEqual([
      vectors['sha256(test@example.com)'],
      vectors['sha256(+8613800138000)'],
      vectors['sha256(8613800138000)'],
      vectors['md5(13800138000)'],
    ]);
    expect(body[1]!.slice(1)).toEqual(['', '', '', expect.stringMatching(/^[0-9a-f]{64}$/)]);
    // A London fixed line: SHA-256 for Meta/Google, but no mobile MD5 for Chinese DMPs.
    expect(body[2]!.slice(0, 4)).toEqual(['', vectors['sha256(+442079460000)'], vectors['sha256(442079460000)'], '']);
    // A US number may be mobile (FIXED_LINE_OR_MOBILE): it gets the national-number MD5.
    expect(body[3]![3]).toBe(vectors['md5(4155552671)']);
    for (const cell of body.flat()) expect(cell).toMatch(/^([0-9a-f]{32}|[0-9a-f]{64})?$/);
    const raw = [
      'test@example.com',
      'b@example.com',
      '13800138000',
      '2079460000',
      '4155552671',
      'u-a',
      'u-b',
      'u-c',
      'u-d',
      'example',
      '@',
    ];
    for (const pii of raw) expect(out.text).not.toContain(pii);
  });

  it('refuses unknown segments and bad options', async () => {
    await expect(exportSegmentCsv(store, ws, 9999, new Sink())).rejects.toMatchObject({ code: 'not_found' });
    await expect(exportSegmentCsv(store, ws, segmentId, new Sink(), { traits: ['email'] })).rejects.toMatchObject({
      code: 'invalid_request',
      path: 'traits[0]',
    });
    await expect(exportDmpAudience(store, ws, segmentId, new Sink(), { userIdHmacKey: 'short' })).rejects.toMatchObject({
      path: 'userIdHmacKey',
    });
  });
});
