import { BATCH_ID_PATTERN, type ManifestState, manifestKey, PREFIXES } from '../../base/staging-keys.ts';
import type { Feed } from '../../schema/columns.ts';
import { ObjectNotFoundError, type ObjectStore } from '../../storage/object-store.ts';
import type { LoadErrorReport } from '../../warehouse/load-errors.ts';
import type { ErrorFacts } from './errors.ts';

/**
 * What the loader remembers about a batch whose load failed permanently, at
 * `state/attempts/<feed>/<batchId>.json`. Only failures counted against the batch are
 * recorded (not retryable or setup failures), so a record means "load this one alone".
 */
export interface AttemptRecord {
  readonly batchId: string;
  readonly feed: Feed;
  /** Permanent failures of load transactions that included this batch. */
  readonly attempts: number;
  readonly firstFailedAt: string;
  readonly lastFailedAt: string;
  readonly lastError: ErrorFacts & {
    /** The rows of this batch's files that COPY rejected: file, line, column, code, reason. */
    readonly loadErrors?: LoadErrorReport;
    readonly loadId: string;
    /** The batch was the only one in the failed transaction, so the failure is its own. */
    readonly alone: boolean;
  };
}

export function attemptsPrefix(feed: Feed): string {
  return `${PREFIXES.attempts}${feed}/`;
}

export function attemptsKey(feed: Feed, batchId: string): string {
  return `${attemptsPrefix(feed)}${batchId}.json`;
}

/** Beside `manifests/failed/<feed>/<batchId>.json`: why the batch was given up on. */
export function failureReportKey(feed: Feed, batchId: string): string {
  return `${PREFIXES.failed}${feed}/${batchId}.error.json`;
}

/** Batch id of `<prefix><batchId>.json`, or `undefined` for any other key under the prefix. */
export function batchIdOfKey(prefix: string, key: string): string | undefined {
  if (!key.startsWith(prefix) || !key.endsWith('.json')) return undefined;
  const batchId = key.slice(prefix.length, -'.json'.length);
  return BATCH_ID_PATTERN.test(batchId) ? batchId : undefined;
}

/** Batch ids that have an attempts record (one list call). */
export async function batchesWithAttempts(store: ObjectStore, feed: Feed): Promise<Set<string>> {
  const prefix = attemptsPrefix(feed);
  const ids = new Set<string>();
  for await (const object of store.list(prefix)) {
    const batchId = batchIdOfKey(prefix, object.key);
    if (batchId) ids.add(batchId);
  }
  return ids;
}

export async function readAttempts(
  store: ObjectStore,
  feed: Feed,
  batchId: string,
): Promise<AttemptRecord | undefined> {
  let bytes: Buffer;
  try {
    bytes = await store.getBytes(attemptsKey(feed, batchId));
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return undefined;
    throw error;
  }
  try {
    const record = JSON.parse(bytes.toString('utf8')) as Partial<AttemptRecord>;
    if (
      typeof record.attempts === 'number' &&
      Number.isSafeInteger(record.attempts) &&
      record.attempts >= 0
    ) {
      return record as AttemptRecord;
    }
  } catch {
    // Unreadable: the batch still counts as failed before (it is listed), and the next
    // failure writes a fresh record.
  }
  return undefined;
}

export async function recordFailure(
  store: ObjectStore,
  input: {
    readonly feed: Feed;
    readonly batchId: string;
    readonly previous: AttemptRecord | undefined;
    readonly error: ErrorFacts & { readonly loadErrors?: LoadErrorReport };
    readonly loadId: string;
    readonly alone: boolean;
    readonly at: Date;
  },
): Promise<AttemptRecord> {
  const at = input.at.toISOString();
  const record: AttemptRecord = {
    batchId: input.batchId,
    feed: input.feed,
    attempts: (input.previous?.attempts ?? 0) + 1,
    firstFailedAt: input.previous?.firstFailedAt ?? at,
    lastFailedAt: at,
    lastError: { ...input.error, loadId: input.loadId, alone: input.alone },
  };
  await store.put(attemptsKey(input.feed, input.batchId), JSON.stringify(record, null, 2), {
    contentType: 'application/json',
  });
  return record;
}

/**
 * Moves a batch manifest between states: copy, then delete. A crash in between leaves it in
 * both places; the next run sees it pending again and (the ledger knowing it) moves it again.
 * A source that is already gone is fine when the target exists (another run moved it).
 */
export async function moveManifest(
  store: ObjectStore,
  feed: Feed,
  batchId: string,
  from: ManifestState,
  to: ManifestState,
): Promise<void> {
  const source = manifestKey(from, feed, batchId);
  const target = manifestKey(to, feed, batchId);
  try {
    await store.copy(source, target);
  } catch (error) {
    if (!(error instanceof ObjectNotFoundError) || !(await store.head(target))) throw error;
  }
  await store.delete(source);
}
