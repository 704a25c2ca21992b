import { createHash } from 'node:crypto';
import { PREFIXES } from '../../base/staging-keys.ts';
import type { Feed } from '../../schema/columns.ts';

/**
 * Where a backfill keeps its files in the staging store, all below `backfill/`:
 * - `backfill/runs/<runId>/chunks.json`: the chunk list the Distributed Map reads;
 * - `backfill/runs/<runId>/report.json`: the summary report;
 * - `backfill/map-results/<map run id>/...`: the Distributed Map's ResultWriter output;
 * - `backfill/manifests/<feed>/<batchId>.json`: batch manifests. Not `manifests/pending/`,
 *   so the live loader never picks up (and races) a batch the backfill loads itself.
 */
export const BACKFILL_PREFIXES = {
  runs: `${PREFIXES.backfill}runs/`,
  mapResults: `${PREFIXES.backfill}map-results`,
  manifests: `${PREFIXES.backfill}manifests/`,
} as const;

const RUN_ID = /^[A-Za-z0-9._-]{1,80}$/;

/**
 * The run id of an execution: its name when that is safe in a key (console and CLI names
 * are), otherwise a hash of it. Execution names are unique per state machine for 90 days.
 */
export function runIdOf(executionName: string): string {
  return RUN_ID.test(executionName) && !executionName.startsWith('.')
    ? executionName
    : `run-${shortHash(executionName, 16)}`;
}

export function chunksKey(runId: string): string {
  return `${BACKFILL_PREFIXES.runs}${runId}/chunks.json`;
}

export function reportKey(runId: string): string {
  return `${BACKFILL_PREFIXES.runs}${runId}/report.json`;
}

export function backfillManifestKey(feed: Feed, batchId: string): string {
  return `${BACKFILL_PREFIXES.manifests}${feed}/${batchId}.json`;
}

export function shortHash(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}
