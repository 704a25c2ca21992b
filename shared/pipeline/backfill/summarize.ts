import type { Clock } from '../../base/clock.ts';
import { backfillManifestKey, reportKey } from '../../base/staging-keys.ts';
import { parseBatchManifest } from '../../format/manifest.ts';
import type { Feed } from '../../schema/columns.ts';
import type { ObjectStore } from '../../storage/object-store.ts';
import { isRejectedData, type LoadErrorReport, loadErrorReportOf } from '../../warehouse/load-errors.ts';
import type { SqlRunner } from '../../warehouse/sql-runner.ts';
import { errorFacts } from '../loader/errors.ts';
import { type LedgerRow, readLedger } from '../loader/load-transaction.ts';
import type { BackfillChunk, BackfillPlan } from './plan.ts';

/** What a chunk's steps end with (the Pass states at the end of the item processor). */
export interface ChunkOutcome {
  readonly chunkId: string;
  readonly feed: Feed;
  readonly startHour: string;
  readonly endHour: string;
  readonly status: 'loaded' | 'empty' | 'failed';
  readonly attempts?: number;
  readonly files?: number;
  readonly batchIds?: readonly string[];
  readonly loadId?: string | null;
  /** Rows the prepare step staged (before de-duplication against the table). */
  readonly rowsStaged?: number;
  readonly statementId?: string;
  readonly error?: string;
  readonly cause?: string;
}

/**
 * One chunk in the report. `already_loaded`: its batch was in the ledger before this run
 * (an earlier run loaded the same files), so this run added nothing for it.
 */
export interface ChunkReport {
  readonly chunkId: string;
  readonly feed: Feed;
  readonly startHour: string;
  readonly endHour: string;
  readonly status: 'loaded' | 'already_loaded' | 'empty' | 'failed';
  readonly files: number;
  readonly batchIds: readonly string[];
  readonly loadId?: string;
  readonly attempts?: number;
  readonly rowsLoaded: number;
  readonly duplicatesSkipped: number;
  readonly quarantined: number;
  /** Staged rows of people on the erasure list that the load dropped (`forget`). */
  readonly rowsErased: number;
  readonly durationMs?: number;
  /** Load id of the earlier load of an `already_loaded` chunk. */
  readonly loadedBy?: string;
  /** What that earlier load did, from its ledger rows (this run's figures above stay 0). */
  readonly loadedEarlier?: Pick<LedgerRow, 'rowsLoaded' | 'duplicatesSkipped' | 'quarantined'>;
  /** Data API statement id of the chunk's last load transaction. */
  readonly statementId?: string;
  readonly error?: string;
  readonly cause?: string;
  /** When COPY rejected rows: which file, line and column, with code and reason (never values). */
  readonly loadErrors?: LoadErrorReport;
}

export interface Totals {
  chunks: number;
  loaded: number;
  alreadyLoaded: number;
  empty: number;
  failed: number;
  rowsLoaded: number;
  duplicatesSkipped: number;
  quarantined: number;
  rowsErased: number;
}

/** `backfill/runs/<runId>/report.json` */
export interface BackfillReport {
  readonly runId: string;
  readonly start: string;
  readonly end: string;
  readonly feeds: readonly Feed[];
  readonly chunkHours: number;
  readonly createdAt: string;
  readonly totals: Totals;
  readonly byFeed: Readonly<Partial<Record<Feed, Totals>>>;
  readonly chunks: readonly ChunkReport[];
}

/** What the summarize step returns: totals, the report's address and a sentence for people. */
export interface BackfillSummary extends Totals {
  readonly runId: string;
  readonly reportKey: string;
  readonly reportUrl: string;
  readonly byFeed: Readonly<Partial<Record<Feed, Totals>>>;
  /** Ids of the first failed chunks (all of them are in the report). */
  readonly failedChunks: readonly string[];
  /** What happened; the Fail state's cause when a chunk failed. */
  readonly message: string;
}

/** Payload of the summarize Lambda. */
export interface SummarizeEvent {
  readonly plan: BackfillPlan;
  /** Key of the Distributed Map's ResultWriter manifest (`.../manifest.json`). */
  readonly resultsManifestKey: string;
}

export interface SummarizeDeps {
  /** The staging store: chunk list, map results and the report. */
  readonly store: ObjectStore;
  readonly runner: SqlRunner;
  readonly schema: string;
  /** The project whose tables the chunks loaded (the ledger is read per target table). */
  readonly projectId: string;
  readonly clock: Clock;
}

/** The Distributed Map's ResultWriter manifest. */
interface ResultManifest {
  readonly ResultFiles?: Partial<Record<'SUCCEEDED' | 'FAILED' | 'PENDING', readonly { Key: string }[]>>;
}

/** One child execution in a ResultWriter file. */
interface ChildExecution {
  readonly Input?: string;
  readonly Output?: string;
  readonly Status?: string;
  readonly Error?: string;
  readonly Cause?: string;
  readonly StartDate?: string;
  readonly StopDate?: string;
}

const LISTED_FAILURES = 10;

/**
 * Writes the report of one execution: every chunk of the plan with its outcome and, for
 * loaded chunks, the figures of its ledger row (rows loaded, duplicates skipped,
 * quarantined). A chunk with no outcome (its child execution failed outside the caught
 * steps, or never ran) counts as failed.
 */
export async function summarizeBackfill(
  deps: SummarizeDeps,
  event: SummarizeEvent,
): Promise<BackfillSummary> {
  const { plan } = event;
  const chunks = await readJson<BackfillChunk[]>(deps.store, plan.chunksKey);
  const outcomes = await readOutcomes(deps.store, event.resultsManifestKey);
  const ledger = new Map<string, LedgerRow>();
  for (const feed of plan.feeds) {
    const batchIds = [...outcomes.values()].flatMap(({ outcome }) =>
      outcome.status === 'loaded' && outcome.feed === feed ? (outcome.batchIds ?? []) : [],
    );
    const target = { schema: deps.schema, projectId: deps.projectId, feed };
    for (const [batchId, row] of await readLedger(deps.runner, target, batchIds)) {
      ledger.set(`${feed}/${batchId}`, row);
    }
  }

  const reports = await Promise.all(
    chunks.map((chunk) => withLoadErrors(deps, chunkReport(chunk, outcomes.get(chunk.chunkId), ledger))),
  );
  const byFeed: Partial<Record<Feed, Totals>> = {};
  for (const feed of plan.feeds) byFeed[feed] = totalsOf(reports.filter((report) => report.feed === feed));
  const totals = totalsOf(reports);
  const report: BackfillReport = {
    runId: plan.runId,
    start: plan.start,
    end: plan.end,
    feeds: plan.feeds,
    chunkHours: plan.chunkHours,
    createdAt: deps.clock().toISOString(),
    totals,
    byFeed,
    chunks: reports,
  };
  const key = reportKey(plan.runId);
  await deps.store.put(key, `${JSON.stringify(report, null, 1)}\n`, { contentType: 'application/json' });
  const reportUrl = deps.store.url(key);
  const failed = reports.filter((chunk) => chunk.status === 'failed');
  return {
    runId: plan.runId,
    reportKey: key,
    reportUrl,
    ...totals,
    byFeed,
    failedChunks: failed.slice(0, LISTED_FAILURES).map((chunk) => chunk.chunkId),
    message:
      failed.length > 0 ? failureMessage(failed, totals, reportUrl) : successMessage(totals, reportUrl),
  };
}

/**
 * The report of one chunk as soon as its child execution ends, read from the ledger the way
 * the summarize step reads it: progress lines then say what the final report will say.
 */
export async function reportChunk(
  deps: Pick<SummarizeDeps, 'runner' | 'schema' | 'projectId'>,
  chunk: BackfillChunk,
  result: { outcome: ChunkOutcome; durationMs?: number },
): Promise<ChunkReport> {
  const { outcome } = result;
  const batchIds = outcome.status === 'loaded' ? (outcome.batchIds ?? []) : [];
  const target = { schema: deps.schema, projectId: deps.projectId, feed: outcome.feed };
  const ledger = new Map<string, LedgerRow>();
  for (const [batchId, row] of await readLedger(deps.runner, target, batchIds)) {
    ledger.set(`${outcome.feed}/${batchId}`, row);
  }
  return chunkReport(chunk, result, ledger);
}

/**
 * A chunk whose COPY rejected rows gets the rows' file, line, column, code and reason, read back
 * as the live loader reads them (the staged files are those of the chunk's batch manifest).
 * Reading them never changes the chunk's outcome.
 */
async function withLoadErrors(deps: SummarizeDeps, report: ChunkReport): Promise<ChunkReport> {
  if (report.status !== 'failed' || report.cause === undefined || !isRejectedData(report.cause)) {
    return report;
  }
  const files: string[] = [];
  for (const batchId of report.batchIds) {
    const key = backfillManifestKey(report.feed, batchId);
    try {
      files.push(
        ...parseBatchManifest(await deps.store.getBytes(key), key).entries.map((entry) => entry.url),
      );
    } catch {
      // Gone or unreadable: the report says the details are unavailable.
    }
  }
  const loadErrors = await loadErrorReportOf(deps.runner, {
    errorText: report.cause,
    ...(report.statementId ? { statementId: report.statementId } : {}),
    files,
  });
  return loadErrors ? { ...report, loadErrors } : report;
}

function chunkReport(
  chunk: BackfillChunk,
  result: { outcome: ChunkOutcome; durationMs?: number } | undefined,
  ledger: ReadonlyMap<string, LedgerRow>,
): ChunkReport {
  const base = {
    chunkId: chunk.chunkId,
    feed: chunk.feed,
    startHour: chunk.startHour,
    endHour: chunk.endHour,
  };
  if (!result) {
    return {
      ...base,
      status: 'failed',
      files: 0,
      batchIds: [],
      rowsLoaded: 0,
      duplicatesSkipped: 0,
      quarantined: 0,
      rowsErased: 0,
      error: 'NoOutcome',
      cause: 'The chunk has no outcome in the map results: it did not run or did not finish.',
    };
  }
  const { outcome, durationMs } = result;
  const common = {
    ...base,
    files: outcome.files ?? 0,
    batchIds: outcome.batchIds ?? [],
    ...(outcome.loadId ? { loadId: outcome.loadId } : {}),
    ...(outcome.attempts !== undefined ? { attempts: outcome.attempts } : {}),
    ...(durationMs !== undefined ? { durationMs } : {}),
  };
  const nothing = { rowsLoaded: 0, duplicatesSkipped: 0, quarantined: 0, rowsErased: 0 };
  if (outcome.status !== 'loaded') {
    return {
      ...common,
      ...nothing,
      status: outcome.status,
      ...(outcome.status === 'failed' && outcome.statementId ? { statementId: outcome.statementId } : {}),
      ...(outcome.error !== undefined ? { error: outcome.error } : {}),
      // A value PostgreSQL quoted in a data error stays out of the report (errorFacts cuts it).
      ...(outcome.cause !== undefined ? { cause: errorFacts(new Error(outcome.cause)).message } : {}),
    };
  }
  const rows = (outcome.batchIds ?? []).map((batchId) => ledger.get(`${outcome.feed}/${batchId}`));
  if (rows.some((row) => row === undefined)) {
    return {
      ...common,
      ...nothing,
      status: 'failed',
      error: 'LedgerRowMissing',
      cause: `The load transaction finished but the ledger has no row for ${(outcome.batchIds ?? []).join(', ')}; run the same range again.`,
    };
  }
  const own = rows.filter((row) => row?.loadId === outcome.loadId) as LedgerRow[];
  if (own.length === 0) {
    const earlier = rows as LedgerRow[];
    return {
      ...common,
      ...nothing,
      status: 'already_loaded',
      loadedBy: earlier[0]?.loadId ?? '',
      loadedEarlier: {
        rowsLoaded: sum(earlier, 'rowsLoaded'),
        duplicatesSkipped: sum(earlier, 'duplicatesSkipped'),
        quarantined: sum(earlier, 'quarantined'),
      },
    };
  }
  return {
    ...common,
    status: 'loaded',
    rowsLoaded: sum(own, 'rowsLoaded'),
    duplicatesSkipped: sum(own, 'duplicatesSkipped'),
    quarantined: sum(own, 'quarantined'),
    rowsErased: sum(own, 'rowsErased'),
  };
}

function sum(
  rows: readonly LedgerRow[],
  figure: 'rowsLoaded' | 'duplicatesSkipped' | 'quarantined' | 'rowsErased',
): number {
  return rows.reduce((total, row) => total + row[figure], 0);
}

async function readOutcomes(
  store: ObjectStore,
  manifestKey: string,
): Promise<Map<string, { outcome: ChunkOutcome; durationMs?: number }>> {
  const manifest = await readJson<ResultManifest>(store, manifestKey);
  const outcomes = new Map<string, { outcome: ChunkOutcome; durationMs?: number }>();
  for (const status of ['SUCCEEDED', 'FAILED', 'PENDING'] as const) {
    for (const file of manifest.ResultFiles?.[status] ?? []) {
      for (const execution of await readJson<ChildExecution[]>(store, file.Key)) {
        const outcome = outcomeOf(execution);
        if (!outcome) continue;
        const durationMs = Date.parse(execution.StopDate ?? '') - Date.parse(execution.StartDate ?? '');
        outcomes.set(outcome.chunkId, { outcome, ...(Number.isFinite(durationMs) ? { durationMs } : {}) });
      }
    }
  }
  return outcomes;
}

/** A succeeded child carries the chunk's outcome; a failed or pending one only its input. */
function outcomeOf(execution: ChildExecution): ChunkOutcome | undefined {
  if (execution.Status === 'SUCCEEDED' && execution.Output)
    return JSON.parse(execution.Output) as ChunkOutcome;
  const chunk = execution.Input ? (JSON.parse(execution.Input) as Partial<BackfillChunk>) : undefined;
  if (!chunk?.chunkId || !chunk.feed || !chunk.startHour || !chunk.endHour) return undefined;
  return {
    chunkId: chunk.chunkId,
    feed: chunk.feed,
    startHour: chunk.startHour,
    endHour: chunk.endHour,
    status: 'failed',
    error: execution.Error ?? `Child execution ${execution.Status ?? 'did not finish'}`,
    cause:
      execution.Cause ?? 'The chunk did not reach an outcome; see the map run in the Step Functions console.',
  };
}

function totalsOf(reports: readonly ChunkReport[]): Totals {
  const count = (status: ChunkReport['status']) =>
    reports.filter((report) => report.status === status).length;
  return {
    chunks: reports.length,
    loaded: count('loaded'),
    alreadyLoaded: count('already_loaded'),
    empty: count('empty'),
    failed: count('failed'),
    rowsLoaded: reports.reduce((total, report) => total + report.rowsLoaded, 0),
    duplicatesSkipped: reports.reduce((total, report) => total + report.duplicatesSkipped, 0),
    quarantined: reports.reduce((total, report) => total + report.quarantined, 0),
    rowsErased: reports.reduce((total, report) => total + report.rowsErased, 0),
  };
}

function failureMessage(failed: readonly ChunkReport[], totals: Totals, reportUrl: string): string {
  const listed = failed
    .slice(0, LISTED_FAILURES)
    .map(
      (chunk) =>
        `${chunk.chunkId} (${chunk.error ?? 'failed'}: ${clip(chunk.cause ?? '', 300)}${firstRejectedRow(chunk.loadErrors)})`,
    );
  const more = failed.length > LISTED_FAILURES ? `; and ${failed.length - LISTED_FAILURES} more` : '';
  return (
    `${failed.length} of ${totals.chunks} chunks failed: ${listed.join('; ')}${more}. ` +
    `The other chunks loaded ${totals.rowsLoaded} rows. Report: ${reportUrl}. ` +
    'Fix the cause and start the same range again: chunks already loaded add nothing.'
  );
}

/** `; first rejected row: <file> line 3, column c [1207] <reason>` when the report has one. */
function firstRejectedRow(report: LoadErrorReport | undefined): string {
  const first = report?.details[0];
  if (!first) return '';
  const where = [
    first.line !== undefined ? `line ${first.line}` : '',
    first.column ? `column ${first.column}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return `; first rejected row: ${first.file}${where ? ` ${where}` : ''} [${first.code}] ${first.reason}`;
}

function successMessage(totals: Totals, reportUrl: string): string {
  return (
    `Loaded ${totals.rowsLoaded} rows from ${totals.loaded} of ${totals.chunks} chunks ` +
    `(${totals.alreadyLoaded} already loaded, ${totals.empty} without files); ` +
    `${totals.duplicatesSkipped} duplicates skipped, ${totals.quarantined} lines quarantined` +
    `${totals.rowsErased > 0 ? `, ${totals.rowsErased} rows of erased people dropped` : ''}. Report: ${reportUrl}.`
  );
}

function clip(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length)}…` : text;
}

async function readJson<T>(store: ObjectStore, key: string): Promise<T> {
  return JSON.parse((await store.getBytes(key)).toString('utf8')) as T;
}
