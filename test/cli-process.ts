import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './pg-server.ts';

const root = join(import.meta.dirname, '..');
const main = join(root, 'src', 'cli', 'main.ts');

/** Runs `shopflow …` to completion. */
export function shopflow(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', main, ...args], {
    encoding: 'utf8',
    cwd: root,
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `shopflow serve …` and resolves once it listens. */
export function startServe(args: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'serve', ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('Shopflow is serving')) resolve({ child, output: () => out });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
}

/**
 * Starts `shopflow serve` on a shared PostgreSQL store, on a free port, with a data folder of its
 * own (removed when the process exits); `url` is where it answers.
 */
export async function startServeOn(
  storeUrl: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ child: ChildProcess; output: () => string; url: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'shopflow-serve-'));
  const port = await freePort();
  const server = await startServe(['--store', storeUrl, '--data', dir, '--port', String(port), ...args], env);
  server.child.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return { ...server, url: `http://127.0.0.1:${port}` };
}

/** Runs `shopflow …` to completion without blocking this process (for commands that call a server running in the test). */
export function shopflowAsync(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}
