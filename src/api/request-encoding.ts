import { pipeline, type Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../core/errors.ts';

const decoders: Record<string, () => Transform> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/**
 * Decodes compressed request bodies as they arrive: Segment's mobile libraries send their batches
 * with `Content-Encoding: gzip` (and chunked, without a Content-Length). Body limits then count
 * decoded bytes, so a small compressed body cannot unpack past them; a body that is not what its
 * encoding says is a 400 (errorHandler, through failedEncoding).
 */
export function decodeRequestBodies(app: FastifyInstance): void {
  app.addHook('preParsing', async (request, _reply, payload) => {
    const encoding = request.headers['content-encoding']?.trim().toLowerCase();
    if (!encoding || encoding === 'identity') return payload;
    const decoder = decoders[encoding];
    if (!decoder) {
      throw new AppError(
        'unsupported_media_type',
        `unsupported Content-Encoding "${encoding}" (send gzip, deflate, br or none)`,
        'content-encoding',
      );
    }
    const decoded = decoder() as Transform & { receivedEncodedLength: number };
    // Fastify checks Content-Length against the bytes received, not the decoded ones.
    decoded.receivedEncodedLength = 0;
    payload.on('data', (chunk: Buffer) => {
      decoded.receivedEncodedLength += chunk.length;
    });
    // Registered before Fastify's reader: marks what it will see as the client's fault.
    decoded.once('error', (err) => Object.assign(err, { [badEncoding]: encoding, statusCode: 400 }));
    pipeline(payload, decoded, () => {});
    return decoded;
  });
}

const badEncoding = Symbol('bad content encoding');

/** The encoding a body failed to decode as, when `err` is that failure (zlib's and brotli's codes differ). */
export function failedEncoding(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as { [badEncoding]?: string })[badEncoding] : undefined;
}

/**
 * An upper bound of the decoded body's size: its Content-Length, unless the body came encoded or
 * chunked (then unknown, Infinity), so that per-event size checks never skip a body they need to see.
 */
export function decodedSizeBound(request: FastifyRequest): number {
  const length = request.headers['content-length'];
  const encoding = request.headers['content-encoding']?.trim().toLowerCase();
  if (length === undefined || (encoding && encoding !== 'identity')) return Number.POSITIVE_INFINITY;
  return Number(length);
}
