import { createHash } from 'node:crypto';
import type { Feed } from './export-files.ts';

/**
 * Where everything lives in the staging store. The CDK lifecycle rules and IAM grants use
 * the same prefixes, so they come from here.
 */
export const PREFIXES = {
  staging: 'staging/',
  manifests: 'manifests/',
  pending: 'manifests/pending/',
  loaded: 'manifests/loaded/',
  failed: 'manifests/failed/',
  /** Combined manifests that one load transaction COPYs from (entries only). */
  copy: 'manifests/copy/',
  quarantine: 'quarantine/',
  state: 'state/',
  processed: 'state/processed/',
  leases: 'state/leases/',
  attempts: 'state/attempts/',
  backfill: 'backfill/',
  verify: 'verify/',
} as const;

export type ManifestState = 'pending' | 'loaded' | 'failed';

/** `staging/<feed>/<day>/<batchId>/` : the batch's CSV parts go below it. */
export function stagingPrefix(feed: Feed, day: string, batchId: string): string {
  return `${PREFIXES.staging}${feed}/${day}/${batchId}/`;
}

export function manifestKey(state: ManifestState, feed: Feed, batchId: string): string {
  return `${PREFIXES.manifests}${state}/${feed}/${batchId}.json`;
}

export function quarantineKey(feed: Feed, batchId: string): string {
  return `${PREFIXES.quarantine}${feed}/${batchId}.jsonl.gz`;
}

/** Record of the landing files of one feed and one day that are already batched. */
export function processedKey(feed: Feed, day: string): string {
  return `${PREFIXES.processed}${feed}/${day}.json`;
}

export function leaseKey(name: string): string {
  return `${PREFIXES.leases}${name}.json`;
}

export function copyManifestKey(loadId: string): string {
  return `${PREFIXES.copy}${loadId}.json`;
}

/** Batch ids appear in keys and in SQL literals, so they are kept to a safe alphabet. */
export const BATCH_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,127}$/;

export function assertBatchId(batchId: string): string {
  if (!BATCH_ID_PATTERN.test(batchId)) {
    throw new Error(`Invalid batch id ${JSON.stringify(batchId)}: expected ${BATCH_ID_PATTERN}`);
  }
  return batchId;
}

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
