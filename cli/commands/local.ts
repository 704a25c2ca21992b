import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type PipelineSettings, pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { type BatcherSummary, runBatcher } from '#shared/pipeline/batcher.ts';
import { systemClock } from '#shared/pipeline/clock.ts';
import { ensureWarehouseObjects, type LoaderSummary, runLoader } from '#shared/pipeline/loader.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import type { ObjectStore } from '#shared/storage/object-store.ts';
import { PostgresRunner } from '#shared/warehouse/postgres.ts';
import { type LocalPostgres, startLocalPostgres } from '../embedded-postgres.ts';
import { type CliIo, type Command, UsageError } from '../io.ts';
import { parseInterval, parseOptions } from '../options.ts';

const HELP = `Usage: redshift-export local [--once] [options]
       redshift-export local backfill --start DATE --end DATE [options]
       redshift-export local forget (--amplitude-id N | --user-id U | --device-id D) --reference REF [options]

Runs the pipeline on this machine: a folder in the Amplitude S3-export layout is batched and
loaded exactly once into PostgreSQL (an embedded server unless --database-url is given).

Options:
  --once                 one batch cycle and one load cycle, then print a JSON summary and exit
  --home DIR             local state: object store, embedded PostgreSQL data (default .local)
  --landing DIR          Amplitude S3-export files (default <home>/landing)
  --database-url URL     use this PostgreSQL instead of the embedded one
  --project-id N         Amplitude project ID (default: inferred from the landing file names)
  --org-id N             take merged-ID files of this org only (default: any)
  --feeds LIST           events,merge_ids (default both)
  --schema S             warehouse schema (default amplitude)
  --lookback-days N      days back that discovery lists (default 2)
  --batch-every D        batch cycle interval, e.g. 5m, 30s (default 5m)
  --load-every D         load cycle interval (default 10m)
  --demo                 write a sample day first when the landing folder is empty (npm start)
`;

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

const OPTIONS = {
  once: { type: 'boolean' },
  home: { type: 'string' },
  landing: { type: 'string' },
  'database-url': { type: 'string' },
  'project-id': { type: 'string' },
  'org-id': { type: 'string' },
  feeds: { type: 'string' },
  schema: { type: 'string' },
  'lookback-days': { type: 'string' },
  'batch-every': { type: 'string' },
  'load-every': { type: 'string' },
  demo: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const run: Command = async (argv, io) => {
  if (argv[0] === 'backfill') {
    const { run: backfill } = await import('./local-backfill.ts');
    return await backfill(argv.slice(1), io);
  }
  if (argv[0] === 'forget') return await (await import('./local-forget.ts')).run(argv.slice(1), io);
  const values = parseOptions(argv, OPTIONS, HELP);
  if (values.help) {
    io.stdout(HELP);
    return 0;
  }
  const batchEveryMs = parseInterval(values['batch-every'] ?? '5m', '--batch-every');
  const loadEveryMs = parseInterval(values['load-every'] ?? '10m', '--load-every');
  const home = resolve(io.cwd, values.home ?? '.local');
  const landingDir = resolve(io.cwd, values.landing ?? join(home, 'landing'));
  if (values.demo) await writeDemoDataIfEmpty(landingDir, io);

  const context = await openLocalContext(
    {
      home,
      landingDir,
      databaseUrl: values['database-url'],
      projectId: values['project-id'],
      orgId: values['org-id'],
      feeds: values.feeds,
      schema: values.schema,
      lookbackDays: values['lookback-days'],
    },
    io,
  );
  try {
    if (values.once) {
      const summary = await runCycle(context, 'both');
      io.stdout(`${JSON.stringify(summary)}\n`);
      return 0;
    }
    return await runScheduled(context, io, batchEveryMs, loadEveryMs);
  } finally {
    await context.close();
  }
};

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
      `Could not prepare the warehouse at ${redact(databaseUrl)}: ${(error as Error).message}. Check that the database is reachable and the user may create schemas and tables.`,
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

export type CycleKind = 'batch' | 'load' | 'both';

export async function runCycle(context: LocalContext, kind: CycleKind) {
  const clock = systemClock;
  const runId = randomUUID();
  const batch =
    kind === 'load'
      ? undefined
      : await runBatcher({
          landing: context.landing,
          staging: context.staging,
          settings: context.settings,
          clock,
          runId,
        });
  const load =
    kind === 'batch'
      ? undefined
      : await runLoader({
          store: context.staging,
          runner: context.runner,
          settings: context.settings,
          clock,
          runId,
        });
  return {
    runId,
    projectId: context.settings.projectId,
    ...(batch ? { batch } : {}),
    ...(load ? { load } : {}),
    database: redact(context.databaseUrl),
  };
}

async function runScheduled(context: LocalContext, io: CliIo, batchEveryMs: number, loadEveryMs: number) {
  const stop = io.interrupted ?? new Promise<void>(() => undefined);
  let stopping = false;
  void stop.then(() => {
    stopping = true;
  });
  let nextBatch = Date.now();
  let nextLoad = Date.now();
  io.stderr(
    `Running: batch every ${batchEveryMs / 1000}s, load every ${loadEveryMs / 1000}s. Landing: ${context.landingDir}. Ctrl-C stops.\n`,
  );
  while (!stopping) {
    const now = Date.now();
    const kind: CycleKind | undefined =
      now >= nextBatch && now >= nextLoad
        ? 'both'
        : now >= nextBatch
          ? 'batch'
          : now >= nextLoad
            ? 'load'
            : undefined;
    if (kind) {
      try {
        const summary = await runCycle(context, kind);
        io.stderr(`${progressLine(summary)}\n`);
        io.stderr(connectHint(context));
      } catch (error) {
        io.stderr(`[${new Date().toISOString()}] cycle failed: ${(error as Error).message}\n`);
      }
      if (kind !== 'load') nextBatch = now + batchEveryMs;
      if (kind !== 'batch') nextLoad = now + loadEveryMs;
    }
    const wait = Math.max(0, Math.min(nextBatch, nextLoad) - Date.now());
    await Promise.race([stop, new Promise((done) => setTimeout(done, wait))]);
  }
  io.stderr('Stopped.\n');
  return 0;
}

/** One human line per cycle: what was batched and loaded, per feed. */
export function progressLine(summary: Awaited<ReturnType<typeof runCycle>>, now = new Date()): string {
  const parts: string[] = [];
  if (summary.batch) parts.push(`batch: ${describeBatch(summary.batch)}`);
  if (summary.load) parts.push(`load: ${describeLoad(summary.load)}`);
  return `[${now.toISOString()}] ${parts.join(' | ')}`;
}

function describeBatch(batch: BatcherSummary): string {
  if (batch.skipped) return `skipped (another run holds the lease until ${batch.skipped.until})`;
  const feeds = Object.entries(batch.feeds).map(([feed, f]) => {
    const quarantined = Object.values(f.quarantined).reduce((sum, n) => sum + n, 0);
    return `${feed} ${f.files} files, ${f.lines} lines -> ${f.rows} rows, ${f.duplicatesInBatch} duplicates, ${quarantined} quarantined`;
  });
  return `${feeds.join('; ') || 'nothing new'}${batch.stoppedForBudget ? ' (time budget reached, rest next cycle)' : ''}`;
}

function describeLoad(load: LoaderSummary): string {
  if (load.skipped) return `skipped (another run holds the lease until ${load.skipped.expiresAt})`;
  const feeds = load.feeds.map(
    (f) =>
      `${f.feed} ${f.rowsLoaded} rows loaded, ${f.duplicatesSkipped} duplicates skipped, ${f.batchesLoaded} batches` +
      (f.batchesFailed ? `, ${f.batchesFailed} FAILED` : '') +
      (f.batchesPending ? `, ${f.batchesPending} still pending` : ''),
  );
  const freshness = load.freshnessSeconds === undefined ? '' : `; freshness ${load.freshnessSeconds}s`;
  const errors = load.errors.length
    ? `; ${load.errors.length} error(s): ${load.errors[0]?.message ?? ''}`
    : '';
  return `${feeds.join('; ') || 'nothing pending'}${freshness}${errors}`;
}

export function connectHint(context: LocalContext): string {
  const table = `${context.settings.schema}.events_${context.settings.projectId}`;
  return `  connect: psql '${redact(context.databaseUrl, '')}'  (psql asks for the password)\n  try:     SELECT event_type, count(*) FROM ${table} GROUP BY 1 ORDER BY 2 DESC LIMIT 10;\n`;
}

/**
 * Connection string without its password, for every line a local mode prints: `***` in
 * summaries, nothing at all where the line is a command to copy (psql then asks for it).
 */
export function redact(url: string, mask = '***'): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = mask;
    return parsed.toString();
  } catch {
    return '(unparseable database URL)';
  }
}

async function writeDemoDataIfEmpty(landingDir: string, io: CliIo): Promise<void> {
  const landing = new FileSystemObjectStore(landingDir);
  await mkdir(landingDir, { recursive: true });
  for await (const _ of landing.list('')) return;
  const { writeDemoDay } = await import('./sample.ts');
  const written = await writeDemoDay(landingDir);
  io.stderr(`The landing folder was empty: wrote a sample day (${JSON.stringify(written)}).\n`);
}
