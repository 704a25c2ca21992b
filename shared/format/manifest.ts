import { formatHour, hourIndexOf } from '../base/hours.ts';
import { BATCH_ID_PATTERN } from '../base/staging-keys.ts';
import { FEEDS, type Feed } from '../schema/columns.ts';
import { canonicalTimestamp } from '../transform/timestamp.ts';
import { hourOfTime, type TimeRange } from './time-ranges.ts';

/** One entry of a Redshift COPY manifest. */
export interface ManifestEntry {
  readonly url: string;
  readonly mandatory: true;
  /** `content_length` is the object's size in bytes (required by Redshift for some sources, checked by us). */
  readonly meta: { readonly content_length: number };
}

/** Exactly what Redshift's `COPY ... MANIFEST` reads: nothing else is written into it. */
export interface CopyManifest {
  readonly entries: readonly ManifestEntry[];
}

export type BatchSource = 'live' | 'backfill';

/**
 * What the batcher writes to `manifests/pending/<feed>/<batchId>.json`: the COPY entries of
 * the batch's parts plus the batch's own figures. The loader combines the `entries` of
 * several batches into one `CopyManifest`.
 */
export interface BatchManifest extends CopyManifest {
  readonly batch: BatchMetadata;
}

export interface BatchMetadata {
  readonly batchId: string;
  readonly feed: Feed;
  readonly projectId: string;
  readonly source: BatchSource;
  /** ISO-8601 time the batch was written. */
  readonly createdAt: string;
  /** Landing keys whose lines are in this batch (whole files only). */
  readonly sourceKeys: readonly string[];
  /** Input lines read (every line ends as a row, a quarantine record or a duplicate). */
  readonly lines: number;
  /** Rows staged in the parts. */
  readonly rowCount: number;
  /** Lines dropped because an earlier line of the same batch had the same key. */
  readonly duplicatesInBatch: number;
  /** Quarantined lines by reason. */
  readonly quarantined: Readonly<Record<string, number>>;
  /** `quarantine/<feed>/<batchId>.jsonl.gz`, when anything was quarantined. */
  readonly quarantineKey?: string;
  /** Values changed on the way (e.g. truncated, NUL removed), by kind. */
  readonly adjusted: Readonly<Record<string, number>>;
  /** Compressed bytes read from landing. */
  readonly bytesIn: number;
  /** Compressed bytes written to the parts. */
  readonly bytesOut: number;
  /** Range of the table's time column (event_time / merge_event_time) in the batch, `YYYY-MM-DD HH:MM:SS.ffffff`. */
  readonly minTime?: string;
  readonly maxTime?: string;
  /** Range of server_upload_time (events) / merge_server_time (merged IDs). */
  readonly minUploadTime?: string;
  readonly maxUploadTime?: string;
  /**
   * The distinct UTC hours (`YYYY-MM-DDTHH`, sorted) of the staged rows' time column: the
   * only hours of the target a load of this batch needs to read for duplicates. Absent in
   * manifests written before it existed (the hours from minTime to maxTime stand in).
   */
  readonly hours?: readonly string[];
  /**
   * The staged rows' times as sorted, disjoint ranges (`TimeTally.ranges`): every row's time
   * is in one, and each starts and ends at a row's time, so a load reads only these instants of
   * the target for duplicates (a duplicate has its original's time). Absent in manifests written
   * before it existed (`hours`, else minTime to maxTime, stand in).
   */
  readonly timeRanges?: readonly TimeRange[];
  /**
   * ISO time the batch's oldest landing file landed (S3 LastModified, or the file's mtime
   * locally): the loader reports the delay from it to the commit. Absent when unknown.
   */
  readonly oldestLandedAt?: string;
}

/** The stored part a manifest entry is made from (see `PartInfo` in `./parts.ts`). */
export interface StoredPart {
  readonly url: string;
  readonly contentLength: number;
}

/** Manifest entries for parts, in the same order. */
export function entriesFromParts(parts: readonly StoredPart[]): ManifestEntry[] {
  return parts.map((part) => ({
    url: part.url,
    mandatory: true,
    meta: { content_length: part.contentLength },
  }));
}

/**
 * The manifest one COPY reads. Refuses an empty list ("COPY will terminate if no files are
 * found", "Using a manifest to specify data files": skip the COPY instead) and a URL listed
 * twice (its rows would be loaded twice).
 */
export function buildCopyManifest(entries: readonly ManifestEntry[]): CopyManifest {
  if (entries.length === 0) {
    throw new Error(
      'A COPY manifest needs at least one entry: Redshift fails a COPY that finds no files. Skip the COPY when there are no parts.',
    );
  }
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.url)) {
      throw new Error(
        `${entry.url} is listed twice in the COPY manifest; its rows would be loaded twice. Check which batches are being combined.`,
      );
    }
    seen.add(entry.url);
  }
  return {
    entries: entries.map((entry) => ({
      url: entry.url,
      mandatory: true,
      meta: { content_length: entry.meta.content_length },
    })),
  };
}

/** What is wrong with a stored batch manifest; `path` names the field (`entries[2].url`). */
export class ManifestValidationError extends Error {
  override readonly name = 'ManifestValidationError';
  constructor(
    readonly source: string,
    readonly path: string,
    detail: string,
  ) {
    super(
      `Batch manifest ${source} is invalid: ${path === '' ? '' : `${path} `}${detail}. ` +
        'Expected the format the batcher writes (BatchManifest in shared/format/manifest.ts); ' +
        'move the file to manifests/failed/ and write the batch again.',
    );
  }
}

const BATCH_SOURCES: readonly BatchSource[] = ['live', 'backfill'];
const URL_SCHEMES = ['s3://', 'file://'];

/**
 * Reads a batch manifest from storage and checks every field, including that the counts add
 * up (every input line is a row, a quarantined line or a duplicate) and that rows and entries
 * agree. Returns a fresh object holding only the known fields. `source` (e.g. the key) is
 * used in error messages.
 */
export function parseBatchManifest(json: string | Buffer, source = 'manifest'): BatchManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof json === 'string' ? json : json.toString('utf8'));
  } catch (error) {
    throw new ManifestValidationError(source, '', `is not valid JSON (${(error as Error).message})`);
  }
  const check = new Checker(source);
  const top = check.object(raw, '');
  const entries = check.array(top.entries, 'entries').map((item, index) => {
    const path = `entries[${index}]`;
    const entry = check.object(item, path);
    const url = check.string(entry.url, `${path}.url`);
    if (!URL_SCHEMES.some((scheme) => url.startsWith(scheme) && url.length > scheme.length)) {
      check.fail(`${path}.url`, `must start with ${URL_SCHEMES.join(' or ')}, got ${JSON.stringify(url)}`);
    }
    if (entry.mandatory !== true)
      check.fail(`${path}.mandatory`, `must be true, got ${JSON.stringify(entry.mandatory)}`);
    const meta = check.object(entry.meta, `${path}.meta`);
    const contentLength = check.count(meta.content_length, `${path}.meta.content_length`);
    return { url, mandatory: true as const, meta: { content_length: contentLength } };
  });
  const urls = new Set(entries.map((entry) => entry.url));
  if (urls.size !== entries.length) check.fail('entries', 'lists the same url more than once');

  const b = check.object(top.batch, 'batch');
  const batchId = check.string(b.batchId, 'batch.batchId');
  if (!BATCH_ID_PATTERN.test(batchId))
    check.fail('batch.batchId', `must match ${BATCH_ID_PATTERN}, got ${JSON.stringify(batchId)}`);
  const feed = check.oneOf(b.feed, FEEDS, 'batch.feed');
  const projectId = check.string(b.projectId, 'batch.projectId');
  if (!/^[0-9]{1,20}$/.test(projectId))
    check.fail('batch.projectId', `must be the numeric project ID, got ${JSON.stringify(projectId)}`);
  const batchSource = check.oneOf(b.source, BATCH_SOURCES, 'batch.source');
  const createdAt = check.string(b.createdAt, 'batch.createdAt');
  if (Number.isNaN(Date.parse(createdAt)))
    check.fail('batch.createdAt', `must be an ISO-8601 time, got ${JSON.stringify(createdAt)}`);
  const sourceKeys = check
    .array(b.sourceKeys, 'batch.sourceKeys')
    .map((key, i) => check.string(key, `batch.sourceKeys[${i}]`));
  const lines = check.count(b.lines, 'batch.lines');
  const rowCount = check.count(b.rowCount, 'batch.rowCount');
  const duplicatesInBatch = check.count(b.duplicatesInBatch, 'batch.duplicatesInBatch');
  const quarantined = check.counts(b.quarantined, 'batch.quarantined');
  const adjusted = check.counts(b.adjusted, 'batch.adjusted');
  const bytesIn = check.count(b.bytesIn, 'batch.bytesIn');
  const bytesOut = check.count(b.bytesOut, 'batch.bytesOut');
  const quarantineKey = check.optionalString(b.quarantineKey, 'batch.quarantineKey');
  const minTime = check.optionalString(b.minTime, 'batch.minTime');
  const maxTime = check.optionalString(b.maxTime, 'batch.maxTime');
  const minUploadTime = check.optionalString(b.minUploadTime, 'batch.minUploadTime');
  const maxUploadTime = check.optionalString(b.maxUploadTime, 'batch.maxUploadTime');
  const hours =
    b.hours === undefined
      ? undefined
      : check.array(b.hours, 'batch.hours').map((hour, i) => check.hour(hour, `batch.hours[${i}]`));
  if (hours?.some((hour, i) => i > 0 && hour <= hours[i - 1]!)) {
    check.fail('batch.hours', 'must be sorted with no hour listed twice');
  }
  if (hours !== undefined && hours.length === 0) check.fail('batch.hours', 'must list at least one hour');
  if (hours !== undefined && rowCount === 0) {
    check.fail('batch.hours', 'lists hours although the batch has no rows');
  }
  const timeRanges =
    b.timeRanges === undefined
      ? undefined
      : check.array(b.timeRanges, 'batch.timeRanges').map((item, i) => {
          const path = `batch.timeRanges[${i}]`;
          const range = check.object(item, path);
          const min = check.time(range.min, `${path}.min`);
          const max = check.time(range.max, `${path}.max`);
          if (max < min) check.fail(path, `ends (${max}) before it starts (${min})`);
          return { min, max };
        });
  if (timeRanges !== undefined) {
    checkTimeRanges(check, timeRanges, { rowCount, hours, minTime, maxTime });
  }
  const oldestLandedAt = check.optionalString(b.oldestLandedAt, 'batch.oldestLandedAt');
  if (oldestLandedAt !== undefined && Number.isNaN(Date.parse(oldestLandedAt))) {
    check.fail('batch.oldestLandedAt', `must be an ISO-8601 time, got ${JSON.stringify(oldestLandedAt)}`);
  }

  const quarantinedTotal = Object.values(quarantined).reduce((sum, n) => sum + n, 0);
  if (lines !== rowCount + duplicatesInBatch + quarantinedTotal) {
    check.fail(
      'batch.lines',
      `(${lines}) must equal rowCount + duplicatesInBatch + quarantined (${rowCount} + ${duplicatesInBatch} + ${quarantinedTotal})`,
    );
  }
  if ((rowCount === 0) !== (entries.length === 0)) {
    check.fail(
      'entries',
      `has ${entries.length} entries for ${rowCount} rows; rows need parts and parts need rows`,
    );
  }
  if (quarantinedTotal > 0 && quarantineKey === undefined) {
    check.fail('batch.quarantineKey', `is missing although ${quarantinedTotal} lines were quarantined`);
  }
  const bytesOfParts = entries.reduce((sum, entry) => sum + entry.meta.content_length, 0);
  if (bytesOut !== bytesOfParts) {
    check.fail(
      'batch.bytesOut',
      `(${bytesOut}) must equal the sum of the entries' content_length (${bytesOfParts})`,
    );
  }

  const batch: BatchMetadata = {
    batchId,
    feed,
    projectId,
    source: batchSource,
    createdAt,
    sourceKeys,
    lines,
    rowCount,
    duplicatesInBatch,
    quarantined,
    ...(quarantineKey === undefined ? {} : { quarantineKey }),
    adjusted,
    bytesIn,
    bytesOut,
    ...(minTime === undefined ? {} : { minTime }),
    ...(maxTime === undefined ? {} : { maxTime }),
    ...(minUploadTime === undefined ? {} : { minUploadTime }),
    ...(maxUploadTime === undefined ? {} : { maxUploadTime }),
    ...(hours === undefined ? {} : { hours }),
    ...(timeRanges === undefined ? {} : { timeRanges }),
    ...(oldestLandedAt === undefined ? {} : { oldestLandedAt }),
  };
  return { entries, batch };
}

/**
 * The time ranges agree with the rest of the manifest: sorted and disjoint, none for a batch
 * without rows, from minTime to maxTime, and touching exactly the listed hours at their ends
 * (a range may cross hours without rows only where the batcher merged the closest ranges).
 */
function checkTimeRanges(
  check: Checker,
  ranges: readonly TimeRange[],
  batch: { rowCount: number; hours?: readonly string[]; minTime?: string; maxTime?: string },
): void {
  const path = 'batch.timeRanges';
  if (ranges.length === 0) check.fail(path, 'must list at least one range');
  if (batch.rowCount === 0) check.fail(path, 'lists ranges although the batch has no rows');
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i]!.min <= ranges[i - 1]!.max) {
      check.fail(`${path}[${i}]`, 'must start after the range before it ends (sorted, disjoint)');
    }
  }
  if (batch.minTime !== undefined && canonicalTimestamp(batch.minTime) !== ranges[0]!.min) {
    check.fail(`${path}[0].min`, `must equal batch.minTime (${batch.minTime}), got ${ranges[0]!.min}`);
  }
  if (batch.maxTime !== undefined && canonicalTimestamp(batch.maxTime) !== ranges.at(-1)!.max) {
    check.fail(
      `${path}[${ranges.length - 1}].max`,
      `must equal batch.maxTime (${batch.maxTime}), got ${ranges.at(-1)!.max}`,
    );
  }
  if (batch.hours === undefined) return;
  const hours = new Set(batch.hours.map(hourIndexOf));
  for (const [i, range] of ranges.entries()) {
    for (const end of [range.min, range.max]) {
      if (!hours.has(hourOfTime(end))) {
        check.fail(`${path}[${i}]`, `has ${end}, whose hour batch.hours does not list`);
      }
    }
  }
  for (const hour of hours) {
    if (!ranges.some((range) => hourOfTime(range.min) <= hour && hour <= hourOfTime(range.max))) {
      check.fail('batch.hours', `lists ${formatHour(hour)}, which no time range covers`);
    }
  }
}

class Checker {
  constructor(private readonly source: string) {}

  fail(path: string, detail: string): never {
    throw new ManifestValidationError(this.source, path, detail);
  }

  object(value: unknown, path: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(path, `must be an object, got ${describe(value)}`);
    }
    return value as Record<string, unknown>;
  }

  array(value: unknown, path: string): unknown[] {
    if (!Array.isArray(value)) this.fail(path, `must be an array, got ${describe(value)}`);
    return value;
  }

  string(value: unknown, path: string): string {
    if (typeof value !== 'string' || value === '')
      this.fail(path, `must be a non-empty string, got ${describe(value)}`);
    return value;
  }

  hour(value: unknown, path: string): string {
    const text = this.string(value, path);
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}$/.test(text) || Number.isNaN(Date.parse(`${text}:00:00Z`))) {
      this.fail(path, `must be an hour as YYYY-MM-DDTHH (UTC), got ${JSON.stringify(text)}`);
    }
    return text;
  }

  /** A time in the canonical staged form `YYYY-MM-DD HH:MM:SS.ffffff`. */
  time(value: unknown, path: string): string {
    const text = this.string(value, path);
    if (canonicalTimestamp(text) !== text) {
      this.fail(path, `must be a time as YYYY-MM-DD HH:MM:SS.ffffff (UTC), got ${JSON.stringify(text)}`);
    }
    return text;
  }

  optionalString(value: unknown, path: string): string | undefined {
    return value === undefined ? undefined : this.string(value, path);
  }

  count(value: unknown, path: string): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      this.fail(path, `must be a non-negative integer, got ${describe(value)}`);
    }
    return value;
  }

  counts(value: unknown, path: string): Record<string, number> {
    const record = this.object(value, path);
    const result: Record<string, number> = {};
    for (const [key, n] of Object.entries(record)) result[key] = this.count(n, `${path}.${key}`);
    return result;
  }

  oneOf<T extends string>(value: unknown, allowed: readonly T[], path: string): T {
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.fail(path, `must be one of ${allowed.join(', ')}, got ${describe(value)}`);
    }
    return value as T;
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
