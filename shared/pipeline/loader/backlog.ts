import type { Clock } from '../../base/clock.ts';
import { PREFIXES } from '../../base/staging-keys.ts';
import type { Feed } from '../../schema/columns.ts';
import type { ObjectStore } from '../../storage/object-store.ts';
import { batchIdOfKey } from './state.ts';
import type { LoaderSummary } from './summary.ts';

export interface PendingBatchStats {
  /** Batch manifests in `manifests/pending/<feed>/`. */
  readonly count: number;
  /** Seconds since the oldest of them was written; absent when none is pending. */
  readonly oldestAgeSeconds?: number;
  /** Batch id of that oldest one. */
  readonly oldestBatchId?: string;
}

/**
 * The backlog of each feed, from one listing of its pending manifests (no object is read: a
 * manifest's write time is when its batch became loadable). A manifest moved back from
 * `failed/` by hand counts from the time it was moved.
 */
export async function pendingBatchStats(
  store: ObjectStore,
  feeds: readonly Feed[],
  clock: Clock,
): Promise<Record<Feed, PendingBatchStats>> {
  const now = clock().getTime();
  const stats = {} as Record<Feed, PendingBatchStats>;
  for (const feed of feeds) {
    const prefix = `${PREFIXES.pending}${feed}/`;
    let count = 0;
    let oldest: { time: number; batchId: string } | undefined;
    for await (const object of store.list(prefix)) {
      const batchId = batchIdOfKey(prefix, object.key);
      if (!batchId) continue;
      count++;
      const time = object.lastModified.getTime();
      if (!oldest || time < oldest.time) oldest = { time, batchId };
    }
    stats[feed] = oldest
      ? {
          count,
          oldestAgeSeconds: Math.max(0, Math.round((now - oldest.time) / 1000)),
          oldestBatchId: oldest.batchId,
        }
      : { count };
  }
  return stats;
}

/**
 * The backlog after a loader run, for the pending-age alarm. A run that left nothing pending
 * needs no listing; when the listing fails, `onListingError` hears why and the result is
 * `undefined` (the run's own count is reported without an age).
 */
export async function backlogAfter(
  run: LoaderSummary,
  store: ObjectStore,
  clock: Clock,
  onListingError: (error: unknown) => void,
): Promise<Partial<Record<Feed, PendingBatchStats>> | undefined> {
  if (!run.skipped && run.feeds.every((feed) => feed.batchesPending === 0)) {
    return Object.fromEntries(run.feeds.map((feed) => [feed.feed, { count: 0 }]));
  }
  try {
    return await pendingBatchStats(
      store,
      run.feeds.map((feed) => feed.feed),
      clock,
    );
  } catch (error) {
    onListingError(error);
    return undefined;
  }
}
