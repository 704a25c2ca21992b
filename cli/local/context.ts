import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseLandingKey } from '#shared/base/export-files.ts';
import { type PipelineSettings, pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { ensureWarehouseObjects } from '#shared/sql/ensure.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import type { ObjectStore } from '#shared/storage/object-store.ts';
import { PostgresRunner } from '#shared/warehouse/postgres.ts';
import { type CliIo, UsageError } from '../io.ts';
import { type LocalPostgres, startLocalPostgres, writeLocalPasswordFile } from './embedded-postgres.ts';

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
  /** The embedded server, when no --database-url was given. */
  readonly embedded?: EmbeddedServer;
  close(): Promise<void>;
}

export interface EmbeddedServer {
  readonly port: number;
  /** Another live run started it and keeps it running after this one ends. */
  readonly shared: boolean;
  /** libpq password file in --home, named by the printed psql line. */
  readonly passfile: string;
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
  /** Key prefix of the export files inside the landing folder (the stack's landingPrefix). */
  readonly landingPrefix?: string | undefined;
  /** False for commands that never read the landing folder (`local forget`). @default true */
  readonly requireLanding?: boolean;
}

/** The flags of every command that opens a local context (`local`, `local backfill`, `local forget`). */
export const LOCAL_CONTEXT_OPTIONS = {
  home: { type: 'string' },
  landing: { type: 'string' },
  'database-url': { type: 'string' },
  'project-id': { type: 'string' },
  feeds: { type: 'string' },
  schema: { type: 'string' },
} as const;

/** What those flags (and the ones only some commands take) say, as `openLocalContext` options. */
export function localContextOptions(
  values: { readonly [flag in keyof typeof LOCAL_CONTEXT_OPTIONS]?: string | undefined } & {
    readonly 'org-id'?: string | undefined;
    readonly 'lookback-days'?: string | undefined;
    readonly 'landing-prefix'?: string | undefined;
  },
  cwd: string,
): LocalContextOptions {
  const home = resolve(cwd, values.home ?? '.local');
  return {
    home,
    landingDir: resolve(cwd, values.landing ?? join(home, 'landing')),
    databaseUrl: values['database-url'],
    projectId: values['project-id'],
    orgId: values['org-id'],
    feeds: values.feeds,
    schema: values.schema,
    lookbackDays: values['lookback-days'],
    landingPrefix: values['landing-prefix'],
  };
}

function settingsFor(options: LocalContextOptions, projectId: string): PipelineSettings {
  return pipelineSettingsFrom(
    {
      '--project-id': projectId,
      '--org-id': options.orgId,
      '--feeds': options.feeds,
      '--schema': options.schema,
      '--lookback-days': options.lookbackDays,
      '--landing-prefix': options.landingPrefix,
    },
    {
      projectId: '--project-id',
      orgId: '--org-id',
      feeds: '--feeds',
      schema: '--schema',
      lookbackDays: '--lookback-days',
      landingPrefix: '--landing-prefix',
    },
  );
}

/**
 * Every check that needs nothing but the flags and a look at the landing folder, before
 * anything is created or started: a mistake costs no PostgreSQL start and leaves no folder.
 */
function validateLocalOptions(options: LocalContextOptions): void {
  // The project ID may still be inferred; every other setting is checked now.
  settingsFor(options, options.projectId ?? '0');
  if (options.databaseUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(options.databaseUrl);
    } catch {
      throw new UsageError(
        `--database-url must be a URL such as postgres://user:password@host:5432/database; this one cannot be read (${withoutPassword(options.databaseUrl)}).`,
      );
    }
    if (!/^postgres(ql)?:$/.test(url.protocol) || url.hostname === '') {
      throw new UsageError(
        `--database-url must be postgres://user:password@host:5432/database, got ${withoutPassword(options.databaseUrl)}.`,
      );
    }
  }
  if (options.requireLanding !== false && !existsSync(options.landingDir)) {
    throw new UsageError(
      `The landing folder ${options.landingDir} does not exist. Point --landing at the folder with the Amplitude export files, or write sample files there first: npx redshift-export sample --out ${options.landingDir}`,
    );
  }
}

/** Stores, settings and a warehouse ready to use; the warehouse objects exist afterwards. */
export async function openLocalContext(options: LocalContextOptions, io: CliIo): Promise<LocalContext> {
  validateLocalOptions(options);
  const landing = new FileSystemObjectStore(options.landingDir);
  const projectId = options.projectId ?? (await inferProjectId(landing, options.landingPrefix ?? ''));
  const settings = settingsFor(options, projectId);
  if (existsSync(options.landingDir)) await reportIgnoredFiles(landing, settings.landingPrefix, io);
  await mkdir(join(options.home, 'store'), { recursive: true });
  const staging = new FileSystemObjectStore(join(options.home, 'store'));
  let server: LocalPostgres | undefined;
  let embedded: EmbeddedServer | undefined;
  let databaseUrl = options.databaseUrl;
  if (!databaseUrl) {
    server = await startEmbedded(join(options.home, 'postgres'), io);
    databaseUrl = server.url;
    embedded = await embeddedServer(options.home, server);
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
    ...(embedded ? { embedded } : {}),
    async close() {
      await runner.close();
      await server?.stop();
    },
  };
}

export async function startEmbedded(dataDir: string, io: CliIo): Promise<LocalPostgres> {
  return await startLocalPostgres({
    dataDir,
    preferredPort: EMBEDDED_PORT,
    onNotice: (message) => io.stderr(`${message}\n`),
  });
}

/** What the printed psql line needs of the embedded server of `home`. */
export async function embeddedServer(home: string, server: LocalPostgres): Promise<EmbeddedServer> {
  const passfile = join(home, 'pgpass');
  await writeLocalPasswordFile(passfile);
  return { port: server.port, shared: server.shared, passfile };
}

/**
 * The project ID every event file name under `prefix` agrees on. Export files found only in
 * a subfolder would never be batched (discovery lists `prefix` by day): that names the
 * --landing-prefix that reaches them.
 */
export async function inferProjectId(landing: ObjectStore, prefix = ''): Promise<string> {
  const ids = new Set<string>();
  const elsewhere = new Set<string>();
  for await (const object of landing.list('')) {
    // The same reading of names as discovery's, so an ID is inferred only from files it batches.
    const folder = object.key.slice(0, object.key.lastIndexOf('/') + 1);
    const file = parseLandingKey(object, folder);
    if (file?.feed !== 'events') continue;
    if (folder === prefix) ids.add(file.owner);
    else elsewhere.add(folder);
    if (ids.size > 1) break;
  }
  if (ids.size === 1) return [...ids][0]!;
  if (ids.size === 0 && elsewhere.size > 0) {
    const folders = [...elsewhere].sort();
    throw new UsageError(
      `The Amplitude export files are in ${folders.length === 1 ? 'the subfolder' : 'subfolders'} ${folders.join(', ')} of the landing folder, not ${prefix === '' ? 'at its top' : `under ${prefix}`}: pass --landing-prefix ${folders[0]} (the stack's landingPrefix), or point --landing at that folder.`,
    );
  }
  if (ids.size === 0) {
    throw new UsageError(
      'No Amplitude event files (<projectId>_<yyyy-MM-dd>_<H>#<n>.json.gz) in the landing folder to infer the project ID from: pass --project-id.',
    );
  }
  throw new UsageError(
    `The landing folder holds files of several projects (${[...ids].join(', ')}): pass --project-id.`,
  );
}

/** Files in the landing folder that no run will ever batch for their names: said once, with examples. */
async function reportIgnoredFiles(landing: ObjectStore, prefix: string, io: CliIo): Promise<void> {
  const ignored: string[] = [];
  for await (const object of landing.list(prefix)) {
    if (parseLandingKey(object, prefix) || /_complete$/.test(object.key)) continue;
    ignored.push(object.key);
  }
  if (ignored.length === 0) return;
  io.stderr(
    `${ignored.length} file${ignored.length === 1 ? ' in the landing folder is' : 's in the landing folder are'} not named like Amplitude exports (<projectId>_<yyyy-MM-dd>_<H>#<n>.json.gz) and ${ignored.length === 1 ? 'is' : 'are'} ignored: ${ignored.slice(0, 5).join(', ')}${ignored.length > 5 ? ', ...' : ''}\n`,
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
