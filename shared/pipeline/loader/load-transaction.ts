import { copyManifestKey } from '../../base/staging-keys.ts';
import { REDSHIFT_COPY_FORMAT_OPTIONS } from '../../format/csv.ts';
import { type BatchManifest, buildCopyManifest, parseBatchManifest } from '../../format/manifest.ts';
import { type Feed, tableName } from '../../schema/columns.ts';
import type { Dialect } from '../../sql/dialect.ts';
import { loadedBatchesQuery } from '../../sql/ledger.ts';
import { buildLoadStatements, type LoadBatch } from '../../sql/load.ts';
import { timeRangesOfBatch } from '../../sql/time-read.ts';
import type { ObjectStore } from '../../storage/object-store.ts';
import { assertTransactionFits } from '../../warehouse/data-api-limits.ts';
import type { SqlRunner } from '../../warehouse/sql-runner.ts';

/**
 * The one load transaction: the live loader and a backfill chunk both build theirs here, so
 * they write the same COPY manifest, check the same batch manifests, run the same statements
 * and read the same ledger rows. Nothing about a load is written twice.
 */

/** Where a load goes: the project's table of the feed, in the schema, read with the COPY role. */
export interface LoadTarget {
  readonly schema: string;
  readonly projectId: string;
  readonly feed: Feed;
  /** @default - the cluster's default IAM role */
  readonly copyRoleArn?: string;
}

/** Name of the target table (`events_<projectId>`), the ledger's key with the batch id. */
export function targetTableOf(target: Pick<LoadTarget, 'feed' | 'projectId'>): string {
  return tableName(target.feed, target.projectId);
}

/**
 * Reads a batch manifest and checks it is the batch its key names, of this feed and project:
 * anything else was written by another pipeline or edited by hand and must not be loaded.
 * Throws `ManifestValidationError` or an `Error` that says what is wrong.
 */
export function parseBatchManifestFor(
  bytes: Buffer,
  key: string,
  expected: { readonly batchId: string; readonly feed: Feed; readonly projectId: string },
): BatchManifest {
  const manifest = parseBatchManifest(bytes, key);
  const { batch } = manifest;
  if (
    batch.batchId !== expected.batchId ||
    batch.feed !== expected.feed ||
    batch.projectId !== expected.projectId
  ) {
    throw new Error(
      `Batch manifest ${key} describes batch ${batch.batchId} of feed ${batch.feed}, project ${batch.projectId}, but its key says batch ${expected.batchId} of feed ${expected.feed} and this pipeline loads project ${expected.projectId}. It was written by another pipeline or edited by hand; write the batch again.`,
    );
  }
  return manifest;
}

/** What the load transaction needs from a batch manifest besides its parts. */
export function loadBatchOf(manifest: BatchManifest): LoadBatch {
  const { batch } = manifest;
  return {
    batchId: batch.batchId,
    source: batch.source,
    duplicatesInBatch: batch.duplicatesInBatch,
    quarantined: Object.values(batch.quarantined).reduce((sum, count) => sum + count, 0),
    timeRanges: timeRangesOfBatch(batch),
    ...(batch.oldestLandedAt ? { landedAt: batch.oldestLandedAt } : {}),
  };
}

export interface LoadTransaction {
  readonly loadId: string;
  readonly batchIds: readonly string[];
  /** In order; the first is always the ledger LOCK. */
  readonly statements: readonly string[];
  /** The combined COPY manifest written for this load, when any batch has parts. */
  readonly copyManifestKey?: string;
}

/**
 * Writes the combined COPY manifest of these batches (refusing an empty list or a file listed
 * twice) and builds the transaction, refusing what the Data API would refuse (more than 40
 * statements, one over 100 KB). `loadId` names the manifest, the ledger rows and the Data
 * API ClientToken.
 */
export async function prepareLoadTransaction(
  store: ObjectStore,
  input: {
    readonly dialect: Dialect;
    readonly target: LoadTarget;
    readonly manifests: readonly BatchManifest[];
    readonly loadId: string;
  },
): Promise<LoadTransaction> {
  const { target, manifests, loadId } = input;
  // Built first: a batch set that cannot be one transaction leaves no manifest behind.
  const statementsFor = (copyManifestUrl?: string) =>
    fittingLoadStatements(input.dialect, target, manifests, loadId, copyManifestUrl);
  const entries = manifests.flatMap((manifest) => manifest.entries);
  const batchIds = manifests.map((manifest) => manifest.batch.batchId);
  if (entries.length === 0) return { loadId, batchIds, statements: statementsFor() };
  const key = copyManifestKey(loadId);
  const copyManifest = buildCopyManifest(entries);
  const statements = statementsFor(store.url(key));
  await store.put(key, `${JSON.stringify(copyManifest)}\n`, { contentType: 'application/json' });
  return { loadId, batchIds, statements, copyManifestKey: key };
}

/**
 * Splits batches into groups whose load transaction fits the Data API's limits: a group
 * whose statements would exceed them is halved until each fits (a single batch always does).
 * `fits` builds the statements of a group and says whether they were accepted.
 */
export function splitToFit<T>(batches: readonly T[], fits: (group: readonly T[]) => boolean): T[][] {
  if (batches.length <= 1 || fits(batches)) return batches.length ? [[...batches]] : [];
  const half = Math.ceil(batches.length / 2);
  return [...splitToFit(batches.slice(0, half), fits), ...splitToFit(batches.slice(half), fits)];
}

/**
 * These batches in as few load transactions as the Data API's limits allow, in order. At the
 * largest allowed MAX_BATCHES_PER_LOAD and the longest batch ids the ledger statement of one
 * transaction would pass 100 KB; the set is then split.
 */
export function groupsThatFit(
  dialect: Dialect,
  target: LoadTarget,
  manifests: readonly BatchManifest[],
): BatchManifest[][] {
  return splitToFit(manifests, (group) => {
    try {
      // The longest a manifest URL or role ARN may make the COPY statement is far below the
      // limit; the ledger statement, which grows with the batches, is what is measured.
      fittingLoadStatements(dialect, target, group, 'size-check', 's3://bucket/manifests/copy/load.json');
      return true;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 'StatementTooLarge' || code === 'TooManyStatements') return false;
      throw error;
    }
  });
}

/**
 * The load statements of these batches, refused (`StatementTooLarge`, `TooManyStatements`) when
 * the Data API would refuse them: at most 40 statements, none over 100 KB.
 */
function fittingLoadStatements(
  dialect: Dialect,
  target: LoadTarget,
  manifests: readonly BatchManifest[],
  loadId: string,
  copyManifestUrl: string | undefined,
): string[] {
  const statements = buildLoadStatements({
    dialect,
    schema: target.schema,
    projectId: target.projectId,
    feed: target.feed,
    batches: manifests.map(loadBatchOf),
    ...(copyManifestUrl ? { copyManifestUrl } : {}),
    ...(target.copyRoleArn ? { copyRoleArn: target.copyRoleArn } : {}),
    loadId,
    formatOptions: REDSHIFT_COPY_FORMAT_OPTIONS,
  });
  assertTransactionFits(statements);
  return statements;
}

/** A ledger row as the loader and the backfill report read it. */
export interface LedgerRow {
  readonly batchId: string;
  readonly loadId: string;
  readonly rowsLoaded: number;
  readonly duplicatesSkipped: number;
  readonly quarantined: number;
  /** Staged rows of erased people the load dropped. */
  readonly rowsErased: number;
}

const LEDGER_QUERY_BATCH = 200;

/**
 * The ledger rows of these batches for the target table (a row of an unknown target counts,
 * see `UNKNOWN_TARGET`), by batch id: which batches are loaded already, by which load, with
 * what figures. A few queries for any number of batches.
 */
export async function readLedger(
  runner: SqlRunner,
  target: Pick<LoadTarget, 'schema' | 'feed' | 'projectId'>,
  batchIds: readonly string[],
): Promise<Map<string, LedgerRow>> {
  const rows = new Map<string, LedgerRow>();
  const unique = [...new Set(batchIds)];
  for (let index = 0; index < unique.length; index += LEDGER_QUERY_BATCH) {
    const found = await runner.query<Record<string, unknown>>(
      loadedBatchesQuery(
        target.schema,
        targetTableOf(target),
        unique.slice(index, index + LEDGER_QUERY_BATCH),
      ),
    );
    for (const row of found) {
      rows.set(String(row.batch_id), {
        batchId: String(row.batch_id),
        loadId: String(row.load_id),
        rowsLoaded: Number(row.rows_loaded),
        duplicatesSkipped: Number(row.duplicates_skipped),
        quarantined: Number(row.quarantined),
        rowsErased: Number(row.rows_erased ?? 0),
      });
    }
  }
  return rows;
}
