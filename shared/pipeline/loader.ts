import { randomBytes } from 'node:crypto';
import type { PipelineSettings } from '../config/pipeline.ts';
import { REDSHIFT_COPY_FORMAT_OPTIONS } from '../format/csv.ts';
import { type BatchManifest, buildCopyManifest, parseBatchManifest } from '../format/manifest.ts';
import { type Feed, tableName } from '../schema/columns.ts';
import { ERASED_IDS_TABLE, ERASURES_TABLE, LEDGER_TABLE, warehouseDdl } from '../sql/ddl.ts';
import { loadedBatchesQuery, upgradeLedger } from '../sql/ledger.ts';
import { buildLoadStatements, existingTablesQuery, loadResultQuery } from '../sql/load.ts';
import { type Lease, LeaseLostError, tryAcquireLease } from '../storage/lease.ts';
import { ObjectNotFoundError, type ObjectStore } from '../storage/object-store.ts';
import type { SqlRunner } from '../warehouse/sql-runner.ts';
import type { Clock } from './clock.ts';
import { copyManifestKey, manifestKey, PREFIXES } from './layout.ts';
import { errorFacts, type FailureKind, failureKindOf } from './loader-errors.ts';
import {
  type AttemptRecord,
  attemptsKey,
  batchesWithAttempts,
  batchIdOfKey,
  failureReportKey,
  moveManifest,
  readAttempts,
  recordFailure,
} from './loader-state.ts';

export const LOADER_LEASE = 'loader';
/** Longer than the loader Lambda's timeout, so a live run never loses its lease. */
export const DEFAULT_LOADER_LEASE_TTL_MS = 15 * 60_000;

export interface LoaderOptions {
  /** The staging store: pending manifests, staged parts, state. */
  readonly store: ObjectStore;
  readonly runner: SqlRunner;
  readonly settings: PipelineSettings;
  readonly clock: Clock;
  /**
   * Names this run in load ids (which are also Data API client tokens), so it must be unique
   * per run. @default - `load-<UTC time>-<random>`
   */
  readonly runId?: string;
  /** No new load transaction starts after this long (keep it under the Lambda timeout). @default - no limit */
  readonly budgetMs?: number;
  /** @default DEFAULT_LOADER_LEASE_TTL_MS */
  readonly leaseTtlMs?: number;
}

/** One committed load transaction. */
export interface LoadRecord {
  readonly loadId: string;
  readonly statementId: string;
  readonly batchIds: readonly string[];
  readonly rowsLoaded: number;
  /** From submitting the transaction to reading back its ledger rows. */
  readonly durationMs: number;
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
}

export interface FeedLoadSummary {
  readonly feed: Feed;
  rowsLoaded: number;
  /** Lines dropped as duplicates: inside their batch, across batches, and against the table. */
  duplicatesSkipped: number;
  quarantined: number;
  batchesLoaded: number;
  /** Found in the ledger already (a replay, or a crash after commit): moved without a COPY. */
  batchesAlreadyLoaded: number;
  /** Moved to manifests/failed/ by this run. */
  batchesFailed: number;
  /** Left in manifests/pending/ after this run. */
  batchesPending: number;
  /** Now minus the newest upload time among this feed's batches loaded by this run. */
  freshnessSeconds?: number;
  readonly failedBatchIds: string[];
  readonly loads: LoadRecord[];
}

export type StopReason = 'retryable-error' | 'systemic-error' | 'budget' | 'lease-lost';

export interface LoaderSummary {
  readonly runId: string;
  /** Set when another loader holds the lease: this run did nothing (not an error). */
  readonly skipped?: { readonly reason: 'lease-held'; readonly heldBy: string; readonly expiresAt: string };
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

const RUN_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,47}$/;

function newRunId(clock: Clock): string {
  const stamp = clock()
    .toISOString()
    .replace(/[-:]|\.\d+/g, '')
    .toLowerCase();
  return `load-${stamp}-${randomBytes(3).toString('hex')}`;
}

/** `2024-01-01 12:00:00.123456` (UTC) as a Date. */
function parseWarehouseTime(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const match = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d{1,6})?/.exec(text);
  if (!match) return undefined;
  const millis = Date.parse(`${match[1]}T${match[2]}${(match[3] ?? '').slice(0, 4)}Z`);
  return Number.isNaN(millis) ? undefined : millis;
}

class LoaderRun {
  readonly store: ObjectStore;
  readonly runner: SqlRunner;
  readonly settings: PipelineSettings;
  readonly clock: Clock;
  readonly runId: string;
  readonly started: number;
  readonly budgetMs: number | undefined;
  readonly leaseTtlMs: number;
  readonly feeds: FeedLoadSummary[];
  readonly errors: LoaderError[] = [];
  lease: Lease | undefined;
  stoppedEarly: StopReason | undefined;
  needsAttention = false;
  /** Newest upload time (epoch ms) loaded by this run, per feed. */
  readonly newestUpload = new Map<Feed, number>();
  #loads = 0;

  constructor(options: LoaderOptions) {
    this.store = options.store;
    this.runner = options.runner;
    this.settings = options.settings;
    this.clock = options.clock;
    this.started = options.clock().getTime();
    this.runId = options.runId ?? newRunId(options.clock);
    if (!RUN_ID_PATTERN.test(this.runId)) {
      throw new Error(`Invalid loader runId ${JSON.stringify(this.runId)}: expected ${RUN_ID_PATTERN}.`);
    }
    this.budgetMs = options.budgetMs;
    this.leaseTtlMs = options.leaseTtlMs ?? DEFAULT_LOADER_LEASE_TTL_MS;
    this.feeds = options.settings.feeds.map((feed) => ({
      feed,
      rowsLoaded: 0,
      duplicatesSkipped: 0,
      quarantined: 0,
      batchesLoaded: 0,
      batchesAlreadyLoaded: 0,
      batchesFailed: 0,
      batchesPending: 0,
      failedBatchIds: [],
      loads: [],
    }));
  }

  feedSummary(feed: Feed): FeedLoadSummary {
    return this.feeds.find((summary) => summary.feed === feed)!;
  }

  nextLoadId(feed: Feed): string {
    this.#loads++;
    return `${this.runId}-${feed === 'events' ? 'e' : 'm'}${this.#loads}`;
  }

  stop(reason: StopReason): void {
    this.stoppedEarly ??= reason;
  }

  /** True once the run has stopped or its time budget is spent. */
  outOfTime(): boolean {
    if (this.stoppedEarly) return true;
    if (this.budgetMs !== undefined && this.clock().getTime() - this.started >= this.budgetMs) {
      this.stop('budget');
      return true;
    }
    return false;
  }

  /** May another load transaction start? Also keeps the lease alive for it. */
  async mayStartLoad(): Promise<boolean> {
    if (this.outOfTime()) return false;
    const now = this.clock().getTime();
    if (this.lease && this.lease.expiresAt.getTime() - now < this.leaseTtlMs / 2) {
      try {
        await this.lease.renew();
      } catch (error) {
        if (!(error instanceof LeaseLostError)) throw error;
        this.stop('lease-lost');
        return false;
      }
    }
    return true;
  }

  summary(skipped?: LoaderSummary['skipped']): LoaderSummary {
    const now = this.clock().getTime();
    const age = (upload: number) => Math.max(0, Math.round((now - upload) / 1000));
    for (const feed of this.feeds) {
      const upload = this.newestUpload.get(feed.feed);
      if (upload !== undefined) feed.freshnessSeconds = age(upload);
    }
    const newest = Math.max(...this.newestUpload.values());
    return {
      runId: this.runId,
      ...(skipped ? { skipped } : {}),
      feeds: this.feeds,
      errors: this.errors,
      ...(this.stoppedEarly ? { stoppedEarly: this.stoppedEarly } : {}),
      needsAttention: this.needsAttention,
      ...(this.newestUpload.size > 0 ? { freshnessSeconds: age(newest) } : {}),
      durationMs: now - this.started,
    };
  }
}

/**
 * One load cycle: for each feed, the pending batches go into the warehouse exactly once.
 * Holds the `loader` lease so that scheduled runs do not overlap (a run that finds the lease
 * held returns `skipped`); correctness never depends on it, since every load transaction
 * checks the ledger under a lock. A run that finds nothing pending makes one list call per
 * feed and no SQL.
 */
export async function runLoader(options: LoaderOptions): Promise<LoaderSummary> {
  const run = new LoaderRun(options);
  if (!(await anythingPending(run.store, run.settings.feeds))) return run.summary();

  const attempt = await tryAcquireLease(run.store, LOADER_LEASE, {
    owner: `loader:${run.runId}`,
    ttlMs: run.leaseTtlMs,
    clock: run.clock,
  });
  if (!attempt.acquired) {
    return run.summary({
      reason: 'lease-held',
      heldBy: attempt.heldBy,
      expiresAt: attempt.expiresAt.toISOString(),
    });
  }
  run.lease = attempt.lease;
  try {
    await loadPending(run);
  } finally {
    // If this fails the lease simply expires; the run's own outcome matters more.
    await attempt.lease.release().catch(() => undefined);
  }
  return run.summary();
}

/**
 * The loading itself, without the lease: for callers that serialize runs another way (tests
 * of concurrent loaders use it to show that the ledger alone prevents duplicates).
 */
export async function loadPendingBatches(options: LoaderOptions): Promise<LoaderSummary> {
  const run = new LoaderRun(options);
  await loadPending(run);
  return run.summary();
}

async function anythingPending(store: ObjectStore, feeds: readonly Feed[]): Promise<boolean> {
  for (const feed of feeds) {
    for await (const _ of store.list(`${PREFIXES.pending}${feed}/`, { pageSize: 1 })) return true;
  }
  return false;
}

async function loadPending(run: LoaderRun): Promise<void> {
  for (const feed of run.settings.feeds) {
    if (run.stoppedEarly) {
      run.feedSummary(feed).batchesPending = await countPending(run.store, feed);
      continue;
    }
    await loadFeed(run, feed);
  }
}

async function countPending(store: ObjectStore, feed: Feed): Promise<number> {
  const prefix = `${PREFIXES.pending}${feed}/`;
  let count = 0;
  for await (const object of store.list(prefix)) if (batchIdOfKey(prefix, object.key)) count++;
  return count;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let index = 0; index < items.length; index += size) result.push(items.slice(index, index + size));
  return result;
}

/**
 * Batches that never failed go first, up to `maxBatchesPerLoad` per transaction. Batches
 * that failed before are loaded one per transaction afterwards, so a batch that cannot be
 * loaded holds up only itself; when a transaction of several fails, its batches are tried
 * one by one in the same run (the one at fault is not known).
 */
async function loadFeed(run: LoaderRun, feed: Feed): Promise<void> {
  const summary = run.feedSummary(feed);
  const prefix = `${PREFIXES.pending}${feed}/`;
  const pending: string[] = [];
  for await (const object of run.store.list(prefix)) {
    const batchId = batchIdOfKey(prefix, object.key);
    if (batchId) pending.push(batchId);
  }
  summary.batchesPending = pending.length;
  if (pending.length === 0) return;

  const max = run.settings.maxBatchesPerLoad;
  const failedBefore = await batchesWithAttempts(run.store, feed);
  const fresh = pending.filter((batchId) => !failedBefore.has(batchId));
  const retry = pending.filter((batchId) => failedBefore.has(batchId));
  const previous = new Map<string, AttemptRecord | undefined>();
  const failedTogether: BatchManifest[] = [];

  for (const chunk of chunks(fresh, max)) {
    if (run.outOfTime()) return;
    const ready = await prepareBatches(run, feed, chunk, failedBefore);
    if (ready === undefined) return;
    if (ready.length === 0) continue;
    const outcome = await loadGroup(run, feed, ready, previous);
    if (outcome === 'stopped') return;
    // A batch that failed alone has had its attempt; one of several gets its own try now.
    if (outcome === 'failed' && ready.length > 1) failedTogether.push(...ready);
  }
  for (const chunk of chunks(retry, max)) {
    if (run.outOfTime()) return;
    const ready = await prepareBatches(run, feed, chunk, failedBefore);
    if (ready === undefined) return;
    for (const manifest of ready) {
      const { batchId } = manifest.batch;
      previous.set(batchId, await readAttempts(run.store, feed, batchId));
      if ((await loadGroup(run, feed, [manifest], previous)) === 'stopped') return;
    }
  }
  for (const manifest of failedTogether) {
    if ((await loadGroup(run, feed, [manifest], previous)) === 'stopped') return;
  }
}

/**
 * Reads and checks the manifests of these batches, and asks the ledger (one query) which are
 * loaded already: those move to loaded/ without any COPY. Returns the rest, or `undefined`
 * when the ledger could not be read (the run stops).
 */
async function prepareBatches(
  run: LoaderRun,
  feed: Feed,
  batchIds: readonly string[],
  failedBefore: ReadonlySet<string>,
): Promise<BatchManifest[] | undefined> {
  const manifests = await readManifests(run, feed, batchIds);
  if (manifests.size === 0) return [];
  let loaded: Set<string>;
  try {
    const rows = await run.runner.query<{ batch_id: unknown }>(
      loadedBatchesQuery(run.settings.schema, tableName(feed, run.settings.projectId), [...manifests.keys()]),
    );
    loaded = new Set(rows.map((row) => String(row.batch_id)));
  } catch (error) {
    recordStop(run, feed, [...manifests.keys()], undefined, error);
    return undefined;
  }
  const ready: BatchManifest[] = [];
  for (const [batchId, manifest] of manifests) {
    if (loaded.has(batchId)) {
      await finishLoaded(run, feed, batchId, failedBefore.has(batchId));
      run.feedSummary(feed).batchesAlreadyLoaded++;
    } else {
      ready.push(manifest);
    }
  }
  return ready;
}

async function readManifests(
  run: LoaderRun,
  feed: Feed,
  batchIds: readonly string[],
): Promise<Map<string, BatchManifest>> {
  const manifests = new Map<string, BatchManifest>();
  for (const batchId of batchIds) {
    const key = manifestKey('pending', feed, batchId);
    let bytes: Buffer;
    try {
      bytes = await run.store.getBytes(key);
    } catch (error) {
      // Moved by another run since the listing.
      if (error instanceof ObjectNotFoundError) {
        run.feedSummary(feed).batchesPending--;
        continue;
      }
      throw error;
    }
    let manifest: BatchManifest;
    try {
      manifest = parseBatchManifest(bytes, key);
      const { batch } = manifest;
      if (batch.batchId !== batchId || batch.feed !== feed || batch.projectId !== run.settings.projectId) {
        throw new Error(
          `Batch manifest ${key} describes batch ${batch.batchId} of feed ${batch.feed}, project ${batch.projectId}, but its key says batch ${batchId} of feed ${feed} and this pipeline loads project ${run.settings.projectId}. It was written by another pipeline or edited by hand; write the batch again.`,
        );
      }
    } catch (error) {
      const facts = errorFacts(error);
      run.errors.push({ feed, batchIds: [batchId], kind: 'manifest', ...facts });
      await giveUp(run, feed, batchId, { reason: 'invalid-manifest', error: facts });
      continue;
    }
    manifests.set(batchId, manifest);
  }
  return manifests;
}

type GroupOutcome = 'loaded' | 'failed' | 'stopped';

async function loadGroup(
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

/** The ledger has the batch: its manifest moves to loaded/ and its failure history goes. */
async function finishLoaded(
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
function recordStop(
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

async function recordBatchFailure(
  run: LoaderRun,
  feed: Feed,
  batchIds: readonly string[],
  loadId: string,
  error: unknown,
  previous: Map<string, AttemptRecord | undefined>,
): Promise<void> {
  const facts = errorFacts(error);
  run.errors.push({ feed, batchIds, loadId, kind: 'batch', ...facts });
  const alone = batchIds.length === 1;
  for (const batchId of batchIds) {
    const record = await recordFailure(run.store, {
      feed,
      batchId,
      previous: previous.get(batchId),
      error: facts,
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

async function giveUp(
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
        : `Loading failed ${why.attempts.attempts} times; the last error is above. Fix the cause, then move the manifest back to ${manifestKey('pending', feed, batchId)} to load it again.`,
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

export interface WarehouseObjectsOptions {
  readonly schema: string;
  readonly projectId: string;
  readonly feeds: readonly Feed[];
}

/**
 * Creates the schema, tables and ledger when any is missing (the local runner; in AWS an
 * administrator runs `setup-sql` instead, since the pipeline's user may not create tables).
 * Returns the tables that were missing.
 */
export async function ensureWarehouseObjects(
  runner: SqlRunner,
  options: WarehouseObjectsOptions,
): Promise<string[]> {
  // First, so that an old ledger's rows are attributed to the tables that exist before this
  // run creates its own.
  await upgradeLedger(runner, options.schema);
  const wanted = [
    ...options.feeds.map((feed) => tableName(feed, options.projectId)),
    LEDGER_TABLE,
    ERASURES_TABLE,
    ERASED_IDS_TABLE,
  ];
  const rows = await runner.query<{ table_name: unknown }>(existingTablesQuery(options.schema, wanted));
  const present = new Set(rows.map((row) => String(row.table_name)));
  const missing = wanted.filter((table) => !present.has(table));
  if (missing.length > 0) await runner.transaction(warehouseDdl(runner.dialect, options));
  return missing;
}
