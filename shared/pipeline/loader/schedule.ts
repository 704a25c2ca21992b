import { manifestKey, PREFIXES } from '../../base/staging-keys.ts';
import type { BatchManifest } from '../../format/manifest.ts';
import type { Feed } from '../../schema/columns.ts';
import { ObjectNotFoundError, type ObjectStore } from '../../storage/object-store.ts';
import { errorFacts } from './errors.ts';
import { finishLoaded, giveUp, recordStop } from './failures.ts';
import { groupsThatFit, parseBatchManifestFor, readLedger } from './load-transaction.ts';
import { type LoaderRun, targetOf } from './run.ts';
import { type AttemptRecord, batchesWithAttempts, batchIdOfKey, readAttempts } from './state.ts';
import { loadGroup } from './transaction.ts';

/** Which batches go into which load transaction, in what order, and when to stop. */

export async function anythingPending(store: ObjectStore, feeds: readonly Feed[]): Promise<boolean> {
  for (const feed of feeds) {
    for await (const _ of store.list(`${PREFIXES.pending}${feed}/`, { pageSize: 1 })) return true;
  }
  return false;
}

export async function loadPending(run: LoaderRun): Promise<void> {
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

/** Consecutive groups of at most `size` items: the batches of one load transaction. */
function groupsOf<T>(items: readonly T[], size: number): T[][] {
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

  for (const group of groupsOf(fresh, max)) {
    if (run.outOfTime()) return;
    const ready = await prepareBatches(run, feed, group, failedBefore);
    if (ready === undefined) return;
    // Fewer per transaction when the Data API's 100 KB per statement would not hold them.
    for (const fitting of groupsThatFit(run.runner.dialect, targetOf(run, feed), ready)) {
      const outcome = await loadGroup(run, feed, fitting, previous);
      if (outcome === 'stopped') return;
      // A batch that failed alone has had its attempt; one of several gets its own try now.
      if (outcome === 'failed' && fitting.length > 1) failedTogether.push(...fitting);
    }
  }
  for (const group of groupsOf(retry, max)) {
    if (run.outOfTime()) return;
    const ready = await prepareBatches(run, feed, group, failedBefore);
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
  let loaded: ReadonlyMap<string, unknown>;
  try {
    loaded = await readLedger(run.runner, targetOf(run, feed), [...manifests.keys()]);
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
      manifest = parseBatchManifestFor(bytes, key, { batchId, feed, projectId: run.settings.projectId });
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
