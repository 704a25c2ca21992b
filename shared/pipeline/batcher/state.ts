import { PREFIXES, processedKey } from '../../base/staging-keys.ts';
import type { Feed } from '../../schema/columns.ts';
import { type ObjectStore, PreconditionFailedError } from '../../storage/object-store.ts';

/** A landing file as the batcher remembers it: the etag tells a rewritten file from the one batched. */
export interface ProcessedEntry {
  readonly etag: string;
  readonly size: number;
  readonly batchId: string;
}

/** `state/processed/<feed>/<day>.json`: the landing files of one feed and day that are in a batch. */
export interface ProcessedRecord {
  readonly feed: Feed;
  readonly day: string;
  readonly files: Readonly<Record<string, ProcessedEntry>>;
}

export async function readProcessed(store: ObjectStore, feed: Feed, day: string): Promise<ProcessedRecord> {
  const loaded = await readJson<ProcessedRecord>(store, processedKey(feed, day));
  return loaded?.value ?? { feed, day, files: {} };
}

/** A file counts as processed only with the same etag: a rewritten file is batched again. */
export function isProcessed(record: ProcessedRecord, file: { key: string; etag: string }): boolean {
  return record.files[file.key]?.etag === file.etag;
}

export interface ProcessedFile {
  readonly key: string;
  readonly day: string;
  readonly etag: string;
  readonly size: number;
}

/**
 * Adds files to their day's record. Read-modify-write with a conditional put, so a writer
 * that raced us (a second batcher whose lease expired under it) is never overwritten.
 */
export async function markProcessed(
  store: ObjectStore,
  feed: Feed,
  batchId: string,
  files: readonly ProcessedFile[],
): Promise<void> {
  const byDay = new Map<string, ProcessedFile[]>();
  for (const file of files) byDay.set(file.day, [...(byDay.get(file.day) ?? []), file]);
  for (const [day, dayFiles] of [...byDay].sort(([a], [b]) => a.localeCompare(b))) {
    const key = processedKey(feed, day);
    for (let attempt = 1; ; attempt++) {
      const current = await readJson<ProcessedRecord>(store, key);
      const merged: Record<string, ProcessedEntry> = { ...(current?.value.files ?? {}) };
      for (const file of dayFiles) merged[file.key] = { etag: file.etag, size: file.size, batchId };
      const record: ProcessedRecord = { feed, day, files: sortKeys(merged) };
      try {
        await store.put(key, `${JSON.stringify(record, null, 1)}\n`, {
          contentType: 'application/json',
          ...(current ? { ifMatch: current.etag } : { ifNoneMatch: '*' }),
        });
        break;
      } catch (error) {
        if (!(error instanceof PreconditionFailedError) || attempt >= 5) throw error;
      }
    }
  }
}

/** A landing file as an open batch lists it. */
export interface OpenBatchFile {
  readonly key: string;
  readonly etag: string;
  readonly size: number;
  readonly day: string;
  readonly hour: number;
  readonly part: number;
  /** ISO time the file landed, so a re-written manifest carries the same landing time. */
  readonly landedAt?: string;
}

/**
 * Written before a batch's first part and deleted after its files are marked processed. A
 * run that finds one finishes exactly that batch first, so a crash never lets newly landed
 * files regroup already-staged ones into a second batch with the same lines.
 */
export interface OpenBatch {
  readonly batchId: string;
  readonly feed: Feed;
  /** Kept so the re-written manifest is identical to the one a crashed run may have written. */
  readonly createdAt: string;
  readonly files: readonly OpenBatchFile[];
}

export const OPEN_BATCHES_PREFIX = `${PREFIXES.state}open-batches/`;

export function openBatchKey(feed: Feed, batchId: string): string {
  return `${OPEN_BATCHES_PREFIX}${feed}/${batchId}.json`;
}

export async function writeOpenBatch(store: ObjectStore, batch: OpenBatch): Promise<void> {
  await store.put(openBatchKey(batch.feed, batch.batchId), `${JSON.stringify(batch)}\n`, {
    contentType: 'application/json',
  });
}

export async function listOpenBatches(store: ObjectStore, feed: Feed): Promise<OpenBatch[]> {
  const batches: OpenBatch[] = [];
  for await (const object of store.list(`${OPEN_BATCHES_PREFIX}${feed}/`)) {
    const loaded = await readJson<OpenBatch>(store, object.key);
    if (loaded) batches.push(loaded.value);
  }
  return batches;
}

export async function closeOpenBatch(store: ObjectStore, feed: Feed, batchId: string): Promise<void> {
  await store.delete(openBatchKey(feed, batchId));
}

async function readJson<T>(store: ObjectStore, key: string): Promise<{ value: T; etag: string } | undefined> {
  const head = await store.head(key);
  if (!head) return undefined;
  const bytes = await store.getBytes(key);
  try {
    return { value: JSON.parse(bytes.toString('utf8')) as T, etag: head.etag };
  } catch (error) {
    throw new Error(
      `State record ${key} is not valid JSON (${(error as Error).message}). Delete it to rebuild it; its landing files are then batched again and the loader drops the rows it already has.`,
    );
  }
}

function sortKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
