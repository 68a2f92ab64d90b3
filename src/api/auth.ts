import type { FastifyRequest } from 'fastify';
import { AppError } from '../core/errors.ts';
import type { KeyRing, Workspace } from '../workspaces/index.ts';

/** Tracking API: the write key as HTTP Basic user (as Segment does), or `writeKey` in the body. */
export async function workspaceFromWriteKey(keys: KeyRing, request: FastifyRequest): Promise<Workspace> {
  const header = request.headers.authorization ?? '';
  let writeKey = '';
  if (header.startsWith('Basic ')) {
    writeKey = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':')[0] ?? '';
  } else {
    const body = request.body as { writeKey?: unknown } | undefined;
    if (typeof body?.writeKey === 'string') writeKey = body.writeKey;
  }
  if (!writeKey) throw new AppError('unauthorized', 'send the workspace write key as the HTTP Basic user name', 'authorization');
  const ws = await keys.byWrite(writeKey);
  if (!ws) throw new AppError('unauthorized', 'unknown write key', 'authorization');
  return ws;
}

/** Admin API: `Authorization: Bearer <adminKey>`. */
export async function workspaceFromAdminKey(keys: KeyRing, request: FastifyRequest): Promise<Workspace> {
  const header = request.headers.authorization ?? '';
  if (!header.startsWith('Bearer ')) throw new AppError('unauthorized', 'send Authorization: Bearer <adminKey>', 'authorization');
  const ws = await keys.byAdmin(header.slice(7).trim());
  if (!ws) throw new AppError('unauthorized', 'unknown admin key', 'authorization');
  return ws;
}
