import { manifestKey } from '../../base/staging-keys.ts';
import type { Feed } from '../../schema/columns.ts';
import { type LoadErrorReport, reportForFiles } from '../../warehouse/load-errors.ts';
import { errorFacts, failureKindOf } from './errors.ts';
import type { LoaderRun } from './run.ts';
import { type AttemptRecord, attemptsKey, failureReportKey, moveManifest, recordFailure } from './state.ts';

/** Where a batch's manifest goes after a load, and what a failure leaves behind for a person. */

/** The ledger has the batch: its manifest moves to loaded/ and its failure history goes. */
export async function finishLoaded(
  run: LoaderRun,
  feed: Feed,
  batchId: string,
  failedBefore: boolean,
): Promise<void> {
  await moveManifest(run.store, feed, batchId, 'pending', 'loaded');
  if (failedBefore) {
    await run.store.delete(attemptsKey(feed, batchId));
    // Left over when a crash interrupted an earlier move to failed/.
    await run.store.delete(manifestKey('failed', feed, batchId));
    await run.store.delete(failureReportKey(feed, batchId));
  }
  run.feedSummary(feed).batchesPending--;
}

/** A failure that no batch is to blame for: nothing is counted, and no more loads start. */
export function recordStop(
  run: LoaderRun,
  feed: Feed,
  batchIds: readonly string[],
  loadId: string | undefined,
  error: unknown,
): void {
  // A permanent failure outside a load (reading the ledger) is a setup problem too.
  const kind = failureKindOf(error) === 'retryable' ? 'retryable' : 'systemic';
  run.errors.push({ feed, batchIds, ...(loadId ? { loadId } : {}), kind, ...errorFacts(error) });
  if (kind === 'systemic') run.needsAttention = true;
  run.stop(kind === 'retryable' ? 'retryable-error' : 'systemic-error');
}

export async function recordBatchFailure(
  run: LoaderRun,
  feed: Feed,
  batchIds: readonly string[],
  loadId: string,
  error: unknown,
  previous: Map<string, AttemptRecord | undefined>,
  copy: {
    /** What COPY rejected, when it rejected rows. */
    readonly loadErrors?: LoadErrorReport | undefined;
    /** The staged files of each batch, to give each batch the details of its own files. */
    readonly filesOf: ReadonlyMap<string, readonly string[]>;
  } = { filesOf: new Map() },
): Promise<void> {
  const facts = errorFacts(error);
  const { loadErrors } = copy;
  run.errors.push({ feed, batchIds, loadId, kind: 'batch', ...facts, ...(loadErrors ? { loadErrors } : {}) });
  const alone = batchIds.length === 1;
  for (const batchId of batchIds) {
    const own = loadErrors && reportForFiles(loadErrors, new Set(copy.filesOf.get(batchId) ?? []));
    const record = await recordFailure(run.store, {
      feed,
      batchId,
      previous: previous.get(batchId),
      error: own ? { ...facts, loadErrors: own } : facts,
      loadId,
      alone,
      at: run.clock(),
    });
    previous.set(batchId, record);
    // Only a failure of the batch on its own is surely its own fault.
    if (alone && record.attempts >= run.settings.maxLoadAttempts) {
      await giveUp(run, feed, batchId, { reason: 'max-load-attempts', attempts: record });
    }
  }
}

export async function giveUp(
  run: LoaderRun,
  feed: Feed,
  batchId: string,
  why:
    | { readonly reason: 'invalid-manifest'; readonly error: ReturnType<typeof errorFacts> }
    | { readonly reason: 'max-load-attempts'; readonly attempts: AttemptRecord },
): Promise<void> {
  const report = {
    batchId,
    feed,
    movedAt: run.clock().toISOString(),
    ...why,
    nextStep:
      why.reason === 'invalid-manifest'
        ? 'The manifest cannot be read as a batch of this pipeline. Write the batch again from its source files.'
        : `Loading failed ${why.attempts.attempts} times; the last error is above${why.attempts.lastError.loadErrors?.details.length ? ', and attempts.lastError.loadErrors names the file, line and column COPY rejected' : ''}. Fix the cause, then move the manifest back to ${manifestKey('pending', feed, batchId)} to load it again.`,
  };
  await run.store.put(failureReportKey(feed, batchId), JSON.stringify(report, null, 2), {
    contentType: 'application/json',
  });
  await moveManifest(run.store, feed, batchId, 'pending', 'failed');
  await run.store.delete(attemptsKey(feed, batchId));
  const summary = run.feedSummary(feed);
  summary.batchesFailed++;
  summary.batchesPending--;
  summary.failedBatchIds.push(batchId);
  run.needsAttention = true;
}
