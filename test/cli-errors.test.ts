import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shopflow } from './cli-process.ts';

/** A mistake on the command line is one clear line and exit code 2, never a stack trace. */
describe('shopflow with bad flags or an unreachable store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-errors-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    [['demo', '--users', '-5', '--data', join(dir, 'a')], 'shopflow: --users must be a whole number from 1 to 100000000\n'],
    [['demo', '--days', 'abc', '--data', join(dir, 'a')], 'shopflow: --days must be a whole number from 1 to 3650\n'],
    [
      ['simulate', '--journey', 'examples/journeys/dormant-recall.json', '--seed', '-1'],
      'shopflow: --seed must be a whole number from 0 to 9007199254740991\n',
    ],
    [['bench', 'nope'], 'shopflow: unknown benchmark "nope" (known: ingest-http, import, segments, journeys, messaging, slots)\n'],
    [['bench', 'import', '--events', '1.5'], 'shopflow: --events must be a whole number from 1 to 1000000000\n'],
    [
      ['serve', '--port', 'abc', '--data', join(dir, 'a')],
      'shopflow: invalid configuration: port (SHOPFLOW_PORT): Invalid input: expected number, received NaN\n',
    ],
    [
      ['keys', 'create', '--data', join(dir, 'a'), '--json'],
      'shopflow: invalid configuration: duckdbThreads (SHOPFLOW_DUCKDB_THREADS): Too small: expected number to be >=1\n',
      { SHOPFLOW_DUCKDB_THREADS: '0' },
    ],
    [
      ['serve', '--role', 'api,engines', '--data', join(dir, 'a')],
      'shopflow: invalid configuration: roles (SHOPFLOW_ROLE): a comma-separated list of api, engine, dispatcher (or all)\n',
    ],
    [
      ['serve', '--data', join(dir, 'a')],
      'shopflow: --role api splits the work between processes that share a PostgreSQL database (--store postgres://…); ' +
        'the embedded DuckDB store is opened by one process, which runs everything (--role all)\n',
      { SHOPFLOW_ROLE: 'api' },
    ],
    [
      ['keys', 'create', '--store', 'postgres://nobody@127.0.0.1:1/x', '--json'],
      /^shopflow: cannot use PostgreSQL at 127\.0\.0\.1:1\/x: .*ECONNREFUSED.*\n$/,
    ],
  ])('shopflow %j', (args, message, env: Record<string, string> = {}) => {
    const r = shopflow(args, env);
    expect(r.status).toBe(2);
    if (typeof message === 'string') expect(r.stderr).toBe(message);
    else expect(r.stderr).toMatch(message);
  });

  it('checks the flags before creating a store', () => {
    shopflow(['demo', '--users', '0', '--data', join(dir, 'b')]);
    expect(existsSync(join(dir, 'b'))).toBe(false);
  });
});
