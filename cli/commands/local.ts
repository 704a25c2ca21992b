import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { systemClock } from '#shared/base/clock.ts';
import { type BatcherProgress, runBatcher } from '#shared/pipeline/batcher/batcher.ts';
import { pendingBatchStats } from '#shared/pipeline/loader/backlog.ts';
import { runLoader } from '#shared/pipeline/loader/loader.ts';
import type { LoaderSummary } from '#shared/pipeline/loader/summary.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import type { CliIo, Command } from '../io.ts';
import { connectHint, queryHint } from '../local/connect.ts';
import {
  LOCAL_CONTEXT_OPTIONS,
  type LocalContext,
  localContextOptions,
  openLocalContext,
  withoutPassword,
} from '../local/context.ts';
import { DEMO_PROJECT_ID, writeNextDemoHour } from '../local/demo.ts';
import { describeHolder, localLeaseHolder, releaseLocalLeases } from '../local/leases.ts';
import { ProgressLine, terminalStream } from '../local/progress.ts';
import {
  type AlreadyLoaded,
  count,
  cycleReport,
  describeBatcherProgress,
  describeLoaderProgress,
  loadedBefore,
  onceReport,
} from '../local/report.ts';
import { parseCommandLine, parseInterval } from '../options.ts';

const HELP = `Usage: redshift-export local [--once] [options]
       redshift-export local backfill --start DATE --end DATE [options]
       redshift-export local forget (--amplitude-id N | --user-id U | --device-id D) --reference REF [options]
       redshift-export local serve [--home DIR]   (keep --home's PostgreSQL running to query it)

Runs the pipeline on this machine: a folder in the Amplitude S3-export layout is batched and
loaded exactly once into PostgreSQL (an embedded server unless --database-url is given).

Options:
  --once                 one batch cycle and one load cycle, then print a JSON summary (stdout)
                         and a short one for people (stderr) and exit
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
  --demo                 write a sample day first when the landing folder is empty, then a new
                         sample hour before each batch cycle (npm start)
  -h, --help             show this help
`;

const OPTIONS = {
  ...LOCAL_CONTEXT_OPTIONS,
  once: { type: 'boolean' },
  'org-id': { type: 'string' },
  'lookback-days': { type: 'string' },
  'landing-prefix': { type: 'string' },
  'batch-every': { type: 'string' },
  'load-every': { type: 'string' },
  demo: { type: 'boolean' },
} as const;

export const run: Command = async (argv, io) => {
  if (argv[0] === 'backfill') {
    const { run: backfill } = await import('./local-backfill.ts');
    return await backfill(argv.slice(1), io);
  }
  if (argv[0] === 'forget') return await (await import('./local-forget.ts')).run(argv.slice(1), io);
  if (argv[0] === 'serve') return await (await import('./local-serve.ts')).run(argv.slice(1), io);
  const values = parseCommandLine(argv, OPTIONS, HELP, io);
  if (!values) return 0;
  const batchEveryMs = parseInterval(values['batch-every'] ?? '5m', '--batch-every');
  const loadEveryMs = parseInterval(values['load-every'] ?? '10m', '--load-every');
  const options = localContextOptions(values, io.cwd);
  const { landingDir } = options;
  const wroteDay = values.demo ? await writeDemoDataIfEmpty(landingDir, io) : false;

  const context = await openLocalContext(options, io);
  const interrupted = io.interrupted ?? new Promise<void>(() => undefined);
  const progress = new ProgressLine(io.terminal && terminalStream(io.stderr, io.terminal));
  // The demo's next hour: before every batch cycle, except right after the sample day. Only
  // into the demo's own project: a landing folder of real exports is left as it is.
  let skipDemoHour = wroteDay;
  const demoProject = context.settings.projectId === DEMO_PROJECT_ID;
  if (values.demo && !demoProject) {
    io.stderr(
      `--demo: the landing folder holds project ${context.settings.projectId}'s files, not the sample's (${DEMO_PROJECT_ID}); no sample hours are added to it.\n`,
    );
  }
  const produce =
    values.demo && demoProject
      ? async () => {
          if (skipDemoHour) {
            skipDemoHour = false;
            return;
          }
          io.stderr(`[${new Date().toISOString()}] ${await writeNextDemoHour(landingDir, new Date())}\n`);
        }
      : undefined;
  try {
    const before = await loadedBefore(context.runner, context.settings);
    if (values.once) {
      await produce?.();
      const cycle = runCycle(context, 'both', { progress });
      const outcome = await Promise.race([cycle, interrupted.then(() => 'interrupted' as const)]);
      progress.clear();
      if (outcome === 'interrupted') {
        // The cycle goes on until the process exits; whatever it fails with now is moot.
        cycle.catch(() => undefined);
        return await stopOnSignal(context, io);
      }
      io.stdout(`${JSON.stringify(outcome)}\n`);
      io.stderr(onceReport(outcome, context.home, before));
      io.stderr(queryHint(context));
      return reportSkips(outcome, io);
    }
    return await runScheduled(context, io, {
      batchEveryMs,
      loadEveryMs,
      progress,
      before,
      ...(produce ? { produce } : {}),
    });
  } finally {
    progress.clear();
    await context.close();
  }
};

/** Exit code of a `--once` run that found a lease held and so did nothing for that part. */
const EXIT_LEASE_HELD = 3;

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
  options: { readonly startLoad?: () => Promise<void>; readonly progress?: ProgressLine } = {},
) {
  const { progress } = options;
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
          ...(progress?.enabled ? { onProgress: batcherProgress(progress) } : {}),
        });
  if (kind !== 'batch') progress?.update('loading: looking for pending batches', true);
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
          ...(progress?.enabled
            ? { onProgress: (feeds) => progress.update(describeLoaderProgress(feeds)) }
            : {}),
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

/** Draws the batcher's progress; a feed's first figures always, so each feed shows up. */
function batcherProgress(progress: ProgressLine): (p: BatcherProgress) => void {
  let feed: string | undefined;
  return (p) => {
    progress.update(describeBatcherProgress(p), p.feed !== feed);
    feed = p.feed;
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

interface Schedule {
  readonly batchEveryMs: number;
  readonly loadEveryMs: number;
  readonly progress: ProgressLine;
  /** What the ledger had before the first cycle: told once, with that cycle. */
  readonly before: AlreadyLoaded | undefined;
  /** The demo's producer: called before each batch cycle. */
  readonly produce?: () => Promise<void>;
}

async function runScheduled(context: LocalContext, io: CliIo, schedule: Schedule) {
  const { batchEveryMs, loadEveryMs, progress } = schedule;
  const stop = io.interrupted ?? new Promise<void>(() => undefined);
  let stopping = false;
  void stop.then(() => {
    stopping = true;
  });
  let nextBatch = Date.now();
  let nextLoad = Date.now();
  let before = schedule.before;
  let hinted = false;
  io.stderr(
    `Running: batch every ${formatInterval(batchEveryMs)}, load every ${formatInterval(loadEveryMs)}. Landing: ${context.landingDir}. Ctrl-C stops.\n`,
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
      const cycle = (async () => {
        if (kind !== 'load') await schedule.produce?.();
        return await runCycle(context, kind, { startLoad, progress });
      })();
      const outcome = await Promise.race([
        cycle.catch((error: unknown) => error as Error),
        stop.then(() => 'interrupted' as const),
      ]);
      progress.clear();
      if (outcome === 'interrupted') {
        cycle.catch(() => undefined);
        return await stopOnSignal(context, io);
      }
      if (outcome instanceof Error) {
        io.stderr(`[${new Date().toISOString()}] cycle failed: ${outcome.message}\n`);
      } else {
        io.stderr(cycleReport(outcome, context.home, before));
        before = undefined;
        // Once, after the first cycle that worked: the server and its address stay the same.
        if (!hinted) io.stderr(connectHint(context));
        hinted = true;
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

/** `5m`, `30s`, `1h`: an interval the way --batch-every takes it. */
function formatInterval(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s >= 3600 && s % 3600 === 0) return `${s / 3600}h`;
  if (s >= 60 && s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

/** Whether it wrote the sample day (the landing folder was empty). */
async function writeDemoDataIfEmpty(landingDir: string, io: CliIo): Promise<boolean> {
  const landing = new FileSystemObjectStore(landingDir);
  await mkdir(landingDir, { recursive: true });
  for await (const _ of landing.list('')) return false;
  const { writeDemoDay } = await import('./sample.ts');
  const written = await writeDemoDay(landingDir);
  io.stderr(
    `The landing folder was empty: wrote a sample day, ${written.start} (${count(written.files, 'file')}: ${count(written.events, 'event line')} with ${count(written.duplicateEvents, 'duplicate')}, ${count(written.mergeRows, 'merged-ID row')}). A new sample hour follows before each batch cycle.\n`,
  );
  return true;
}
