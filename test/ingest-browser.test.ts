import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server as HttpServer, request } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join, normalize } from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

/**
 * Segment's browser library (analytics.js, `@segment/analytics-next`) and mobile libraries point at
 * Shopflow with `apiHost: '<host>/v1'`: they post to short paths (`/v1/t`, `/v1/i`, … and `/v1/b`
 * for batches), as `text/plain` with the write key in an Authorization header — from the shop's
 * own origin, so through a CORS preflight. (analytics-java posts its batches to `/v1/import`.)
 */

const CHROMIUM = '/usr/bin/chromium';
// CI installs Chromium and sets this, so the browser test cannot be skipped there unnoticed.
const chromiumRequired = process.env.SHOPFLOW_REQUIRE_CHROMIUM === '1';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && !chromiumRequired) {
  console.warn(`skipping the analytics.js browser test: no ${CHROMIUM} (apt-get install chromium)`);
}

const SHOP_ORIGIN = 'https://shop.example';

/** The shop's web site: a page and the analytics.js bundle, on another origin than Shopflow. */
/** The analytics.js package's browser builds. */
const umdDir = join(dirname(createRequire(import.meta.url).resolve('@segment/analytics-next/package.json')), 'dist', 'umd');

function shopSite(page = '<!doctype html><script src="/ajs/index.js"></script>'): Promise<{ server: HttpServer; url: string }> {
  const umd = umdDir;
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(page);
      return;
    }
    const file = normalize(join(umd, path.replace(/^\/ajs\//, '')));
    if (!path.startsWith('/ajs/') || !file.startsWith(umd) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(file));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/` });
    }),
  );
}

/** Runs `visit` with Chromium and the shop's site (`page` as its home page), and closes both. */
async function inChromium(page: string | undefined, visit: (browser: Browser, siteUrl: string) => Promise<void>): Promise<void> {
  const browser = await chromium.launch({ executablePath: CHROMIUM });
  const site = await shopSite(page);
  try {
    await visit(browser, site.url);
  } finally {
    await browser.close();
    await new Promise((r) => site.server.close(r));
  }
}

/** Waits until `done` holds, or 15 s (the page's library sends in the background). */
async function eventually(done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await done()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

describe.each(engines)('Segment browser and mobile libraries on %s', (engine) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(engine);
  });
  afterAll(() => h.dispose());
  let listening: string | undefined;
  /** The server on real HTTP (started once). */
  const serverUrl = async () => {
    listening ??= await h.listen();
    return listening;
  };

  it('answers the preflight of the write-key API from any origin, and only of it', async () => {
    // Events (analytics.js), and content slot decisions fetched by the shop's pages.
    for (const [url, method] of [
      ['/v1/t', 'POST'],
      ['/v1/decide?slot=home', 'GET'],
    ]) {
      const preflight = await h.server.app.inject({
        method: 'OPTIONS',
        url,
        headers: {
          origin: SHOP_ORIGIN,
          'access-control-request-method': method!,
          'access-control-request-headers': 'content-type,authorization',
        },
      });
      expect(preflight.statusCode).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe(SHOP_ORIGIN);
      expect(String(preflight.headers['access-control-allow-methods'])).toContain(method);
      expect(String(preflight.headers['access-control-allow-headers']).toLowerCase()).toContain('authorization');
    }
    // The admin API is not for other sites' pages: no preflight, no CORS headers.
    const admin = await h.server.app.inject({
      method: 'OPTIONS',
      url: '/api/segments',
      headers: { origin: SHOP_ORIGIN, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(admin.statusCode).toBe(404);
    expect(admin.headers['access-control-allow-origin']).toBeUndefined();
    const read = await h.server.app.inject({
      method: 'GET',
      url: '/api/segments',
      headers: { origin: SHOP_ORIGIN, authorization: h.adminAuth },
    });
    expect(read.statusCode).toBe(200);
    expect(read.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('takes each call type at its short path and batches at /v1/b and /v1/import, as text/plain from another origin', async () => {
    const post = (url: string, body: object) =>
      h.server.app.inject({
        method: 'POST',
        url,
        headers: { origin: SHOP_ORIGIN, authorization: h.writeAuth, 'content-type': 'text/plain' },
        payload: JSON.stringify(body),
      });
    const calls: [string, object][] = [
      ['/v1/p', { anonymousId: 'short-1', name: 'Home' }],
      ['/v1/t', { anonymousId: 'short-1', event: 'Product Viewed', properties: { product_id: 'sku-1' } }],
      ['/v1/i', { anonymousId: 'short-1', userId: 'short-user', traits: { email: 'short@example.com' } }],
      ['/v1/a', { userId: 'short-user', previousId: 'short-old' }],
      ['/v1/g', { userId: 'short-user', groupId: 'org-1' }],
      ['/v1/s', { userId: 'short-user', name: 'Cart' }],
      ['/v1/b', { batch: [{ type: 'track', userId: 'short-user', event: 'Signed Up' }] }],
      ['/v1/import', { batch: [{ type: 'track', userId: 'short-user', event: 'Member Joined' }] }],
    ];
    for (const [url, body] of calls) {
      const r = await post(url, body);
      expect(r.statusCode, `${url}: ${r.body}`).toBe(200);
      expect(r.headers['access-control-allow-origin']).toBe(SHOP_ORIGIN);
    }
    const rows = await h.store.query<{ type: string }>(
      `SELECT type FROM events WHERE user_id = 'short-user' OR anonymous_id = 'short-1' ORDER BY type`,
    );
    expect(rows.map((r) => r.type)).toEqual(['alias', 'group', 'identify', 'page', 'screen', 'track', 'track', 'track']);
    // A bad event is refused at a short path exactly as at the long one.
    const bad = await post('/v1/t', { anonymousId: 'short-1', event: 'Product Viewed', properties: {} });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'invalid_request', path: 'properties.product_id' });
  });

  it('takes gzip-compressed, chunked batches as the mobile libraries send them, with limits on the decoded size', async () => {
    const base = await serverUrl();
    // As analytics-kotlin posts: text/plain, Content-Encoding gzip, chunked (no Content-Length).
    const send = (body: Buffer, encoding = 'gzip') =>
      new Promise<{ status: number; json: { code?: string; path?: string; stored?: number } }>((resolve, reject) => {
        const req = request(`${base}/v1/b`, {
          method: 'POST',
          headers: {
            authorization: h.writeAuth,
            'content-type': 'text/plain',
            'content-encoding': encoding,
            'transfer-encoding': 'chunked',
          },
        });
        req.on('response', (res) => {
          let text = '';
          res.on('data', (d) => {
            text += d;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
        });
        req.on('error', reject);
        // In pieces, as a stream would send them.
        for (let i = 0; i < body.length; i += 100) req.write(body.subarray(i, i + 100));
        req.end();
      });
    const batch = (events: object[]) => Buffer.from(JSON.stringify({ batch: events, sentAt: new Date().toISOString() }));
    const ok = await send(
      gzipSync(batch([{ type: 'track', anonymousId: 'app-1', event: 'Product Viewed', properties: { product_id: 'sku-9' } }])),
    );
    expect(ok).toMatchObject({ status: 200, json: { stored: 1 } });
    expect((await send(deflateSync(batch([{ type: 'track', anonymousId: 'app-1', event: 'App Opened' }])), 'deflate')).status).toBe(200);
    // Not gzip (nor brotli) after all; an encoding nobody speaks.
    for (const encoding of ['gzip', 'br']) {
      expect(await send(Buffer.from('{"batch": []}'), encoding)).toMatchObject({
        status: 400,
        json: { code: 'invalid_request', path: 'content-encoding' },
      });
    }
    expect(await send(gzipSync(batch([])), 'zstd-9')).toMatchObject({ status: 415, json: { code: 'unsupported_media_type' } });
    // One event over 32 KB inside a small compressed body: refused by name, nothing stored.
    const big = { type: 'track', anonymousId: 'app-1', event: 'Big', properties: { blob: 'x'.repeat(40_000) } };
    const tooBig = await send(gzipSync(batch([{ type: 'track', anonymousId: 'app-1', event: 'Small' }, big])));
    expect(tooBig).toMatchObject({ status: 413, json: { code: 'payload_too_large', path: 'batch[1]' } });
    // A few KB that unpack past the 500 KB of a batch.
    const bomb = gzipSync(Buffer.from(JSON.stringify({ batch: [], pad: ' '.repeat(2_000_000) })));
    expect(bomb.length).toBeLessThan(10_000);
    expect(await send(bomb)).toMatchObject({ status: 413, json: { code: 'payload_too_large' } });
    const rows = await h.store.query<{ event: string }>(`SELECT event FROM events WHERE anonymous_id = 'app-1' ORDER BY event`);
    expect(rows.map((r) => r.event)).toEqual(['App Opened', 'Product Viewed']);
  });

  it.skipIf(!haveChromium && !chromiumRequired)(
    'stores what analytics.js sends from a shop page in Chromium, one event per call, the visit joined to the member',
    async () => {
      const api = await serverUrl();
      await inChromium(undefined, (browser, siteUrl) => analyticsJsVisit(h, browser, siteUrl, api));
    },
  );

  it.skipIf(!haveChromium && !chromiumRequired)(
    "works with Segment's snippet pointed at Shopflow instead of Segment's CDN: bundle, settings and events from here",
    async () => {
      const api = (await serverUrl()).replace(/\/$/, '');
      const key = h.keys.writeKey;
      // What Segment's snippet does: queue calls in a stub, then load the bundle (here from Shopflow).
      // Over https the bundle finds its host from its own URL; over plain http it is told (`_cdn`).
      const page = `<!doctype html><script>
        var analytics = window.analytics = [];
        ['page', 'track', 'identify', 'alias', 'group', 'screen'].forEach(function (m) {
          analytics[m] = function () { var a = Array.prototype.slice.call(arguments); a.unshift(m); analytics.push(a); return analytics; };
        });
        analytics._writeKey = ${JSON.stringify(key)};
        analytics._cdn = ${JSON.stringify(api)};
        analytics.page('Landing');
        analytics.track('Product Viewed', { product_id: 'sku-snip-1', price: 20 });
        analytics.identify('snippet-member-1', { email: 'snippet@example.com' });
      </script><script async src="${api}/analytics.js/v1/${key}/analytics.min.js"></script>`;
      await inChromium(page, async (browser, siteUrl) => {
        const tab = await browser.newPage();
        const requested: string[] = [];
        tab.on('request', (r) => requested.push(r.url()));
        await tab.goto(siteUrl);
        const person = async () => (await h.admin('GET', '/api/people/snippet-member-1')).body;
        await eventually(async () => ((await person())?.events?.length ?? 0) >= 3);
        expect((await person()).events.map((e: { type: string; event: string | null }) => e.event ?? e.type).sort()).toEqual([
          'Landing',
          'Product Viewed',
          'identify',
        ]);
        // Nothing went anywhere but the shop's page and Shopflow.
        expect(requested.filter((u) => !u.startsWith(siteUrl) && !u.startsWith(api))).toEqual([]);
        expect(requested.some((u) => u.startsWith(`${api}/v1/projects/${key}/settings`))).toBe(true);
      });
    },
  );

  it('serves analytics.js, its chunks and the source settings for known write keys only', async () => {
    const get = (url: string, headers: Record<string, string> = {}) => h.server.app.inject({ method: 'GET', url, headers });
    const key = h.keys.writeKey;
    const bundle = await get(`/analytics.js/v1/${key}/analytics.min.js`);
    expect(bundle.statusCode).toBe(200);
    expect(bundle.headers['content-type']).toContain('javascript');
    expect((await get('/analytics.js/v1/wk_nobody/analytics.min.js')).json()).toMatchObject({ code: 'not_found' });
    const chunk = readdirSync(umdDir).find((f) => /\.bundle\.[0-9a-f]+\.js$/.test(f));
    const served = await get(`/analytics-next/bundles/${chunk}`);
    expect([served.statusCode, served.headers['cache-control']]).toEqual([200, 'public, max-age=31536000, immutable']);
    for (const bad of ['..%2Fpackage.json', 'standalone.js', 'nope.js']) {
      expect((await get(`/analytics-next/bundles/${bad}`)).statusCode).toBe(404);
    }
    // Behind a TLS proxy, events go back to the host the page used.
    const settings = await get(`/v1/projects/${key}/settings`, { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'track.shop.example' });
    expect(settings.json()).toMatchObject({
      integrations: { 'Segment.io': { apiKey: key, apiHost: 'track.shop.example/v1', protocol: 'https' } },
      metrics: { sampleRate: 0 },
    });
    expect(settings.headers['cache-control']).toMatch(/^private/);
    expect((await get('/v1/projects/wk_nobody/settings')).statusCode).toBe(404);
  });
});

/** A visit to the shop's page: analytics.js (both deliveries) sends to Shopflow; what is stored is checked. */
async function analyticsJsVisit(h: Harness, browser: Browser, siteUrl: string, serverUrl: string): Promise<void> {
  const api = new URL(serverUrl);
  const page = await browser.newPage();
  const failures: string[] = [];
  page.on('requestfailed', (r) => failures.push(`${r.url()}: ${r.failure()?.errorText}`));
  await page.goto(siteUrl);
  await page.evaluate(
    async ({ writeKey, apiHost }) => {
      // biome-ignore lint/suspicious/noExplicitAny: the UMD bundle's global
      const { AnalyticsBrowser } = (window as any).AnalyticsNext;
      const segment = (deliveryStrategy?: object) => ({
        integrations: {
          'Segment.io': { apiKey: writeKey, apiHost, protocol: 'http', ...(deliveryStrategy ? { deliveryStrategy } : {}) },
        },
      });
      // Settings given here: nothing is fetched from Segment's CDN.
      const [analytics] = await AnalyticsBrowser.load({ writeKey, cdnSettings: segment() });
      await analytics.page('Home');
      await analytics.track('Product Viewed', { product_id: 'sku-web-1', price: 99 });
      await analytics.identify('web-member-1', { email: 'Web.Member@Example.com', timezone: 'Asia/Shanghai' });
      await analytics.track('Product Added', { product_id: 'sku-web-1', price: 99, quantity: 1 });
      // The batching delivery posts to /v1/b.
      const [batched] = await AnalyticsBrowser.load({
        writeKey,
        cdnSettings: segment({ strategy: 'batching', config: { size: 2, timeout: 50 } }),
      });
      await batched.track('Checkout Started', { order_id: 'web-o-1', total: 99 });
      await batched.track('Coupon Applied', { order_id: 'web-o-1', coupon_id: 'WELCOME' });
    },
    { writeKey: h.keys.writeKey, apiHost: `${api.host}/v1` },
  );
  const person = async () => (await h.admin('GET', '/api/people/web-member-1')).body;
  await eventually(async () => ((await person())?.events?.length ?? 0) >= 6);
  const p = await person();
  expect(failures).toEqual([]);
  expect(p.identities).toEqual(
    expect.arrayContaining([
      { type: 'user_id', value: 'web-member-1' },
      { type: 'email', value: 'web.member@example.com' },
      expect.objectContaining({ type: 'anonymous_id' }),
    ]),
  );
  // The anonymous visit (page, product view) belongs to the member now.
  const names = p.events.map((e: { type: string; event: string | null }) => e.event ?? e.type).sort();
  expect(names).toEqual(['Checkout Started', 'Coupon Applied', 'Home', 'Product Added', 'Product Viewed', 'identify']);
  // Once each (the library retries what it did not see acknowledged), with the page's context.
  const rows = await h.store.query<{ n: number; urls: number }>(
    `SELECT count(*) AS n, count(DISTINCT (context -> 'page') ->> 'url') AS urls FROM events WHERE message_id LIKE 'ajs-%'`,
  );
  expect(rows.map((r) => [Number(r.n), Number(r.urls)])).toEqual([[6, 1]]);
  await page.close();
}
