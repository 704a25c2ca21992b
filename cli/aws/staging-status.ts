import type { Clock } from '#shared/base/clock.ts';
import { PREFIXES } from '#shared/base/staging-keys.ts';
import { sanitizeText } from '#shared/observability/redact.ts';
import { pendingBatchStats } from '#shared/pipeline/loader/backlog.ts';
import { attemptsPrefix, batchIdOfKey } from '#shared/pipeline/loader/state.ts';
import type { Feed } from '#shared/schema/columns.ts';
import type { ObjectStore, StoredObject } from '#shared/storage/object-store.ts';
import type { LoadErrorDetail } from '#shared/warehouse/sql-runner.ts';

export interface FeedBatches {
  readonly feed: Feed;
  readonly pending: number;
  readonly oldestPendingSeconds?: number;
  readonly oldestPendingBatchId?: string;
  /** Given up on: in `manifests/failed/`, each with an `.error.json` saying why. */
  readonly failed: number;
  /** Still pending, but a load with them failed before (`state/attempts/`). */
  readonly retrying: number;
}

export interface RecentError {
  readonly at?: Date;
  readonly source: 'failed-batch' | 'retrying-batch' | 'backfill';
  readonly feed?: Feed;
  /** Batch id or execution name. */
  readonly id: string;
  readonly message: string;
  /** Where the whole story is: an S3 key or a console link. */
  readonly where: string;
}

async function listAll(store: ObjectStore, prefix: string): Promise<StoredObject[]> {
  const objects: StoredObject[] = [];
  for await (const object of store.list(prefix)) objects.push(object);
  return objects;
}

async function readJson(store: ObjectStore, key: string): Promise<Record<string, unknown> | undefined> {
  try {
    const value = JSON.parse((await store.getBytes(key)).toString('utf8')) as unknown;
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const field = (value: unknown, key: string) => (value as Record<string, unknown> | undefined)?.[key];

/**
 * The error text of a failure report or an attempts record, without quoted values, followed by
 * the first row COPY rejected when the record has the load error details (the loader writes them
 * with values already withheld).
 */
function messageOf(record: Record<string, unknown> | undefined, fallback: string): string {
  const lastError = field(record?.attempts, 'lastError') ?? record?.lastError;
  const candidates = [field(lastError, 'message'), field(record?.error, 'message')];
  const text = candidates.find(
    (candidate): candidate is string => typeof candidate === 'string' && candidate !== '',
  );
  return sanitizeText(`${text ?? fallback}${rejectedRowOf(field(lastError, 'loadErrors'))}`);
}

/** `; COPY rejected part-00003.csv.gz line 17, column event_time: 1207 Invalid digit ... (3 rows)`. */
function rejectedRowOf(loadErrors: unknown): string {
  const details = field(loadErrors, 'details');
  if (!Array.isArray(details) || details.length === 0) return '';
  const first = details[0] as Partial<LoadErrorDetail>;
  const file = typeof first.file === 'string' ? first.file.slice(first.file.lastIndexOf('/') + 1) : '?';
  const at = [
    typeof first.line === 'number' ? ` line ${first.line}` : '',
    typeof first.column === 'string' ? `, column ${first.column}` : '',
  ].join('');
  const rows = field(loadErrors, 'more') === true ? `${details.length}+` : String(details.length);
  return `; COPY rejected ${file}${at}: ${String(first.code ?? '')} ${String(first.reason ?? '')} (${rows} row${rows === '1' ? '' : 's'})`;
}

/**
 * What the staging bucket says about each feed: the backlog (`manifests/pending/`), the
 * batches given up on (`manifests/failed/`), the batches being retried (`state/attempts/`),
 * and the newest errors recorded beside them. A few list calls per feed and up to
 * `errorLimit` small reads per kind.
 */
export async function readStagingStatus(
  store: ObjectStore,
  feeds: readonly Feed[],
  clock: Clock,
  errorLimit: number,
): Promise<{ batches: FeedBatches[]; errors: RecentError[] }> {
  const pending = await pendingBatchStats(store, feeds, clock);
  const batches: FeedBatches[] = [];
  const reports: { feed: Feed; object: StoredObject }[] = [];
  const attempts: { feed: Feed; object: StoredObject }[] = [];
  for (const feed of feeds) {
    const failedPrefix = `${PREFIXES.failed}${feed}/`;
    const failed = await listAll(store, failedPrefix);
    const retrying = (await listAll(store, attemptsPrefix(feed))).filter((object) =>
      batchIdOfKey(attemptsPrefix(feed), object.key),
    );
    const stats = pending[feed];
    batches.push({
      feed,
      pending: stats.count,
      ...(stats.oldestAgeSeconds !== undefined ? { oldestPendingSeconds: stats.oldestAgeSeconds } : {}),
      ...(stats.oldestBatchId !== undefined ? { oldestPendingBatchId: stats.oldestBatchId } : {}),
      failed: failed.filter((object) => batchIdOfKey(failedPrefix, object.key)).length,
      retrying: retrying.length,
    });
    reports.push(
      ...failed.filter((object) => object.key.endsWith('.error.json')).map((object) => ({ feed, object })),
    );
    attempts.push(...retrying.map((object) => ({ feed, object })));
  }

  const errors: RecentError[] = [];
  for (const { feed, object } of newestOf(reports, errorLimit)) {
    const record = await readJson(store, object.key);
    const batchId = object.key.slice(`${PREFIXES.failed}${feed}/`.length, -'.error.json'.length);
    errors.push({
      at: dateOf(record?.movedAt) ?? object.lastModified,
      source: 'failed-batch',
      feed,
      id: batchId,
      message: messageOf(
        record,
        `moved to manifests/failed/ (${String(record?.reason ?? 'reason unknown')})`,
      ),
      where: object.key,
    });
  }
  for (const { feed, object } of newestOf(attempts, errorLimit)) {
    const record = await readJson(store, object.key);
    const batchId = batchIdOfKey(attemptsPrefix(feed), object.key) ?? object.key;
    const count =
      typeof record?.attempts === 'number' ? ` (failed ${record.attempts} time(s), still pending)` : '';
    errors.push({
      at: dateOf(record?.lastFailedAt) ?? object.lastModified,
      source: 'retrying-batch',
      feed,
      id: batchId,
      message: `${messageOf(record, 'load failed')}${count}`,
      where: object.key,
    });
  }
  return { batches, errors };
}

function newestOf<T extends { object: StoredObject }>(items: readonly T[], limit: number): T[] {
  return [...items]
    .sort((a, b) => b.object.lastModified.getTime() - a.object.lastModified.getTime())
    .slice(0, limit);
}

function dateOf(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : new Date(time);
}
