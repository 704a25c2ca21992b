import { randomUUID } from 'node:crypto';
import type { Clock } from '../../base/clock.ts';
import type { LandingFile } from '../../base/export-files.ts';
import { manifestKey } from '../../base/staging-keys.ts';
import type { PipelineSettings } from '../../config/pipeline.ts';
import type { Feed } from '../../schema/columns.ts';
import {
  type Lease,
  type LeaseHolderCheck,
  type LeaseSkip,
  leaseSkip,
  withLease,
} from '../../storage/lease.ts';
import type { ObjectStore } from '../../storage/object-store.ts';
import { discover } from './discover.ts';
import { defaultWorkerCount } from './pool.ts';
import {
  closeOpenBatch,
  listOpenBatches,
  markProcessed,
  type OpenBatch,
  type OpenBatchFile,
  writeOpenBatch,
} from './state.ts';
import { batchIdFor, type StagingProgress, type WrittenBatch, writeBatch } from './write.ts';

export { defaultWorkerCount } from './pool.ts';
export {
  type BatchFile,
  batchIdFor,
  STAGED_GZIP_LEVEL,
  type WriteBatchInput,
  type WrittenBatch,
  writeBatch,
} from './write.ts';

/** Lambda's 15-minute ceiling less room to finish the batch under way and log. */
export const DEFAULT_BUDGET_MS = 12 * 60_000;
/** Many small files per batch keep COPYs few; the cap keeps one batch's work and key set bounded. */
export const DEFAULT_MAX_FILES_PER_BATCH = 500;
/**
 * Compressed landing bytes per batch (~450 MB of event JSON, ~250,000 events). The batch's
 * key set for in-batch de-duplication grows with it, so this bounds memory.
 */
export const DEFAULT_MAX_BATCH_BYTES = 64 * 1024 * 1024;
export const BATCHER_LEASE = 'batcher';
/** How long the lease outlives the budget: a run killed by the Lambda timeout frees it after this. */
const LEASE_MARGIN_MS = 5 * 60_000;
const TOO_OLD_KEYS_SHOWN = 20;

export interface RunBatcherInput {
  readonly landing: ObjectStore;
  readonly staging: ObjectStore;
  readonly settings: PipelineSettings;
  readonly clock: Clock;
  /** No new batch starts unless it is expected to finish within this. @default DEFAULT_BUDGET_MS */
  readonly budgetMs?: number;
  /** @default DEFAULT_MAX_FILES_PER_BATCH */
  readonly maxFilesPerBatch?: number;
  /** @default DEFAULT_MAX_BATCH_BYTES */
  readonly maxBatchBytes?: number;
  /** @default a random UUID */
  readonly runId?: string;
  /** Of the staged parts. @default STAGED_GZIP_LEVEL */
  readonly gzipLevel?: number;
  /** Transform threads (see WriteBatchInput.workers). @default defaultWorkerCount() */
  readonly workers?: number;
  /** Records this process in the lease and takes over one whose process is gone (the local runner). @default - TTL only */
  readonly leaseHolder?: LeaseHolderCheck;
  /**
   * Starts a load without waiting for it (the Lambda invokes the loader asynchronously; the
   * local runner runs its load cycle next), called once at the end of a run that staged
   * batches. Waiting for the loader's own schedule adds up to its whole interval to every
   * batch's delay: with it, p99 from landing to commit stays under 15 minutes at the default
   * 5/10-minute schedules (`npm run bench -- freshness`). A failure is reported, not thrown:
   * the schedule still loads the batches. @default - none: the loader's schedule alone
   */
  readonly startLoad?: () => Promise<void>;
  /**
   * Told how far the run is, after every slice of lines staged and every batch written (the
   * local runner draws a progress line from it). Called often: it must be cheap.
   * @default - none
   */
  readonly onProgress?: (progress: BatcherProgress) => void;
}

/** How far a batcher run is, across feeds: each figure counts up from 0 during the run. */
export interface BatcherProgress {
  readonly feed: Feed;
  /** Landing files read so far this run. */
  readonly files: number;
  /** Landing files this run found to batch (recovered batches included). */
  readonly filesFound: number;
  /** Input lines read so far this run. */
  readonly lines: number;
  /** Batches written so far this run. */
  readonly batches: number;
}

export interface FeedSummary {
  /** Landing files put into batches this run (unreadable ones included). */
  files: number;
  /** Input lines (see BatchMetadata.lines). */
  lines: number;
  rows: number;
  duplicatesInBatch: number;
  /** Empty lines: no record, so neither rows nor quarantined. */
  blankLines: number;
  quarantined: Record<string, number>;
  adjusted: Record<string, number>;
  bytesIn: number;
  bytesOut: number;
  /** Batch ids written this run, in order. */
  batches: string[];
  /** Batches a crashed run had started, finished first by this one. */
  recovered: string[];
  /** Staging-store keys of the quarantine files this run wrote (gzip JSON lines, one per bad line). */
  quarantineKeys: string[];
  /** Files discovered but left for the next run (time budget). */
  filesLeft: number;
  /** Unbatched files of the day before the look-back window: only a backfill loads them. */
  tooOld: number;
  /** Up to 20 of their keys. */
  tooOldKeys: string[];
}

export interface BatcherSummary {
  readonly runId: string;
  /** Set when another run held the lease: this run did nothing. */
  readonly skipped?: LeaseSkip;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly budgetMs: number;
  /** The budget ran out before every discovered file was batched; the next run continues. */
  readonly stoppedForBudget: boolean;
  readonly feeds: Partial<Record<Feed, FeedSummary>>;
  /** Set when the run staged batches and had `startLoad`: whether the load was started. */
  readonly loadStart?: { readonly started: true } | { readonly started: false; readonly error: string };
}

/**
 * One batcher cycle: under the `batcher` lease, finish any batch a crashed run left open,
 * then batch every newly landed file of each feed, oldest first, within the time budget.
 *
 * Per batch the writes are: open-batch record, parts, quarantine, pending manifest, processed
 * record, and the open-batch record's removal. The loader only reads manifests, so a crash
 * before the manifest leaves nothing visible; a crash after it leaves the open-batch record,
 * and the next run finishes that same batch (same files, same id, same `createdAt`) before it
 * looks for new files. Files are marked processed only after their manifest exists, so none
 * is lost, and none is put in two batches.
 */
export async function runBatcher(input: RunBatcherInput): Promise<BatcherSummary> {
  const runId = input.runId ?? randomUUID();
  const budgetMs = input.budgetMs ?? DEFAULT_BUDGET_MS;
  const started = input.clock();
  const outcome = await withLease(
    input.staging,
    BATCHER_LEASE,
    {
      owner: `batcher:${runId}`,
      ttlMs: budgetMs + LEASE_MARGIN_MS,
      clock: input.clock,
      ...(input.leaseHolder ? { holder: input.leaseHolder } : {}),
    },
    (lease) => new BatcherRun(input, budgetMs, started, lease).run(),
  );
  const finished = input.clock();
  const common = {
    runId,
    startedAt: started.toISOString(),
    durationMs: finished.getTime() - started.getTime(),
    budgetMs,
  };
  if (!outcome.acquired) {
    return {
      ...common,
      skipped: leaseSkip(outcome),
      stoppedForBudget: false,
      feeds: {},
    };
  }
  const staged = Object.values(outcome.result.feeds).reduce(
    (sum, feed) => sum + (feed ? feed.batches.length + feed.recovered.length : 0),
    0,
  );
  if (staged === 0 || !input.startLoad) return { ...common, ...outcome.result };
  return { ...common, ...outcome.result, loadStart: await startLoad(input.startLoad) };
}

async function startLoad(start: () => Promise<void>): Promise<NonNullable<BatcherSummary['loadStart']>> {
  try {
    await start();
    return { started: true };
  } catch (error) {
    return {
      started: false,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    };
  }
}

class BatcherRun {
  private readonly deadline: number;
  private readonly maxFiles: number;
  private readonly maxBytes: number;
  private spentMs = 0;
  private spentBytes = 0;
  /** Files of the current feed this run found to batch (see BatcherProgress.filesFound). */
  private filesFound = 0;

  constructor(
    private readonly input: RunBatcherInput,
    budgetMs: number,
    started: Date,
    private readonly lease: Lease,
  ) {
    this.deadline = started.getTime() + budgetMs;
    this.maxFiles = input.maxFilesPerBatch ?? DEFAULT_MAX_FILES_PER_BATCH;
    this.maxBytes = input.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    if (!Number.isInteger(this.maxFiles) || this.maxFiles < 1) {
      throw new RangeError(`maxFilesPerBatch must be a whole number of at least 1, got ${this.maxFiles}.`);
    }
  }

  async run(): Promise<{ stoppedForBudget: boolean; feeds: Partial<Record<Feed, FeedSummary>> }> {
    const feeds: Partial<Record<Feed, FeedSummary>> = {};
    let stoppedForBudget = false;
    // Merged-ID files are small: doing them first keeps a large event backlog from starving them.
    const order = [...this.input.settings.feeds].sort((a, b) => (a === b ? 0 : a === 'merge_ids' ? -1 : 1));
    for (const feed of order) {
      const summary = emptyFeedSummary();
      feeds[feed] = summary;
      const recovering = await listOpenBatches(this.input.staging, feed);
      this.filesFound = recovering.reduce((sum, open) => sum + open.files.length, 0);
      for (const open of recovering) {
        await this.finish(open, summary);
        summary.recovered.push(open.batchId);
        this.report(feed, summary);
      }
      const found = await discover({ ...this.input, feed });
      summary.tooOld = found.tooOld.length;
      summary.tooOldKeys = found.tooOld.slice(0, TOO_OLD_KEYS_SHOWN).map((file) => file.key);
      this.filesFound += found.files.length;
      this.report(feed, summary);
      const groups = this.group(found.files);
      for (let i = 0; i < groups.length; i++) {
        const files = groups[i]!;
        if (stoppedForBudget || !this.fits(files)) {
          stoppedForBudget = true;
          summary.filesLeft += files.length;
          continue;
        }
        const open: OpenBatch = {
          batchId: batchIdFor(feed, files),
          feed,
          createdAt: this.input.clock().toISOString(),
          files: files.map(openBatchFile),
        };
        await writeOpenBatch(this.input.staging, open);
        await this.finish(open, summary);
        summary.batches.push(open.batchId);
        this.report(feed, summary);
      }
    }
    return { stoppedForBudget, feeds };
  }

  /** The feed's progress: the batches finished so far plus what the batch under way has staged. */
  private report(feed: Feed, summary: FeedSummary, staging = { files: 0, lines: 0 }): void {
    this.input.onProgress?.({
      feed,
      files: summary.files + staging.files,
      filesFound: this.filesFound,
      lines: summary.lines + staging.lines,
      batches: summary.batches.length + summary.recovered.length,
    });
  }

  /** Writes the batch (unless its manifest already exists), marks its files processed, closes it. */
  private async finish(open: OpenBatch, summary: FeedSummary): Promise<void> {
    const { staging } = this.input;
    const startedMs = this.input.clock().getTime();
    const alreadyWritten = await manifestExists(staging, open.feed, open.batchId);
    if (!alreadyWritten) {
      const written = await writeBatch({
        landing: this.input.landing,
        staging,
        feed: open.feed,
        projectId: this.input.settings.projectId,
        files: open.files,
        batchId: open.batchId,
        source: 'live',
        clock: this.input.clock,
        partTargetBytes: this.input.settings.partTargetBytes,
        createdAt: open.createdAt,
        ...(this.input.gzipLevel !== undefined ? { gzipLevel: this.input.gzipLevel } : {}),
        workers: this.input.workers ?? defaultWorkerCount(),
        ...(this.input.onProgress
          ? { onProgress: (staging: StagingProgress) => this.report(open.feed, summary, staging) }
          : {}),
      });
      addWritten(summary, written);
    }
    summary.files += open.files.length;
    await markProcessed(staging, open.feed, open.batchId, open.files);
    await closeOpenBatch(staging, open.feed, open.batchId);
    this.spentMs += this.input.clock().getTime() - startedMs;
    this.spentBytes += open.files.reduce((sum, file) => sum + file.size, 0);
    // Long runs keep the lease; a run that lost it stops here rather than race another.
    await this.lease.renew();
  }

  /** Whether the batch is expected to end before the deadline, at this run's pace so far. */
  private fits(files: readonly LandingFile[]): boolean {
    const now = this.input.clock().getTime();
    if (now >= this.deadline) return false;
    if (this.spentBytes === 0) return true;
    const bytes = files.reduce((sum, file) => sum + file.size, 0);
    return now + (bytes * this.spentMs) / this.spentBytes <= this.deadline;
  }

  /** Consecutive files of one day, at most `maxFiles` and (unless one file alone is larger) `maxBytes`. */
  private group(files: readonly LandingFile[]): LandingFile[][] {
    const groups: LandingFile[][] = [];
    let current: LandingFile[] = [];
    let bytes = 0;
    for (const file of files) {
      const full =
        current.length > 0 &&
        (current[0]!.day !== file.day ||
          current.length >= this.maxFiles ||
          bytes + file.size > this.maxBytes);
      if (full) {
        groups.push(current);
        current = [];
        bytes = 0;
      }
      current.push(file);
      bytes += file.size;
    }
    if (current.length > 0) groups.push(current);
    return groups;
  }
}

async function manifestExists(staging: ObjectStore, feed: Feed, batchId: string): Promise<boolean> {
  for (const state of ['pending', 'loaded', 'failed'] as const) {
    if (await staging.head(manifestKey(state, feed, batchId))) return true;
  }
  return false;
}

function openBatchFile(file: LandingFile): OpenBatchFile {
  return {
    key: file.key,
    etag: file.etag,
    size: file.size,
    day: file.day,
    hour: file.hour,
    part: file.part,
    ...(file.landedAt ? { landedAt: file.landedAt } : {}),
  };
}

/** A feed's figures before anything is batched. */
export function emptyFeedSummary(): FeedSummary {
  return {
    files: 0,
    lines: 0,
    rows: 0,
    duplicatesInBatch: 0,
    blankLines: 0,
    quarantined: {},
    adjusted: {},
    bytesIn: 0,
    bytesOut: 0,
    batches: [],
    recovered: [],
    quarantineKeys: [],
    filesLeft: 0,
    tooOld: 0,
    tooOldKeys: [],
  };
}

function addWritten(summary: FeedSummary, written: WrittenBatch): void {
  const { batch } = written.manifest;
  summary.lines += batch.lines;
  summary.rows += batch.rowCount;
  summary.duplicatesInBatch += batch.duplicatesInBatch;
  summary.blankLines += written.blankLines;
  summary.bytesIn += batch.bytesIn;
  summary.bytesOut += batch.bytesOut;
  if (batch.quarantineKey !== undefined) summary.quarantineKeys.push(batch.quarantineKey);
  for (const [reason, count] of Object.entries(batch.quarantined)) {
    summary.quarantined[reason] = (summary.quarantined[reason] ?? 0) + count;
  }
  for (const [kind, count] of Object.entries(batch.adjusted)) {
    summary.adjusted[kind] = (summary.adjusted[kind] ?? 0) + count;
  }
}
