import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startLocalPostgres } from '../../cli/local/embedded-postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}

/** One real PostgreSQL server for the whole test run; each test file makes its own database. */
export default async function setup(project: TestProject) {
  const parent = await mkdtemp(join(tmpdir(), 'are-pg-'));
  const server = await startLocalPostgres({ dataDir: join(parent, 'data'), persistent: false, fast: true });
  project.provide('postgresUrl', server.url);
  return async () => {
    await server.stop();
    await rm(parent, { recursive: true, force: true });
  };
}
