import { copyManifestKey } from '../../base/staging-keys.ts';
import { REDSHIFT_COPY_FORMAT_OPTIONS } from '../../format/csv.ts';
import { type BatchManifest, buildCopyManifest } from '../../format/manifest.ts';
import type { Feed } from '../../schema/columns.ts';
import { buildLoadStatements, loadResultQuery } from '../../sql/load.ts';
import { assertTransactionFits } from '../../warehouse/data-api-limits.ts';
import { errorFacts, failureKindOf } from './errors.ts';
import { finishLoaded, recordBatchFailure, recordStop } from './failures.ts';
import type { LoaderRun } from './run.ts';
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
  const { store, runner, settings } = run;
  const batchIds = manifests.map((manifest) => manifest.batch.batchId);
  const loadId = run.nextLoadId(feed);

  const entries = manifests.flatMap((manifest) => manifest.entries);
  const copyKey = copyManifestKey(loadId);
  let copyManifestUrl: string | undefined;
  if (entries.length > 0) {
    await store.put(copyKey, JSON.stringify(buildCopyManifest(entries)), { contentType: 'application/json' });
    copyManifestUrl = store.url(copyKey);
  }
  const statements = buildLoadStatements({
    dialect: runner.dialect,
    schema: settings.schema,
    projectId: settings.projectId,
    feed,
    batches: manifests.map(({ batch }) => ({
      batchId: batch.batchId,
      source: batch.source,
      duplicatesInBatch: batch.duplicatesInBatch,
      quarantined: Object.values(batch.quarantined).reduce((sum, count) => sum + count, 0),
    })),
    ...(copyManifestUrl ? { copyManifestUrl } : {}),
    ...(settings.copyRoleArn ? { copyRoleArn: settings.copyRoleArn } : {}),
    loadId,
    formatOptions: REDSHIFT_COPY_FORMAT_OPTIONS,
  });
  // At most 40 statements, none over 100 KB: refused here rather than by the Data API.
  assertTransactionFits(statements);

  const submitted = run.clock().getTime();
  let statementId: string;
  try {
    ({ statementId } = await runner.transaction(statements, { clientToken: loadId }));
  } catch (error) {
    if (failureKindOf(error) !== 'batch') {
      recordStop(run, feed, batchIds, loadId, error);
      return 'stopped';
    }
    await recordBatchFailure(run, feed, batchIds, loadId, error, previous);
    return 'failed';
  }

  // Committed. The ledger rows of this load id are the exact figures; a batch without one
  // was committed by a concurrent load (this load's ledger insert skipped it).
  const figures = new Map<string, { rows: number; duplicates: number; quarantined: number }>();
  try {
    const rows = await runner.query<Record<string, unknown>>(loadResultQuery(settings.schema, loadId));
    for (const row of rows) {
      figures.set(String(row.batch_id), {
        rows: Number(row.rows_loaded),
        duplicates: Number(row.duplicates_skipped),
        quarantined: Number(row.quarantined),
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
    rowsLoaded += figure.rows;
    summary.duplicatesSkipped += figure.duplicates;
    summary.quarantined += figure.quarantined;
    const upload = parseWarehouseTime(manifest.batch.maxUploadTime);
    if (upload !== undefined && upload > (run.newestUpload.get(feed) ?? Number.NEGATIVE_INFINITY)) {
      run.newestUpload.set(feed, upload);
    }
  }
  summary.rowsLoaded += rowsLoaded;
  summary.loads.push({ loadId, statementId, batchIds, rowsLoaded, durationMs });
  if (copyManifestUrl) await store.delete(copyKey).catch(() => undefined);
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
