import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { systemClock } from '#shared/base/clock.ts';
import { type BatcherSummary, runBatcher } from '#shared/pipeline/batcher/batcher.ts';
import { pendingBatchStats } from '#shared/pipeline/loader/backlog.ts';
import { runLoader } from '#shared/pipeline/loader/loader.ts';
import type { LoaderSummary } from '#shared/pipeline/loader/summary.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import type { CliIo, Command } from '../io.ts';
import { connectHint, queryHint } from '../local/connect.ts';
import { type LocalContext, openLocalContext, withoutPassword } from '../local/context.ts';
import { describeHolder, localLeaseHolder, releaseLocalLeases } from '../local/leases.ts';
import { parseInterval, parseOptions } from '../options.ts';

const HELP = `Usage: redshift-export local [--once] [options]
       redshift-export local backfill --start DATE --end DATE [options]
       redshift-export local forget (--amplitude-id N | --user-id U | --device-id D) --reference REF [options]
       redshift-export local serve [--home DIR]   (keep --home's PostgreSQL running to query it)

Runs the pipeline on this machine: a folder in the Amplitude S3-export layout is batched and
loaded exactly once into PostgreSQL (an embedded server unless --database-url is given).

Options:
  --once                 one batch cycle and one load cycle, then print a JSON summary and exit
  --home DIR             local state: object store, embedded PostgreSQL data (default .local)
  --landing DIR          Amplitude S3-export files (default <home>/landing)
  --landing-prefix P     subfolder of the landing folder the export files are in (default none)
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
  'landing-prefix': { type: 'string' },
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
  if (argv[0] === 'serve') return await (await import('./local-serve.ts')).run(argv.slice(1), io);
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
      landingPrefix: values['landing-prefix'],
    },
    io,
  );
  const interrupted = io.interrupted ?? new Promise<void>(() => undefined);
  try {
    if (values.once) {
      const cycle = runCycle(context, 'both');
      const outcome = await Promise.race([cycle, interrupted.then(() => 'interrupted' as const)]);
      if (outcome === 'interrupted') {
        // The cycle goes on until the process exits; whatever it fails with now is moot.
        cycle.catch(() => undefined);
        return await stopOnSignal(context, io);
      }
      io.stdout(`${JSON.stringify(outcome)}\n`);
      io.stderr(queryHint(context));
      return reportSkips(outcome, io);
    }
    return await runScheduled(context, io, batchEveryMs, loadEveryMs);
  } finally {
    await context.close();
  }
};

/** Exit code of a `--once` run that found a lease held and so did nothing for that part. */
export const EXIT_LEASE_HELD = 3;

/**
 * A skipped part of a `--once` run is a failure the user must see: the JSON alone would
 * exit 0 with nothing done.
 */
function reportSkips(summary: CycleSummary, io: CliIo): number {
  const skips = [
    summary.batch?.skipped
      ? `nothing was batched: the batcher lease is held by ${describeHolder(summary.batch.skipped)}`
      : undefined,
    summary.load?.skipped
      ? `nothing was loaded: the loader lease is held by ${describeHolder(summary.load.skipped)}`
      : undefined,
  ].filter((line): line is string => line !== undefined);
  if (skips.length === 0) return 0;
  io.stderr(
    `${skips.map((line) => `${line[0]!.toUpperCase()}${line.slice(1)}.`).join('\n')}\nAnother run is working on this --home; run again when it has finished (a lease of a process that is gone is taken over at once).\n`,
  );
  return EXIT_LEASE_HELD;
}

/** Ctrl-C or SIGTERM mid-cycle: free the leases now, so the next run does not wait for them. */
async function stopOnSignal(context: LocalContext, io: CliIo): Promise<number> {
  const released = await releaseLocalLeases(context.staging);
  io.stderr(
    `Interrupted: ${released.length > 0 ? `released the ${released.join(' and ')} lease${released.length > 1 ? 's' : ''}` : 'no lease was held'}. What was written so far is kept; the next run goes on from there.\n`,
  );
  return 130;
}

export type CycleKind = 'batch' | 'load' | 'both';

export type CycleSummary = Awaited<ReturnType<typeof runCycle>>;

export async function runCycle(
  context: LocalContext,
  kind: CycleKind,
  options: { readonly startLoad?: () => Promise<void> } = {},
) {
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
          leaseHolder: localLeaseHolder,
          // A cycle of both loads right after anyway.
          ...(kind === 'batch' && options.startLoad ? { startLoad: options.startLoad } : {}),
        });
  const loaded =
    kind === 'batch'
      ? undefined
      : await runLoader({
          store: context.staging,
          runner: context.runner,
          settings: context.settings,
          clock,
          runId,
          leaseHolder: localLeaseHolder,
        });
  // A run that found the loader lease held did not look at the pending batches: count them
  // now rather than report 0.
  const load = loaded?.skipped ? await withPendingCounts(context, loaded) : loaded;
  return {
    runId,
    projectId: context.settings.projectId,
    ...(batch ? { batch } : {}),
    ...(load ? { load } : {}),
    database: withoutPassword(context.databaseUrl),
  };
}

async function withPendingCounts(context: LocalContext, load: LoaderSummary): Promise<LoaderSummary> {
  const stats = await pendingBatchStats(context.staging, context.settings.feeds, systemClock);
  return {
    ...load,
    feeds: load.feeds.map((feed) => ({
      ...feed,
      batchesPending: stats[feed.feed]?.count ?? feed.batchesPending,
    })),
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
      // As in AWS: a batch cycle that staged batches starts a load cycle (next, here); the
      // load interval stays the floor.
      const startLoad = async () => {
        nextLoad = Date.now();
      };
      const cycle = runCycle(context, kind, { startLoad });
      const outcome = await Promise.race([
        cycle.catch((error: unknown) => error as Error),
        stop.then(() => 'interrupted' as const),
      ]);
      if (outcome === 'interrupted') {
        cycle.catch(() => undefined);
        return await stopOnSignal(context, io);
      }
      if (outcome instanceof Error) {
        io.stderr(`[${new Date().toISOString()}] cycle failed: ${outcome.message}\n`);
      } else {
        io.stderr(`${progressLine(outcome)}\n`);
        io.stderr(connectHint(context));
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
export function progressLine(summary: CycleSummary, now = new Date()): string {
  const parts: string[] = [];
  if (summary.batch) parts.push(`batch: ${describeBatch(summary.batch)}`);
  if (summary.load) parts.push(`load: ${describeLoad(summary.load)}`);
  return `[${now.toISOString()}] ${parts.join(' | ')}`;
}

function describeBatch(batch: BatcherSummary): string {
  if (batch.skipped) return `skipped: the lease is held by ${describeHolder(batch.skipped)}`;
  const feeds = Object.entries(batch.feeds).map(([feed, f]) => {
    const quarantined = Object.values(f.quarantined).reduce((sum, n) => sum + n, 0);
    return `${feed} ${f.files} files, ${f.lines} lines -> ${f.rows} rows, ${f.duplicatesInBatch} duplicates, ${quarantined} quarantined`;
  });
  return `${feeds.join('; ') || 'nothing new'}${batch.stoppedForBudget ? ' (time budget reached, rest next cycle)' : ''}`;
}

function describeLoad(load: LoaderSummary): string {
  if (load.skipped) return `skipped: the lease is held by ${describeHolder(load.skipped)}`;
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

async function writeDemoDataIfEmpty(landingDir: string, io: CliIo): Promise<void> {
  const landing = new FileSystemObjectStore(landingDir);
  await mkdir(landingDir, { recursive: true });
  for await (const _ of landing.list('')) return;
  const { writeDemoDay } = await import('./sample.ts');
  const written = await writeDemoDay(landingDir);
  io.stderr(`The landing folder was empty: wrote a sample day (${JSON.stringify(written)}).\n`);
}
