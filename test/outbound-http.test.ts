import type { LookupAddress } from 'node:dns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLiteralHost, guardedLookup, isPublicAddress, OutboundClient, type OutboundResult } from '../src/core/outbound-http.ts';
import type { SendOutcome } from '../src/messaging/channels/channel.ts';
import { httpOutcome, isRetryableStatus, retryAfterMs } from '../src/messaging/channels/http-outcome.ts';
import { json, MockServer } from './mock-providers/mock-server.ts';

/** Runs a guarded lookup the way net.connect does (with `all`, as autoSelectFamily asks). */
function lookup(allow: boolean, host: string): Promise<{ err: NodeJS.ErrnoException | null; addresses: string[] }> {
  return new Promise((resolve) => {
    guardedLookup(allow)(host, { all: true }, (err, address) => {
      const list = Array.isArray(address) ? (address as LookupAddress[]).map((a) => a.address) : address ? [address] : [];
      resolve({ err, addresses: list });
    });
  });
}

const failureOf = (r: OutboundResult) => (r.ok ? null : { error: r.error, mayHaveArrived: r.mayHaveArrived });

describe('isPublicAddress', () => {
  it.each([
    ['8.8.8.8', true],
    ['1.1.1.1', true],
    ['93.184.216.34', true],
    ['2606:4700:4700::1111', true],
    ['::ffff:8.8.8.8', true],
    ['127.0.0.1', false],
    ['127.255.255.254', false],
    ['0.0.0.0', false],
    ['10.0.0.1', false],
    ['10.255.255.255', false],
    ['172.16.0.1', false],
    ['172.31.255.255', false],
    ['172.32.0.1', true],
    ['192.168.1.1', false],
    ['100.64.0.1', false],
    ['169.254.169.254', false],
    ['192.0.2.1', false],
    ['198.18.0.1', false],
    ['224.0.0.1', false],
    ['255.255.255.255', false],
    ['::', false],
    ['::1', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:7f00:1', false],
    ['::ffff:10.0.0.1', false],
    ['::ffff:169.254.169.254', false],
    ['::127.0.0.1', false],
    ['fc00::1', false],
    ['fd12:3456::1', false],
    ['fe80::1', false],
    ['ff02::1', false],
    ['2001:db8::1', false],
    ['64:ff9b::7f00:1', false],
    ['localhost', false],
    ['not an ip', false],
  ])('%s → %s', (ip, expected) => {
    expect(isPublicAddress(ip)).toBe(expected);
  });
});

describe('checkLiteralHost', () => {
  it('refuses private literal IPs, bracketed IPv6 included, unless allowed', () => {
    expect(checkLiteralHost('127.0.0.1', false)).toMatch(/private or reserved/);
    expect(checkLiteralHost('[::1]', false)).toMatch(/private or reserved/);
    expect(checkLiteralHost('[::ffff:7f00:1]', false)).toMatch(/private or reserved/);
    expect(checkLiteralHost('169.254.169.254', false)).toMatch(/private or reserved/);
    expect(checkLiteralHost('127.0.0.1', true)).toBeNull();
    expect(checkLiteralHost('8.8.8.8', false)).toBeNull();
  });

  it('leaves host names to the guarded lookup', () => {
    expect(checkLiteralHost('localhost', false)).toBeNull();
    expect(checkLiteralHost('example.com', false)).toBeNull();
  });

  it('applies an address policy function', () => {
    const only = (ip: string) => ip === '127.0.0.1';
    expect(checkLiteralHost('127.0.0.1', only)).toBeNull();
    expect(checkLiteralHost('127.0.0.2', only)).toMatch(/private or reserved/);
  });
});

describe('guardedLookup', () => {
  it('refuses localhost when private networks are not allowed', async () => {
    const { err } = await lookup(false, 'localhost');
    expect(err?.code).toBe('EBLOCKED');
    expect(err?.message).toMatch(/localhost resolves to a private or reserved address/);
  });

  it('resolves localhost when private networks are allowed', async () => {
    const { err, addresses } = await lookup(true, 'localhost');
    expect(err).toBeNull();
    expect(addresses.length).toBeGreaterThan(0);
    expect(addresses.every((a) => !isPublicAddress(a))).toBe(true);
  });

  it('answers a single address when `all` is not asked for', async () => {
    const result = await new Promise<{ address: string; family: number }>((resolve, reject) => {
      guardedLookup(true)('localhost', {}, (err, address, family) =>
        err ? reject(err) : resolve({ address: String(address), family: family ?? 0 }),
      );
    });
    expect([4, 6]).toContain(result.family);
    expect(isPublicAddress(result.address)).toBe(false);
  });
});

describe('OutboundClient refusals (private networks not allowed)', () => {
  const guarded = new OutboundClient({ timeoutMs: 2_000 });
  const server = new MockServer((_req, res) => json(res, 200, { ok: true }));
  let port = '';

  beforeAll(async () => {
    await server.start();
    port = new URL(server.url).port;
  });
  afterAll(async () => {
    await guarded.close();
    await server.stop();
  });

  it.each([
    'http://127.0.0.1:{port}/',
    'http://10.0.0.1/',
    'http://192.168.1.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::1]:{port}/',
    'http://[::ffff:127.0.0.1]:{port}/',
    'http://[fc00::1]/',
    'http://2130706433:{port}/',
    'http://0x7f.1:{port}/',
  ])('refuses %s', async (template) => {
    const r = await guarded.request({ method: 'POST', url: template.replace('{port}', port), body: '{}' });
    expect(failureOf(r)).toEqual({ error: 'blocked_address', mayHaveArrived: false });
  });

  it('refuses a host name resolving to loopback (localhost), reaching nothing', async () => {
    const before = server.received.length;
    const r = await guarded.request({ method: 'POST', url: `http://localhost:${port}/`, body: '{}' });
    expect(failureOf(r)).toEqual({ error: 'blocked_address', mayHaveArrived: false });
    expect(server.received.length).toBe(before);
  });

  it.each([
    'ftp://example.com/file',
    'file:///etc/passwd',
    'gopher://example.com/',
    'javascript:alert(1)',
    'not a url',
    'http://user:pass@example.com/',
    'https://token@example.com/',
  ])('refuses %s as an invalid URL', async (url) => {
    const r = await guarded.request({ method: 'GET', url });
    expect(failureOf(r)).toEqual({ error: 'invalid_url', mayHaveArrived: false });
  });
});

describe('OutboundClient against local servers', () => {
  const client = new OutboundClient({ allowPrivateNetworks: true, timeoutMs: 1_000, maxRedirects: 2, maxResponseBytes: 4_096 });
  const clients: OutboundClient[] = [client];
  const other = new MockServer((req, res) => json(res, 200, { authorization: req.headers.authorization ?? null }));
  const server = new MockServer((req, res) => {
    const url = new URL(req.path, 'http://x');
    const hop = /^\/chain\/(\d+)$/.exec(url.pathname);
    if (hop) {
      const left = Number(hop[1]);
      if (left === 0) return json(res, 200, { done: true });
      res.writeHead(302, { location: `/chain/${left - 1}` }).end();
      return;
    }
    switch (url.pathname) {
      case '/redirect': {
        const status = Number(url.searchParams.get('status') ?? 302);
        res.writeHead(status, { location: url.searchParams.get('to') ?? '/' }).end();
        return;
      }
      case '/echo':
        return json(res, 200, { method: req.method, body: req.body, authorization: req.headers.authorization ?? null });
      case '/big':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(Number(url.searchParams.get('n'))));
        return;
      default:
        return json(res, 200, { ok: true });
    }
  });

  beforeAll(async () => {
    await server.start();
    await other.start();
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.stop();
    await other.stop();
  });

  it('answers status, lower-case headers and body', async () => {
    const r = await client.request({ method: 'GET', url: `${server.url}/` });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.response.status).toBe(200);
    expect(r.response.headers['content-type']).toBe('application/json');
    expect(JSON.parse(r.response.body)).toEqual({ ok: true });
  });

  it('follows redirects up to maxRedirects and reports the answering URL', async () => {
    const r = await client.request({ method: 'GET', url: `${server.url}/chain/2` });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.response.url).toBe(`${server.url}/chain/0`);
  });

  it('refuses one redirect more than maxRedirects', async () => {
    const r = await client.request({ method: 'GET', url: `${server.url}/chain/3` });
    expect(failureOf(r)).toEqual({ error: 'too_many_redirects', mayHaveArrived: true });
  });

  it('continues a 303 after a POST as a GET without body, keeps method and body on a 307', async () => {
    const see = await client.request({ method: 'POST', url: `${server.url}/redirect?status=303&to=/echo`, body: 'payload' });
    expect(see.ok && JSON.parse(see.response.body)).toMatchObject({ method: 'GET', body: '' });
    const temp = await client.request({ method: 'POST', url: `${server.url}/redirect?status=307&to=/echo`, body: 'payload' });
    expect(temp.ok && JSON.parse(temp.response.body)).toMatchObject({ method: 'POST', body: 'payload' });
  });

  it('keeps credentials on a same-origin redirect and drops them on a cross-origin one', async () => {
    const headers = { authorization: 'Bearer secret-key' };
    const same = await client.request({ method: 'GET', url: `${server.url}/redirect?to=/echo`, headers });
    expect(same.ok && JSON.parse(same.response.body)).toMatchObject({ authorization: 'Bearer secret-key' });
    const to = encodeURIComponent(`${other.url}/`);
    const cross = await client.request({ method: 'GET', url: `${server.url}/redirect?to=${to}`, headers });
    expect(cross.ok && JSON.parse(cross.response.body)).toEqual({ authorization: null });
  });

  it('checks every redirect hop: a redirect from an allowed server to a private address is refused', async () => {
    // Treat this test server's address as "public" and everything else private, as a real deployment
    // treats an internet server that redirects inside.
    const outsideOnly = new OutboundClient({ isAllowedAddress: (ip) => ip === '127.0.0.1', timeoutMs: 1_000 });
    clients.push(outsideOnly);
    const ok = await outsideOnly.request({ method: 'GET', url: `${server.url}/` });
    expect(ok.ok).toBe(true);
    for (const target of ['http://127.0.0.2:9/', 'http://10.0.0.1/', 'http://169.254.169.254/latest/meta-data/', 'http://[::1]:9/']) {
      const before = server.received.length;
      const r = await outsideOnly.request({ method: 'GET', url: `${server.url}/redirect?to=${encodeURIComponent(target)}` });
      expect(failureOf(r), target).toEqual({ error: 'blocked_address', mayHaveArrived: false });
      expect(server.received.length).toBe(before + 1);
    }
  });

  it('answers an unreadable redirect location as a value, not an exception', async () => {
    const r = await client.request({ method: 'GET', url: `${server.url}/redirect?to=${encodeURIComponent('http://[bad')}` });
    expect(failureOf(r)).toEqual({ error: 'invalid_url', mayHaveArrived: true });
  });

  it('caps the response size', async () => {
    const small = await client.request({ method: 'GET', url: `${server.url}/big?n=4096` });
    expect(small.ok && small.response.body.length).toBe(4_096);
    const big = await client.request({ method: 'GET', url: `${server.url}/big?n=200000` });
    expect(failureOf(big)).toEqual({ error: 'response_too_large', mayHaveArrived: true });
  });

  it('times out on a hanging server (the request may have arrived)', async () => {
    server.misbehave({ kind: 'hang' });
    const r = await client.request({ method: 'POST', url: `${server.url}/`, body: '{}', timeoutMs: 200 });
    expect(failureOf(r)).toEqual({ error: 'timeout', mayHaveArrived: true });
  });

  it('stops when the caller aborts', async () => {
    server.misbehave({ kind: 'hang' });
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    const r = await client.request({ method: 'POST', url: `${server.url}/`, body: '{}', signal: abort.signal });
    expect(failureOf(r)).toEqual({ error: 'timeout', mayHaveArrived: true });
    expect(!r.ok && r.message).toMatch(/cancelled/);
  });

  it('reports a connection closed without an answer as lost (may have arrived)', async () => {
    server.misbehave({ kind: 'reset' });
    const r = await client.request({ method: 'POST', url: `${server.url}/`, body: '{}' });
    expect(failureOf(r)).toEqual({ error: 'connection_lost', mayHaveArrived: true });
  });

  it('reports a refused connection as never arrived', async () => {
    const gone = new MockServer(() => undefined);
    const url = await gone.start();
    await gone.stop();
    const r = await client.request({ method: 'POST', url, body: '{}' });
    expect(failureOf(r)).toEqual({ error: 'connect_failed', mayHaveArrived: false });
  });
});

describe('retryAfterMs', () => {
  const now = Date.UTC(2026, 0, 1, 12);
  it.each([
    [undefined, undefined],
    ['', undefined],
    ['0', 0],
    ['120', 120_000],
    // RFC 9110: delay-seconds is whole digits; anything else is not a Retry-After we trust.
    ['1.5', undefined],
    ['-5', undefined],
    ['1e3', undefined],
    ['0x10', undefined],
    ['   ', undefined],
    ['abc 5', undefined],
    ['10 seconds', undefined],
    ['soon', undefined],
    [new Date(now + 30_000).toUTCString(), 30_000],
    [new Date(now - 60_000).toUTCString(), 0],
  ])('%s → %s', (header, expected) => {
    expect(retryAfterMs(header, now)).toBe(expected);
  });
});

describe('httpOutcome', () => {
  const now = Date.UTC(2026, 0, 1, 12);
  const sent: SendOutcome = { kind: 'sent', providerMessageId: 'p1' };
  const answer = (status: number, headers: Record<string, string> = {}, body = 'nope'): OutboundResult => ({
    ok: true,
    response: { status, headers, body, url: 'https://provider.example/' },
  });
  const transport = (
    error: 'timeout' | 'connect_failed' | 'connection_lost' | 'response_too_large' | 'blocked_address' | 'invalid_url',
    mayHaveArrived: boolean,
  ): OutboundResult => ({
    ok: false,
    error,
    message: 'x',
    mayHaveArrived,
  });

  it('takes a 2xx through the accepted reader', () => {
    expect(httpOutcome(answer(200), false, () => sent, now)).toEqual(sent);
    expect(httpOutcome(answer(202), true, () => ({ kind: 'failed', reason: 'error inside a 200' }), now)).toEqual({
      kind: 'failed',
      reason: 'error inside a 200',
    });
  });

  it('retries 408 and 429, with Retry-After in seconds or as an HTTP date', () => {
    expect(httpOutcome(answer(408, { 'retry-after': '5' }), false, () => sent, now)).toMatchObject({ kind: 'retry', retryAfterMs: 5_000 });
    const at = new Date(now + 90_000).toUTCString();
    expect(httpOutcome(answer(429, { 'retry-after': at }), false, () => sent, now)).toMatchObject({ kind: 'retry', retryAfterMs: 90_000 });
    const bare = httpOutcome(answer(429), false, () => sent, now);
    expect(bare.kind).toBe('retry');
    expect(bare).not.toHaveProperty('retryAfterMs');
  });

  it('retries 5xx and fails other 4xx, with the status and body in the reason', () => {
    for (const status of [500, 502, 503, 504]) expect(httpOutcome(answer(status), false, () => sent, now).kind).toBe('retry');
    for (const status of [400, 401, 403, 404, 422]) {
      expect(httpOutcome(answer(status, {}, 'bad address'), false, () => sent, now)).toEqual({
        kind: 'failed',
        reason: `HTTP ${status}: bad address`,
      });
    }
    expect(isRetryableStatus(429)).toBe(true);
    expect(isRetryableStatus(409)).toBe(false);
  });

  it('makes a transport failure that may have arrived unknown, or retry where the provider dedupes', () => {
    for (const error of ['timeout', 'connection_lost', 'response_too_large'] as const) {
      expect(httpOutcome(transport(error, true), false, () => sent, now).kind).toBe('unknown');
      expect(httpOutcome(transport(error, true), true, () => sent, now).kind).toBe('retry');
    }
  });

  it('retries a failure that never arrived, and fails a refused target', () => {
    expect(httpOutcome(transport('connect_failed', false), false, () => sent, now).kind).toBe('retry');
    expect(httpOutcome(transport('timeout', false), false, () => sent, now).kind).toBe('retry');
    expect(httpOutcome(transport('blocked_address', false), true, () => sent, now)).toEqual({ kind: 'failed', reason: 'x' });
    expect(httpOutcome(transport('invalid_url', false), true, () => sent, now)).toEqual({ kind: 'failed', reason: 'x' });
  });
});
