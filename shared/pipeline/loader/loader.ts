import { leaseSkip, tryAcquireLease } from '../../storage/lease.ts';
import { LOADER_LEASE, type LoaderOptions, LoaderRun } from './run.ts';
import { anythingPending, loadPending } from './schedule.ts';
import type { LoaderSummary } from './summary.ts';

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
    ...(options.leaseHolder ? { holder: options.leaseHolder } : {}),
  });
  if (!attempt.acquired) return run.summary(leaseSkip(attempt));
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
