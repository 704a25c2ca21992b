import type { BatchManifest } from '../../format/manifest.ts';
import type { Feed } from '../../schema/columns.ts';
import { loadTimeRead } from '../../sql/load.ts';
import { countsAttempt, failureClassOf } from '../../warehouse/failure-class.ts';
import { loadErrorReportOf } from '../../warehouse/load-errors.ts';
import { statementIdOf } from '../../warehouse/sql-runner.ts';
import { errorFacts, failureKindOf } from './errors.ts';
import { finishLoaded, recordBatchFailure, recordStop } from './failures.ts';
import { loadBatchOf, prepareLoadTransaction, readLedger } from './load-transaction.ts';
import { type LoaderRun, targetOf } from './run.ts';
import type { AttemptRecord } from './state.ts';

/** One load transaction of a group of batches, and the bookkeeping of its outcome. */

export type GroupOutcome = 'loaded' | 'failed' | 'stopped';

export async function loadGroup(
  run: LoaderRun,
  feed: Feed,
  manifests: readonly BatchManifest[],
  previous: Map<string, AttemptRecord | undefined>,
): Promise<GroupOutcome> {
  if (!(await run.mayStartLoad())) return 'stopped';
  const { store, runner } = run;
  const batchIds = manifests.map((manifest) => manifest.batch.batchId);
  const loadId = run.nextLoadId(feed);

  const read = loadTimeRead(manifests.map(loadBatchOf));
  const { statements, copyManifestKey: copyKey } = await prepareLoadTransaction(store, {
    dialect: runner.dialect,
    target: targetOf(run, feed),
    manifests,
    loadId,
  });

  const submitted = run.clock().getTime();
  let statementId: string;
  let committedAt: number;
  try {
    ({ statementId } = await runner.transaction(statements, { clientToken: loadId }));
    committedAt = run.clock().getTime();
  } catch (error) {
    // Only a failure of the batches' own data counts against them (the error catalogue test
    // checks countsAttempt for every classified warehouse error).
    if (!countsAttempt(failureClassOf(error))) {
      recordStop(run, feed, batchIds, loadId, error);
      return 'stopped';
    }
    // Which file, line and column COPY rejected, read back from the warehouse (never the values).
    const filesOf = new Map(
      manifests.map((manifest) => [manifest.batch.batchId, manifest.entries.map((entry) => entry.url)]),
    );
    const loadErrors = await loadErrorReportOf(runner, {
      errorText: error instanceof Error ? error.message : String(error),
      statementId: statementIdOf(error),
      files: [...filesOf.values()].flat(),
    });
    await recordBatchFailure(run, feed, batchIds, loadId, error, previous, { loadErrors, filesOf });
    return 'failed';
  }

  // Committed. The ledger rows of this load id are the exact figures; a batch without one
  // was committed by a concurrent load (this load's ledger insert skipped it).
  const figures = new Map<
    string,
    { rows: number; duplicates: number; quarantined: number; erased: number }
  >();
  try {
    for (const row of (await readLedger(runner, targetOf(run, feed), batchIds)).values()) {
      if (row.loadId !== loadId) continue;
      figures.set(row.batchId, {
        rows: row.rowsLoaded,
        duplicates: row.duplicatesSkipped,
        quarantined: row.quarantined,
        erased: row.rowsErased,
      });
    }
  } catch (error) {
    // The load is committed; only its figures are missing from this summary.
    run.errors.push({ feed, batchIds, loadId, kind: failureKindOf(error), ...errorFacts(error) });
  }
  const durationMs = run.clock().getTime() - submitted;

  const summary = run.feedSummary(feed);
  let rowsLoaded = 0;
  for (const manifest of manifests) {
    const { batchId } = manifest.batch;
    await finishLoaded(run, feed, batchId, previous.has(batchId));
    const figure = figures.get(batchId);
    if (!figure) {
      summary.batchesAlreadyLoaded++;
      continue;
    }
    summary.batchesLoaded++;
    const landed = manifest.batch.oldestLandedAt;
    if (manifest.batch.source === 'live' && landed !== undefined) {
      summary.landingToCommitSeconds.push(Math.max(0, Math.round((committedAt - Date.parse(landed)) / 1000)));
    }
    rowsLoaded += figure.rows;
    summary.duplicatesSkipped += figure.duplicates;
    summary.duplicatesAcrossBatches += Math.max(0, figure.duplicates - manifest.batch.duplicatesInBatch);
    summary.quarantined += figure.quarantined;
    summary.rowsErased += figure.erased;
    const upload = parseWarehouseTime(manifest.batch.maxUploadTime);
    if (upload !== undefined && upload > (run.newestUpload.get(feed) ?? Number.NEGATIVE_INFINITY)) {
      run.newestUpload.set(feed, upload);
    }
  }
  summary.rowsLoaded += rowsLoaded;
  summary.loads.push({
    loadId,
    statementId,
    batchIds,
    rowsLoaded,
    durationMs,
    ...(read ? { hoursRead: read.hours, hoursSpan: read.span, secondsRead: read.seconds } : {}),
  });
  if (copyKey) await store.delete(copyKey).catch(() => undefined);
  run.onProgress?.(run.feeds);
  return 'loaded';
}

/** `2024-01-01 12:00:00.123456` (UTC) as a Date. */
export function parseWarehouseTime(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const match = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d{1,6})?/.exec(text);
  if (!match) return undefined;
  const millis = Date.parse(`${match[1]}T${match[2]}${(match[3] ?? '').slice(0, 4)}Z`);
  return Number.isNaN(millis) ? undefined : millis;
}
