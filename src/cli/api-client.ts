import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { AppError } from '../core/errors.ts';

/** Flags of commands that work through a running server's admin API. */
export interface ServerFlags {
  server: string;
  adminKey?: string;
  data?: string;
}

/**
 * The server and data folder default to where `shopflow serve` would be with the same settings:
 * a server started with `SHOPFLOW_PORT=3001 npm start` is found with no flag.
 */
export const serverOptions = (cmd: Command) =>
  cmd
    .addOption(
      new Option('--server <url>', 'the running Shopflow server')
        .env('SHOPFLOW_SERVER')
        .default(`http://localhost:${process.env.SHOPFLOW_PORT ?? 3000}`),
    )
    .option('--admin-key <key>', 'admin key (default: the one saved in <data>/default-workspace.json)')
    .addOption(new Option('--data <dir>', 'data folder holding default-workspace.json').env('SHOPFLOW_DATA').default('./data'));

/**
 * Admin API calls for the CLI. Operator commands (segments, …) go through the server so they work
 * while it runs (DuckDB allows one process per file) and on PostgreSQL alike.
 */
export class ApiClient {
  private readonly adminKey: string;

  constructor(private readonly flags: ServerFlags) {
    this.adminKey = flags.adminKey ?? savedAdminKey(flags.data ?? './data');
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.raw(method, path, body);
    const text = await res.text();
    type ErrorReply = { message?: string; path?: string; errors?: { message: string; path: string }[] };
    const parsed = (text ? JSON.parse(text) : {}) as T & ErrorReply;
    if (!res.ok) {
      const at = (e: { path?: string }) => (e.path ? ` (at ${e.path})` : '');
      // Every problem of a refused request, one per line (e.g. all graph problems of a journey).
      const more = (parsed.errors ?? []).slice(1).map((e) => `\n  ${e.message}${at(e)}`);
      throw new AppError('invalid_request', `server said ${res.status}: ${parsed.message ?? text}${at(parsed)}${more.join('')}`);
    }
    return parsed;
  }

  async raw(method: string, path: string, body?: unknown): Promise<Response> {
    try {
      return await fetch(new URL(path, this.flags.server), {
        method,
        headers: { authorization: `Bearer ${this.adminKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new AppError(
        'unavailable',
        `cannot reach ${this.flags.server} (is \`npm start\` running?): ${(err as Error).message}`,
        'server',
      );
    }
  }
}

function savedAdminKey(dataDir: string): string {
  const file = join(dataDir, 'default-workspace.json');
  if (!existsSync(file)) throw new AppError('invalid_request', `no --admin-key given and no ${file}`, 'admin-key');
  return (JSON.parse(readFileSync(file, 'utf8')) as { adminKey: string }).adminKey;
}
