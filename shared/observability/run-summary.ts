import type { Logger } from '@aws-lambda-powertools/logger';
import type { BackfillPlan } from '../pipeline/backfill/plan.ts';
import type { PreparedChunk } from '../pipeline/backfill/prepare.ts';
import type { BackfillSummary } from '../pipeline/backfill/summarize.ts';
import type { BatcherSummary } from '../pipeline/batcher/batcher.ts';
import type { PendingBatchStats } from '../pipeline/loader/backlog.ts';
import type { LoaderSummary } from '../pipeline/loader/summary.ts';
import type { Feed } from '../schema/columns.ts';
import type { VerifyReport } from '../verify/verify.ts';
import type { LoadErrorReport } from '../warehouse/load-errors.ts';
import { sanitizeError, sanitizeText } from './redact.ts';

/** The `message` of every run's summary line: what the Logs Insights query filters on. */
export const RUN_SUMMARY_MESSAGE = 'run summary';

export type RunKind =
  | 'batcher'
  | 'loader'
  | 'backfill-plan'
  | 'backfill-prepare'
  | 'backfill-summarize'
  | 'verify'
  | 'export-api-pull';

/**
 * - `ok`: the run did its work.
 * - `skipped`: another run held the lease; nothing was done (not an error).
 * - `retrying`: a transient error stopped part of the work; the next run retries it.
 * - `needs_attention`: a batch was given up on or the setup is wrong; a person must act.
 * - `failed`: the invocation threw.
 */
export type RunStatus = 'ok' | 'skipped' | 'retrying' | 'needs_attention' | 'failed';

/** Ids listed in one field, comma-separated, so that a line stays one Logs Insights field each. */
const MAX_LISTED_IDS = 50;
const MAX_LISTED_ERRORS = 10;

export interface RunError {
  readonly feed?: Feed;
  readonly kind?: string;
  readonly name: string;
  readonly code?: string;
  readonly message: string;
  readonly batchIds?: string;
  readonly loadId?: string;
  /** The first rows COPY rejected (file, line, column, code, reason; never values), or why none. */
  readonly loadErrors?: readonly Readonly<Record<string, string | number>>[] | string;
}

/**
 * The one line each run logs (as `run` beside `message: "run summary"`): its figures and the
 * ids to follow it elsewhere, never data. Totals are flat fields so the Insights query can
 * show them as columns; per-feed figures are under `feeds`.
 */
export interface RunSummaryLine {
  readonly kind: RunKind;
  readonly runId: string;
  readonly status: RunStatus;
  readonly durationMs?: number;
  readonly files?: number;
  /** Rows staged by the batcher or a backfill chunk. */
  readonly rowsBatched?: number;
  readonly rowsLoaded?: number;
  readonly duplicates?: number;
  readonly quarantined?: number;
  readonly bytesIn?: number;
  readonly bytesOut?: number;
  readonly batchesWritten?: number;
  readonly batchesLoaded?: number;
  readonly batchesFailed?: number;
  readonly batchesPending?: number;
  readonly oldestPendingSeconds?: number;
  readonly freshnessSeconds?: number;
  /** The batcher staged batches and started a load (false: it tried and failed; see note). */
  readonly loadStarted?: boolean;
  /** Longest delay from a live batch's oldest file landing to its commit, among this run's. */
  readonly landingToCommitSeconds?: number;
  /**
   * Most hours of the target one load of the run read for duplicates, their widest span, and
   * the most seconds of the target's time one load read.
   */
  readonly hoursRead?: number;
  readonly hoursSpan?: number;
  readonly secondsRead?: number;
  readonly chunks?: number;
  readonly chunksFailed?: number;
  readonly executionName?: string;
  /** Comma-separated (at most 50, then `+N more`). */
  readonly batchIds?: string;
  readonly loadIds?: string;
  /** Data API statement ids, to look a load up with DescribeStatement or in SYS_QUERY_HISTORY. */
  readonly statementIds?: string;
  /** A sentence for people: why the run stopped early, what is left for later. */
  readonly note?: string;
  readonly feeds?: Readonly<Partial<Record<Feed, Readonly<Record<string, number>>>>>;
  readonly errors?: readonly RunError[];
}

const MAX_LOGGED_LOAD_ERRORS = 5;

function loggedLoadErrors(report: LoadErrorReport | undefined): RunError['loadErrors'] {
  if (!report) return undefined;
  if (report.unavailable !== undefined) return sanitizeText(report.unavailable);
  return report.details.slice(0, MAX_LOGGED_LOAD_ERRORS).map(
    (detail) =>
      compact({
        file: detail.file,
        line: detail.line,
        column: detail.column,
        code: detail.code,
        reason: sanitizeText(detail.reason),
      }) as Record<string, string | number>,
  );
}

export function listIds(ids: Iterable<string>): string | undefined {
  const all = [...new Set(ids)];
  if (all.length === 0) return undefined;
  const shown = all.slice(0, MAX_LISTED_IDS).join(',');
  return all.length > MAX_LISTED_IDS ? `${shown},+${all.length - MAX_LISTED_IDS} more` : shown;
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

/** Drops undefined fields so the line carries only what the run knows. */
function compact<T extends object>(line: T): T {
  return Object.fromEntries(Object.entries(line).filter(([, value]) => value !== undefined)) as T;
}

export function batcherRunSummary(summary: BatcherSummary): RunSummaryLine {
  const feeds = Object.entries(summary.feeds).flatMap(([feed, figures]) =>
    figures ? [[feed as Feed, figures] as const] : [],
  );
  const notes: string[] = [];
  if (summary.skipped)
    notes.push(`Another run (${summary.skipped.heldBy}) holds the lease until ${summary.skipped.expiresAt}.`);
  if (summary.stoppedForBudget) {
    const left = sum(feeds.map(([, figures]) => figures.filesLeft));
    notes.push(`Stopped at the time budget; ${left} file(s) are left for the next run.`);
  }
  if (summary.loadStart && !summary.loadStart.started) {
    notes.push(
      `Could not start the loader (${sanitizeText(summary.loadStart.error)}); its schedule loads the batches. Check the batcher's lambda:InvokeFunction permission and LOADER_FUNCTION_NAME.`,
    );
  }
  const tooOld = sum(feeds.map(([, figures]) => figures.tooOld));
  if (tooOld > 0)
    notes.push(
      `${tooOld} unbatched file(s) are older than the look-back window; only a backfill loads them.`,
    );
  return compact({
    kind: 'batcher',
    runId: summary.runId,
    status: summary.skipped ? 'skipped' : 'ok',
    durationMs: summary.durationMs,
    files: sum(feeds.map(([, figures]) => figures.files)),
    rowsBatched: sum(feeds.map(([, figures]) => figures.rows)),
    duplicates: sum(feeds.map(([, figures]) => figures.duplicatesInBatch)),
    quarantined: sum(feeds.flatMap(([, figures]) => Object.values(figures.quarantined))),
    bytesIn: sum(feeds.map(([, figures]) => figures.bytesIn)),
    bytesOut: sum(feeds.map(([, figures]) => figures.bytesOut)),
    batchesWritten: sum(feeds.map(([, figures]) => figures.batches.length)),
    batchIds: listIds(feeds.flatMap(([, figures]) => [...figures.recovered, ...figures.batches])),
    loadStarted: summary.loadStart?.started,
    note: notes.length > 0 ? notes.join(' ') : undefined,
    feeds: Object.fromEntries(
      feeds.map(([feed, figures]) => [
        feed,
        {
          files: figures.files,
          filesLeft: figures.filesLeft,
          rows: figures.rows,
          duplicates: figures.duplicatesInBatch,
          quarantined: sum(Object.values(figures.quarantined)),
          batches: figures.batches.length,
          tooOld: figures.tooOld,
        },
      ]),
    ),
  });
}

function loaderStatus(summary: LoaderSummary): RunStatus {
  if (summary.skipped) return 'skipped';
  if (summary.needsAttention) return 'needs_attention';
  if (summary.errors.length > 0 || summary.stoppedEarly === 'retryable-error') return 'retrying';
  return 'ok';
}

const STOP_NOTES: Readonly<Record<string, string>> = {
  'retryable-error': 'Stopped on a transient warehouse error; the next run retries.',
  'systemic-error': 'Stopped on a setup problem (credentials, privileges or missing tables); see errors.',
  budget: 'Stopped at the time budget; the next run continues.',
  'lease-lost': 'Stopped: the lease was lost to another run.',
};

/** The slowest landing-to-commit and the widest read of these feeds' loads, when any. */
function readFigures(feeds: LoaderSummary['feeds']): {
  landingToCommitSeconds?: number;
  hoursRead?: number;
  hoursSpan?: number;
  secondsRead?: number;
} {
  const loads = feeds.flatMap((feed) => feed.loads);
  const max = (values: readonly (number | undefined)[]) => {
    const known = values.filter((value) => value !== undefined);
    return known.length > 0 ? Math.max(...known) : undefined;
  };
  return {
    landingToCommitSeconds: max(feeds.flatMap((feed) => feed.landingToCommitSeconds)),
    hoursRead: max(loads.map((load) => load.hoursRead)),
    hoursSpan: max(loads.map((load) => load.hoursSpan)),
    secondsRead: max(loads.map((load) => load.secondsRead)),
  };
}

export function loaderRunSummary(
  summary: LoaderSummary,
  pending?: Readonly<Partial<Record<Feed, PendingBatchStats>>>,
): RunSummaryLine {
  const loads = summary.feeds.flatMap((feed) => feed.loads);
  const pendingStats = summary.feeds.map((feed) => pending?.[feed.feed]);
  const oldest = pendingStats.flatMap((stats) =>
    stats?.oldestAgeSeconds !== undefined ? [stats.oldestAgeSeconds] : [],
  );
  const notes: string[] = [];
  if (summary.skipped) {
    notes.push(`Another run (${summary.skipped.heldBy}) holds the lease until ${summary.skipped.expiresAt}.`);
  }
  if (summary.stoppedEarly)
    notes.push(STOP_NOTES[summary.stoppedEarly] ?? `Stopped early: ${summary.stoppedEarly}.`);
  return compact({
    kind: 'loader',
    runId: summary.runId,
    status: loaderStatus(summary),
    durationMs: summary.durationMs,
    rowsLoaded: sum(summary.feeds.map((feed) => feed.rowsLoaded)),
    duplicates: sum(summary.feeds.map((feed) => feed.duplicatesSkipped)),
    quarantined: sum(summary.feeds.map((feed) => feed.quarantined)),
    batchesLoaded: sum(summary.feeds.map((feed) => feed.batchesLoaded)),
    batchesFailed: sum(summary.feeds.map((feed) => feed.batchesFailed)),
    batchesPending: sum(
      summary.feeds.map((feed, index) => pendingStats[index]?.count ?? feed.batchesPending),
    ),
    oldestPendingSeconds: oldest.length > 0 ? Math.max(...oldest) : undefined,
    freshnessSeconds: summary.freshnessSeconds,
    ...readFigures(summary.feeds),
    batchIds: listIds([
      ...loads.flatMap((load) => load.batchIds),
      ...summary.feeds.flatMap((feed) => feed.failedBatchIds),
    ]),
    loadIds: listIds(loads.map((load) => load.loadId)),
    statementIds: listIds(loads.map((load) => load.statementId)),
    note: notes.length > 0 ? notes.join(' ') : undefined,
    feeds: Object.fromEntries(
      summary.feeds.map((feed, index) => [
        feed.feed,
        compact({
          rowsLoaded: feed.rowsLoaded,
          duplicates: feed.duplicatesSkipped,
          quarantined: feed.quarantined,
          batchesLoaded: feed.batchesLoaded,
          batchesAlreadyLoaded: feed.batchesAlreadyLoaded,
          batchesFailed: feed.batchesFailed,
          batchesPending: pendingStats[index]?.count ?? feed.batchesPending,
          oldestPendingSeconds: pendingStats[index]?.oldestAgeSeconds,
          freshnessSeconds: feed.freshnessSeconds,
          ...readFigures([feed]),
        }),
      ]),
    ),
    errors:
      summary.errors.length > 0
        ? summary.errors.slice(0, MAX_LISTED_ERRORS).map((error) =>
            compact({
              feed: error.feed,
              kind: error.kind,
              name: error.name,
              code: error.code,
              message: sanitizeText(error.message),
              batchIds: listIds(error.batchIds),
              loadId: error.loadId,
              loadErrors: loggedLoadErrors(error.loadErrors),
            }),
          )
        : undefined,
  });
}

export function backfillPlanRunSummary(plan: BackfillPlan, executionName: string): RunSummaryLine {
  return {
    kind: 'backfill-plan',
    runId: plan.runId,
    status: 'ok',
    executionName,
    chunks: plan.chunkCount,
    note: `${plan.start} .. ${plan.end}, feeds ${plan.feeds.join(',')}, ${plan.chunkHours} h per chunk.`,
  };
}

/** The statements are never part of it: the figures and ids are enough to follow the chunk. */
export function backfillPrepareRunSummary(
  chunk: { readonly runId: string; readonly chunkId: string; readonly feed: Feed },
  prepared: PreparedChunk,
  attempt: number,
): RunSummaryLine {
  return compact({
    kind: 'backfill-prepare',
    runId: chunk.runId,
    status: 'ok',
    files: prepared.files,
    rowsBatched: prepared.rowsStaged,
    quarantined: prepared.quarantined,
    batchIds: listIds(prepared.batchIds),
    loadIds: prepared.loadId ? prepared.loadId : undefined,
    note: `Chunk ${chunk.chunkId} attempt ${attempt}: ${
      prepared.empty ? 'no files, nothing to load' : prepared.reused ? 'staged earlier, reused' : 'staged'
    }.`,
  });
}

export function backfillSummarizeRunSummary(summary: BackfillSummary): RunSummaryLine {
  return compact({
    kind: 'backfill-summarize',
    runId: summary.runId,
    status: summary.failed > 0 ? 'needs_attention' : 'ok',
    chunks: summary.chunks,
    chunksFailed: summary.failed,
    rowsLoaded: summary.rowsLoaded,
    duplicates: summary.duplicatesSkipped,
    quarantined: summary.quarantined,
    note: sanitizeText(summary.message),
    feeds: Object.fromEntries(
      Object.entries(summary.byFeed).flatMap(([feed, totals]) =>
        totals
          ? [
              [
                feed,
                {
                  chunks: totals.chunks,
                  loaded: totals.loaded,
                  alreadyLoaded: totals.alreadyLoaded,
                  empty: totals.empty,
                  failed: totals.failed,
                  rowsLoaded: totals.rowsLoaded,
                },
              ],
            ]
          : [],
      ),
    ),
  });
}

export function verifyRunSummary(report: VerifyReport, runId: string): RunSummaryLine {
  const failing = report.checks.filter((check) => !check.ok).map((check) => check.name);
  return compact({
    kind: 'verify',
    runId,
    status: report.ok ? 'ok' : 'needs_attention',
    note: report.ok
      ? `All ${report.checks.length} checks passed.`
      : `Failing checks: ${failing.join(', ')}. Invoke the verify function for the fixes.`,
  });
}

const LEVEL: Readonly<Record<RunStatus, 'info' | 'warn' | 'error'>> = {
  ok: 'info',
  skipped: 'info',
  retrying: 'warn',
  needs_attention: 'error',
  failed: 'error',
};

/** Logs the run's one summary line at the level its status calls for. */
export function logRunSummary(logger: Logger, line: RunSummaryLine): void {
  logger[LEVEL[line.status]](RUN_SUMMARY_MESSAGE, { run: line });
}

/**
 * The summary line of an invocation that threw: the ids known so far and the error, name and
 * code kept, message cut of quoted values, no cause chain beyond what `sanitizeError` keeps.
 */
export function logRunFailure(
  logger: Logger,
  run: { readonly kind: RunKind; readonly runId?: string; readonly executionName?: string },
  error: unknown,
): void {
  const facts = sanitizeError(error);
  logger.error(RUN_SUMMARY_MESSAGE, {
    run: compact({
      kind: run.kind,
      runId: run.runId ?? 'unknown',
      status: 'failed' as const,
      executionName: run.executionName,
      errors: [compact({ name: facts.name, code: facts.code, message: facts.message })],
    }),
    error: facts,
  });
}
