import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError, issuesToErrors } from '../core/errors.ts';
import { failedEncoding } from './request-encoding.ts';

/** Parses with a zod schema, turning failures into a 400 naming every bad field. */
export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, prefix: PropertyKey[] = []): z.infer<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const details = issuesToErrors(r.error.issues, prefix);
  throw new AppError('invalid_request', details[0]!.message, details[0]!.path, details);
}

/** The one place errors become HTTP responses: always `{code, message, path}`. */
export function errorHandler(err: FastifyError | AppError | Error, request: FastifyRequest, reply: FastifyReply) {
  if (err instanceof AppError) return reply.status(err.status).send(err.toBody());
  const fe = err as FastifyError;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return reply.status(413).send({
      code: 'payload_too_large',
      message: `request body is over the limit for ${request.url}`,
      path: '',
    });
  }
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return reply.status(415).send({
      code: 'unsupported_media_type',
      message: 'send application/json',
      path: '',
    });
  }
  if (fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || fe instanceof SyntaxError || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return reply.status(400).send({
      code: 'invalid_json',
      message: `body is not valid JSON: ${fe.message}`,
      path: '',
    });
  }
  const encoding = failedEncoding(err);
  if (encoding !== undefined) {
    return reply.status(400).send({
      code: 'invalid_request',
      message: `body is not valid ${encoding}: ${fe.message}`,
      path: 'content-encoding',
    });
  }
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return reply.status(fe.statusCode).send({ code: 'invalid_request', message: fe.message, path: '' });
  }
  request.log.error({ err }, 'unhandled error');
  return reply.status(500).send({
    code: 'internal',
    message: 'internal error; see the server log',
    path: '',
  });
}

export const errorBodySchema = z
  .object({
    code: z.string().describe('Stable error code'),
    message: z.string(),
    path: z.string().describe('Where in the input, e.g. batch[3].timestamp'),
    errors: z.array(z.object({ code: z.string(), message: z.string(), path: z.string() })).optional(),
  })
  .describe('Error');
