import type { Feed } from '../schema/columns.ts';

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
