import { backfillManifestKey } from '../base/staging-keys.ts';
import type { BackfillReport } from '../pipeline/backfill/summarize.ts';
import type { Feed } from '../schema/columns.ts';
import { ObjectNotFoundError, type ObjectStore } from '../storage/object-store.ts';
import type { ReasonCounts } from './run-metrics.ts';

/** The report `summarizeBackfill` wrote (`BackfillSummary.reportKey`). */
export async function readBackfillReport(store: ObjectStore, reportKey: string): Promise<BackfillReport> {
  return JSON.parse((await store.getBytes(reportKey)).toString('utf8')) as BackfillReport;
}

/**
 * Quarantine reasons of the lines the chunks of this execution loaded, per feed, from their
 * batch manifests. The ledger keeps only the total; only chunks that quarantined anything
 * are read, which is rare, so this is a handful of small reads. A manifest that is gone
 * (expired by lifecycle) is skipped: its lines still count in the total.
 */
export async function backfillQuarantineReasons(
  store: ObjectStore,
  report: Pick<BackfillReport, 'chunks'>,
): Promise<Partial<Record<Feed, ReasonCounts>>> {
  const reasons: Partial<Record<Feed, Record<string, number>>> = {};
  for (const chunk of report.chunks) {
    if (chunk.status !== 'loaded' || chunk.quarantined <= 0) continue;
    for (const batchId of chunk.batchIds) {
      let manifest: { batch?: { quarantined?: Record<string, unknown> } };
      try {
        manifest = JSON.parse(
          (await store.getBytes(backfillManifestKey(chunk.feed, batchId))).toString('utf8'),
        );
      } catch (error) {
        if (error instanceof ObjectNotFoundError) continue;
        throw error;
      }
      const counts = reasons[chunk.feed] ?? {};
      reasons[chunk.feed] = counts;
      for (const [reason, count] of Object.entries(manifest.batch?.quarantined ?? {})) {
        if (typeof count === 'number' && count > 0) counts[reason] = (counts[reason] ?? 0) + count;
      }
    }
  }
  return reasons;
}
