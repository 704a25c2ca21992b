import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type PipelineSettings, pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { ensureWarehouseObjects } from '#shared/sql/ensure.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import type { ObjectStore } from '#shared/storage/object-store.ts';
import { PostgresRunner } from '#shared/warehouse/postgres.ts';
import { type CliIo, UsageError } from '../io.ts';
import { type LocalPostgres, startLocalPostgres } from './embedded-postgres.ts';

/**
 * What every local command works on: the landing folder, the local staging store and a
 * PostgreSQL warehouse whose tables exist. Shared by `local` and `local backfill`.
 */

export const EMBEDDED_PORT = 54329;

export interface LocalContext {
  readonly home: string;
  readonly landingDir: string;
  readonly landing: ObjectStore;
  readonly staging: ObjectStore;
  readonly settings: PipelineSettings;
  readonly runner: PostgresRunner;
  readonly databaseUrl: string;
  close(): Promise<void>;
}

export interface LocalContextOptions {
  readonly home: string;
  readonly landingDir: string;
  readonly databaseUrl?: string | undefined;
  readonly projectId?: string | undefined;
  readonly orgId?: string | undefined;
  readonly feeds?: string | undefined;
  readonly schema?: string | undefined;
  readonly lookbackDays?: string | undefined;
}

/** Stores, settings and a warehouse ready to use; the warehouse objects exist afterwards. */
export async function openLocalContext(options: LocalContextOptions, io: CliIo): Promise<LocalContext> {
  await mkdir(options.landingDir, { recursive: true });
  await mkdir(join(options.home, 'store'), { recursive: true });
  const landing = new FileSystemObjectStore(options.landingDir);
  const staging = new FileSystemObjectStore(join(options.home, 'store'));
  const projectId = options.projectId ?? (await inferProjectId(landing));
  const settings = pipelineSettingsFrom(
    {
      '--project-id': projectId,
      '--org-id': options.orgId,
      '--feeds': options.feeds,
      '--schema': options.schema,
      '--lookback-days': options.lookbackDays,
    },
    {
      projectId: '--project-id',
      orgId: '--org-id',
      feeds: '--feeds',
      schema: '--schema',
      lookbackDays: '--lookback-days',
    },
  );
  let server: LocalPostgres | undefined;
  let databaseUrl = options.databaseUrl;
  if (!databaseUrl) {
    server = await startEmbedded(join(options.home, 'postgres'), io);
    databaseUrl = server.url;
  }
  const runner = new PostgresRunner({ connectionString: databaseUrl, store: staging });
  try {
    await ensureWarehouseObjects(runner, {
      schema: settings.schema,
      projectId: settings.projectId,
      feeds: settings.feeds,
    });
  } catch (error) {
    await runner.close().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    throw new Error(
      `Could not prepare the warehouse at ${withoutPassword(databaseUrl)}: ${(error as Error).message}. Check that the database is reachable and the user may create schemas and tables.`,
    );
  }
  return {
    home: options.home,
    landingDir: options.landingDir,
    landing,
    staging,
    settings,
    runner,
    databaseUrl,
    async close() {
      await runner.close();
      await server?.stop();
    },
  };
}

async function startEmbedded(dataDir: string, io: CliIo): Promise<LocalPostgres> {
  return await startLocalPostgres({
    dataDir,
    preferredPort: EMBEDDED_PORT,
    onNotice: (message) => io.stderr(`${message}\n`),
  });
}

/** The project ID every event file name in the landing folder agrees on. */
export async function inferProjectId(landing: ObjectStore): Promise<string> {
  const ids = new Set<string>();
  for await (const object of landing.list('')) {
    const name = object.key.slice(object.key.lastIndexOf('/') + 1);
    const match = /^(\d+)_\d{4}-\d{2}-\d{2}_\d{1,2}#\d+\.json(\.gz)?$/.exec(name);
    if (match?.[1]) ids.add(match[1]);
    if (ids.size > 1) break;
  }
  if (ids.size === 1) return [...ids][0]!;
  if (ids.size === 0) {
    throw new UsageError(
      'No Amplitude event files (<projectId>_<yyyy-MM-dd>_<H>#<n>.json.gz) in the landing folder to infer the project ID from: pass --project-id.',
    );
  }
  throw new UsageError(
    `The landing folder holds files of several projects (${[...ids].join(', ')}): pass --project-id.`,
  );
}

/**
 * Connection string without its password, for every line a local mode prints: `***` in
 * summaries, nothing at all where the line is a command to copy (psql then asks for it).
 */
export function withoutPassword(url: string, mask = '***'): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = mask;
    return parsed.toString();
  } catch {
    return '(unparseable database URL)';
  }
}
