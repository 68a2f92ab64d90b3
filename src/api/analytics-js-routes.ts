import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError } from '../core/errors.ts';
import type { ApiContext } from './context.ts';
import { parseOrThrow } from './errors.ts';

/**
 * Serves Segment's browser library (analytics.js, from the `@segment/analytics-next` package) the
 * way Segment's CDN does, so a shop pastes the standard Segment snippet with this server's host
 * in place of `cdn.segment.com` and nothing else changes: the bundle and its chunks, and the
 * source settings that send its events here (`/v1/t`, `/v1/p`, …). A page then loads nothing
 * from Segment (nor from anywhere outside the shop's reach: the CDN is slow or blocked in some
 * markets). analytics.js finds this host from its script's https URL, or from `analytics._cdn`.
 */
const bundles = join(dirname(createRequire(import.meta.url).resolve('@segment/analytics-next/package.json')), 'dist', 'umd');

/** The package's scripts by name (no other name is ever looked up), each read on first request. */
const files = new Map<string, Buffer | null>(
  readdirSync(bundles, { withFileTypes: true })
    .filter((f) => f.isFile() && f.name.endsWith('.js'))
    .map((f) => [f.name, null]),
);
function bundleFile(name: string): Buffer | null {
  if (!files.has(name)) return null;
  const body = files.get(name) ?? readFileSync(join(bundles, name));
  files.set(name, body);
  return body;
}

const keyParams = z.object({ writeKey: z.string().min(1).max(200) });

export function registerAnalyticsJsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const knownKey = async (request: FastifyRequest) => {
    const { writeKey } = parseOrThrow(keyParams, request.params);
    if (!(await ctx.keys.byWrite(writeKey))) throw new AppError('not_found', 'unknown write key', 'writeKey');
    return writeKey;
  };
  const script = (reply: FastifyReply, body: Buffer, maxAge: string) =>
    reply.header('content-type', 'text/javascript; charset=utf-8').header('cache-control', maxAge).send(body);

  // The snippet's script. Not immutable: a newer package brings a newer bundle under the same name.
  for (const name of ['analytics.min.js', 'analytics.js']) {
    app.get(`/analytics.js/v1/:writeKey/${name}`, async (request, reply) => {
      await knownKey(request);
      return script(reply, bundleFile('standalone.js')!, 'public, max-age=300');
    });
  }

  // Chunks the bundle loads on demand; their names carry a content hash.
  app.get('/analytics-next/bundles/:file', async (request, reply) => {
    const { file } = parseOrThrow(z.object({ file: z.string().max(200) }), request.params);
    const body = file === 'standalone.js' || file === 'index.js' ? null : bundleFile(file);
    if (!body) throw new AppError('not_found', `no bundle ${file}`, 'file');
    return script(reply, body, 'public, max-age=31536000, immutable');
  });

  // The source settings analytics.js reads first: deliver to this server, send no metrics anywhere.
  app.get('/v1/projects/:writeKey/settings', async (request, reply) => {
    const writeKey = await knownKey(request);
    // As the page reached this server (a proxy in front says how with X-Forwarded-*).
    const forwarded = (name: string) =>
      String(request.headers[name] ?? '')
        .split(',')[0]
        ?.trim() || undefined;
    const protocol = forwarded('x-forwarded-proto') ?? request.protocol;
    const host = forwarded('x-forwarded-host') ?? request.host;
    // Never from a shared cache: the answer follows request headers a client may set (X-Forwarded-*, Host).
    reply.header('cache-control', 'private, max-age=60').header('vary', 'Host, X-Forwarded-Host, X-Forwarded-Proto');
    return {
      integrations: { 'Segment.io': { apiKey: writeKey, apiHost: `${host}/v1`, protocol } },
      plan: { track: { __default: { enabled: true } } },
      metrics: { sampleRate: 0 },
      remotePlugins: [],
    };
  });
}
