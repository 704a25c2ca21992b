import { synthesizeBackfillDefinition } from '#cli/local/backfill-definition.ts';
import { type ChunkProgress, runBackfillLocally } from '#cli/local/state-machine.ts';
import type { Clock } from '#shared/base/clock.ts';
import { FEEDS, parseLandingKey } from '#shared/base/export-files.ts';
import { BackfillInputError, hourIndexOf, parseHourSpec } from '#shared/base/hours.ts';
import type { PipelineSettings } from '#shared/config/pipeline.ts';
import { parseBackfillRequest } from '#shared/pipeline/backfill/plan.ts';
import { type ChunkReport, reportChunk } from '#shared/pipeline/backfill/summarize.ts';
import { ensureWarehouseObjects } from '#shared/sql/ensure.ts';
import type { ObjectStore } from '#shared/storage/object-store.ts';
import type { SqlRunner } from '#shared/warehouse/sql-runner.ts';
import { type CliIo, type Command, UsageError } from '../io.ts';
import { LOCAL_CONTEXT_OPTIONS, localContextOptions, openLocalContext } from '../local/context.ts';
import { parseCommandLine, wholeNumber } from '../options.ts';

const HELP = `Usage: redshift-export local backfill --start DATE --end DATE [options]

Loads a range of hours of the landing folder exactly once, with the backfill state machine
(the definition the CDK stack deploys) run on this machine: the range is split into chunks,
each chunk is staged and loaded with the live loader's transaction, and a report is printed
as JSON. Progress goes to stderr. The exit code is 1 when a chunk failed; running the same
range again retries it, and chunks already loaded add nothing.

Options:
  --start DATE           first day (2026-01-01) or hour (2026-01-01T05), UTC, included
  --end DATE             last day or hour, UTC, included
  --chunk-hours N        hours per chunk, 1 to 168 (default 24)
  --max-concurrency N    chunks loading at once (default 2)
  --feeds LIST           events,merge_ids (default both)
  --home DIR             local state: object store, embedded PostgreSQL data (default .local)
  --landing DIR          Amplitude S3-export files (default <home>/landing)
  --landing-prefix P     subfolder of the landing folder the export files are in (default none)
  --database-url URL     use this PostgreSQL instead of the embedded one
  --project-id N         Amplitude project ID (default: inferred from the landing file names)
  --org-id N             take merged-ID files of this org only (default: any)
  --schema S             warehouse schema (default amplitude)
  -h, --help             show this help
`;

export interface LocalBackfillOptions {
  /** The staging store (the local runner's object store). */
  readonly store: ObjectStore;
  readonly landing: ObjectStore;
  readonly runner: SqlRunner;
  readonly settings: PipelineSettings;
  readonly start: string;
  readonly end: string;
  /** @default - every feed of `settings` */
  readonly feeds?: readonly string[];
  /** @default 24 */
  readonly chunkHours?: number;
  /** @default 2 */
  readonly maxConcurrency?: number;
  readonly clock?: Clock;
}

/**
 * Runs one backfill execution locally and prints its report. Returns the exit code: 0 when
 * every chunk loaded (or had nothing to load), 1 when a chunk failed, 2 for invalid input.
 */
export async function runLocalBackfill(options: LocalBackfillOptions, io: CliIo): Promise<number> {
  const { settings } = options;
  await ensureWarehouseObjects(options.runner, settings);
  const machine = synthesizeBackfillDefinition({
    settings: {
      projectId: settings.projectId,
      ...(settings.orgId !== undefined ? { orgId: settings.orgId } : {}),
      feeds: settings.feeds,
      schema: settings.schema,
      landingPrefix: settings.landingPrefix,
    },
    ...(options.maxConcurrency !== undefined ? { maxConcurrency: options.maxConcurrency } : {}),
  });
  const input = {
    start: options.start,
    end: options.end,
    ...(options.feeds ? { feeds: options.feeds } : {}),
    ...(options.chunkHours !== undefined ? { chunkHours: options.chunkHours } : {}),
  };
  const lines = chunkLines(options, io);
  const result = await runBackfillLocally({
    machine,
    landing: options.landing,
    staging: options.store,
    runner: options.runner,
    settings,
    input,
    ...(options.clock ? { clock: options.clock } : {}),
    onChunk: (progress) => lines.add(progress),
  });
  await lines.done();
  if (result.error === 'BackfillInputError') {
    io.stderr(`redshift-export local backfill: ${result.cause}\n`);
    return 2;
  }
  if (result.report) io.stdout(`${JSON.stringify(result.report, null, 2)}\n`);
  if (result.status === 'SUCCEEDED') {
    io.stderr(`${(result.output as { message?: string } | undefined)?.message ?? 'Backfill done.'}\n`);
    return 0;
  }
  io.stderr(`Backfill ${result.executionName} failed (${result.error}): ${result.cause}\n`);
  return 1;
}

/**
 * One line per chunk, in chunk order (oldest hours first, as numbered), whatever order the
 * chunks finish in; each says what the report will say of it, read from the same ledger.
 */
function chunkLines(options: LocalBackfillOptions, io: CliIo) {
  const { runner, settings } = options;
  const ready = new Map<number, Promise<string>>();
  let next = 1;
  let printed = Promise.resolve();
  return {
    add(progress: ChunkProgress) {
      ready.set(
        progress.index,
        reportChunk({ runner, schema: settings.schema, projectId: settings.projectId }, progress.chunk, {
          outcome: progress.outcome,
          durationMs: progress.durationMs,
        }).then(
          (report) => chunkLine(progress, report),
          // The ledger could not be read: the summary will fail and say why; show the outcome.
          () => chunkLine(progress, undefined),
        ),
      );
      printed = printed.then(async () => {
        for (let line = ready.get(next); line !== undefined; line = ready.get(next)) {
          ready.delete(next);
          next += 1;
          io.stderr(`${await line}\n`);
        }
      });
    },
    done: () => printed,
  };
}

function chunkLine(
  { index, total, outcome, durationMs }: ChunkProgress,
  report: ChunkReport | undefined,
): string {
  const where = `[${index}/${total}] ${outcome.feed} ${outcome.startHour}..${outcome.endHour}`;
  const seconds = `${(durationMs / 1000).toFixed(1)} s`;
  const files = `${outcome.files ?? 0} file${outcome.files === 1 ? '' : 's'}`;
  switch (report?.status ?? outcome.status) {
    case 'loaded':
      return report
        ? `${where}: loaded ${report.rowsLoaded} rows, ${report.duplicatesSkipped} duplicates skipped, ${report.quarantined} quarantined, from ${files} (${seconds})`
        : `${where}: loaded ${outcome.rowsStaged ?? 0} rows staged from ${files}; the ledger could not be read (${seconds})`;
    case 'already_loaded':
      return `${where}: already loaded (${report?.loadedEarlier?.rowsLoaded ?? 0} rows by load ${report?.loadedBy ?? ''}), nothing added, ${files} (${seconds})`;
    case 'empty':
      return `${where}: no files (${seconds})`;
    default:
      return `${where}: FAILED ${report?.error ?? outcome.error ?? ''}: ${report?.cause ?? outcome.cause ?? ''} (${seconds})`;
  }
}

const OPTIONS = {
  start: { type: 'string' },
  end: { type: 'string' },
  'chunk-hours': { type: 'string' },
  'max-concurrency': { type: 'string' },
  ...LOCAL_CONTEXT_OPTIONS,
  'org-id': { type: 'string' },
  'landing-prefix': { type: 'string' },
} as const;

/** `redshift-export local backfill ...` */
export const run: Command = async (argv, io) => {
  const values = parseCommandLine(argv, OPTIONS, HELP, io);
  if (!values) return 0;
  if (!values.start || !values.end) {
    throw new UsageError(
      `--start and --end are required (days such as 2026-01-01 or hours such as 2026-01-01T05).\n\n${HELP}`,
    );
  }
  const chunkHours = wholeNumber(values['chunk-hours'], '--chunk-hours', { min: 1, max: 168 });
  const maxConcurrency = wholeNumber(values['max-concurrency'], '--max-concurrency', { min: 1, max: 40 });
  // The range first, with the state machine's own rules: a backwards range must not cost a
  // PostgreSQL start or leave folders behind.
  try {
    parseBackfillRequest(
      { start: values.start, end: values.end, ...(chunkHours !== undefined ? { chunkHours } : {}) },
      FEEDS,
    );
  } catch (error) {
    if (!(error instanceof BackfillInputError)) throw error;
    throw new UsageError(
      error.message.replace(/\bchunkHours\b/g, '--chunk-hours').replace(/^(start|end)\b/, '--$1'),
    );
  }
  const context = await openLocalContext(localContextOptions(values, io.cwd), io);
  try {
    const days = await landingDaysOutside(
      context.landing,
      context.settings.landingPrefix,
      values.start,
      values.end,
    );
    if (days) {
      io.stderr(
        `No landing files between ${values.start} and ${values.end}: nothing to load. ${days.length > 0 ? `The landing folder has files for ${summarizeDays(days)}.` : 'The landing folder has no export files at all.'}\n`,
      );
      return 1;
    }
    return await runLocalBackfill(
      {
        store: context.staging,
        landing: context.landing,
        runner: context.runner,
        settings: context.settings,
        start: values.start,
        end: values.end,
        ...(chunkHours !== undefined ? { chunkHours } : {}),
        ...(maxConcurrency !== undefined ? { maxConcurrency } : {}),
      },
      io,
    );
  } finally {
    await context.close();
  }
};

/**
 * The days the landing folder has export files for, when none of them falls in the range
 * (undefined when some do): a range with nothing in it would otherwise run every chunk to
 * "no files" and exit 0.
 */
async function landingDaysOutside(
  landing: ObjectStore,
  prefix: string,
  start: string,
  end: string,
): Promise<string[] | undefined> {
  const first = parseHourSpec(start, 'start', 'start');
  const last = parseHourSpec(end, 'end', 'end');
  const days = new Set<string>();
  for await (const object of landing.list(prefix)) {
    const file = parseLandingKey(object, prefix);
    if (!file) continue;
    const hour = hourIndexOf(`${file.day}T${String(file.hour).padStart(2, '0')}`);
    if (hour >= first && hour <= last) return undefined;
    days.add(file.day);
  }
  return [...days].sort();
}

function summarizeDays(days: readonly string[]): string {
  return days.length <= 3 ? days.join(', ') : `${days[0]} to ${days[days.length - 1]} (${days.length} days)`;
}
