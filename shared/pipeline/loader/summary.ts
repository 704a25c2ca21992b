import type { Feed } from '../../schema/columns.ts';
import type { LeaseSkip } from '../../storage/lease.ts';
import type { LoadErrorReport } from '../../warehouse/load-errors.ts';
import type { FailureKind } from './errors.ts';

/** What a loader run reports: per feed, per load transaction, and every failure. */

/** One committed load transaction. */
export interface LoadRecord {
  readonly loadId: string;
  readonly statementId: string;
  readonly batchIds: readonly string[];
  readonly rowsLoaded: number;
  /** From submitting the transaction to reading back its ledger rows. */
  readonly durationMs: number;
  /**
   * What of the target the de-duplication read (`loadTimeRead`): the hours its time ranges
   * touch, the span from the first of them to the last, and the seconds of time the ranges
   * cover. What late rows cost. Absent when a batch's times were unknown.
   */
  readonly hoursRead?: number;
  readonly hoursSpan?: number;
  readonly secondsRead?: number;
}

export type LoaderErrorKind = FailureKind | 'manifest';

/** A failure, described without any row data. */
export interface LoaderError {
  readonly feed: Feed;
  readonly batchIds: readonly string[];
  readonly loadId?: string;
  readonly kind: LoaderErrorKind;
  readonly name: string;
  readonly code?: string;
  readonly message: string;
  /** When COPY rejected rows: which file, line and column, with the code and reason (no values). */
  readonly loadErrors?: LoadErrorReport;
}

export interface FeedLoadSummary {
  readonly feed: Feed;
  rowsLoaded: number;
  /** Lines dropped as duplicates: inside their batch, across batches, and against the table. */
  duplicatesSkipped: number;
  /**
   * Of `duplicatesSkipped`, those the batcher could not drop because the first copy was in
   * another batch: loaded before, or in the same load. The rest are the batches' own
   * `duplicatesInBatch`, which the batcher reported already.
   */
  duplicatesAcrossBatches: number;
  quarantined: number;
  /** Staged rows of erased people dropped (the ledger's rows_erased). */
  rowsErased: number;
  batchesLoaded: number;
  /** Found in the ledger already (a replay, or a crash after commit): moved without a COPY. */
  batchesAlreadyLoaded: number;
  /** Moved to manifests/failed/ by this run. */
  batchesFailed: number;
  /** Left in manifests/pending/ after this run. */
  batchesPending: number;
  /** Now minus the newest upload time among this feed's batches loaded by this run. */
  freshnessSeconds?: number;
  /**
   * Per live batch this run committed whose landing time is known: seconds from its oldest
   * file landing (S3 LastModified) to the commit. The freshness goal is about these.
   */
  readonly landingToCommitSeconds: number[];
  readonly failedBatchIds: string[];
  readonly loads: LoadRecord[];
}

export type StopReason = 'retryable-error' | 'systemic-error' | 'budget' | 'lease-lost';

export interface LoaderSummary {
  readonly runId: string;
  /** Set when another loader holds the lease: this run did nothing (not an error). */
  readonly skipped?: LeaseSkip;
  readonly feeds: readonly FeedLoadSummary[];
  readonly errors: readonly LoaderError[];
  /** Why the run stopped before it went through every pending batch. */
  readonly stoppedEarly?: StopReason;
  /**
   * True when a person must act: a batch was moved to failed/, or a setup problem
   * (privileges, missing tables, credentials) stopped the run. Retryable errors are not.
   */
  readonly needsAttention: boolean;
  /** Now minus the newest upload time among the batches this run loaded. */
  readonly freshnessSeconds?: number;
  readonly durationMs: number;
}

/** A feed's figures before anything is loaded. */
export function emptyFeedLoadSummary(feed: Feed): FeedLoadSummary {
  return {
    feed,
    rowsLoaded: 0,
    duplicatesSkipped: 0,
    duplicatesAcrossBatches: 0,
    quarantined: 0,
    rowsErased: 0,
    batchesLoaded: 0,
    batchesAlreadyLoaded: 0,
    batchesFailed: 0,
    batchesPending: 0,
    landingToCommitSeconds: [],
    failedBatchIds: [],
    loads: [],
  };
}

/**
 * What a person must do after a run with `needsAttention`: the batches moved to failed/ and
 * the first setup problem, in one message (ids and error facts only, never row data).
 */
export function attentionMessage(summary: LoaderSummary): string {
  const failed = summary.feeds.flatMap((feed) =>
    feed.failedBatchIds.map((batchId) => `${feed.feed}/${batchId}`),
  );
  const setup = summary.errors.filter((error) => error.kind === 'systemic');
  const parts: string[] = [];
  if (failed.length > 0) {
    parts.push(
      `${failed.length} batch(es) were moved to manifests/failed/ (${failed.join(', ')}); each has an .error.json beside it saying why and how to load it again.`,
    );
  }
  if (setup.length > 0) {
    const first = setup[0]!;
    parts.push(`Loading stopped on a setup problem [${first.code ?? first.name}]: ${first.message}`);
  }
  return `Loader run ${summary.runId} needs attention. ${parts.join(' ')}`;
}
