import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from './pg-server.ts';

/** One PostgreSQL server for the whole run; every test file gets its own database in it. */
export default async function setup(project: TestProject) {
  const server = await startEmbeddedPostgres();
  project.provide('pgUrl', server.url);
  return () => server.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
  }
}
