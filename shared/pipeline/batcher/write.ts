import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Clock } from '../../base/clock.ts';
import { assertBatchId, manifestKey, quarantineKey, stagingPrefix } from '../../base/staging-keys.ts';
import {
  type BatchManifest,
  type BatchMetadata,
  type BatchSource,
  entriesFromParts,
} from '../../format/manifest.ts';
import { type PartInfo, PartWriter } from '../../format/parts.ts';
import { TimeTally } from '../../format/time-ranges.ts';
import type { Feed } from '../../schema/columns.ts';
import { ObjectNotFoundError, type ObjectStore } from '../../storage/object-store.ts';
import { quarantineRecord } from '../../transform/outcome.ts';
import { type SliceRunner, sliceRunner } from './pool.ts';
import { QuarantineWriter } from './quarantine.ts';
import { SliceCutter } from './slice-cutter.ts';
import type { SliceResult } from './slices.ts';

/** The part of a landing file a batch needs; `LandingFile` from discovery fits. */
export interface BatchFile {
  readonly key: string;
  /** `yyyy-MM-dd` of the file name. */
  readonly day: string;
  /** From the listing; part of the batch id. */
  readonly etag: string;
  /** ISO time the file landed (see `LandingFile.landedAt`). */
  readonly landedAt?: string;
}

/**
 * Staged parts are read once by COPY and then expire, and compression is much of a batcher
 * run's CPU: level 1 takes about half the CPU of zlib's default 6 for parts ~25% larger.
 */
export const STAGED_GZIP_LEVEL = 1;

const FEED_SHORT: Readonly<Record<Feed, string>> = { events: 'ev', merge_ids: 'mi' };

/**
 * `<ev|mi>-<yyyymmdd of the first day>-<16 hex>`: the hash covers every key and etag, so the
 * same files always give the same id (a re-run rewrites the same batch) and a rewritten
 * landing file gives a new one.
 */
export function batchIdFor(feed: Feed, files: readonly BatchFile[]): string {
  if (files.length === 0) throw new Error('A batch needs at least one landing file.');
  const listed = files.map((file) => `${file.key}\t${file.etag}`).sort();
  const hash = createHash('sha256').update(listed.join('\n')).digest('hex').slice(0, 16);
  return assertBatchId(`${FEED_SHORT[feed]}-${firstDay(files).replaceAll('-', '')}-${hash}`);
}

export interface WriteBatchInput {
  readonly landing: ObjectStore;
  readonly staging: ObjectStore;
  readonly feed: Feed;
  readonly projectId: string;
  /** Whole files, in the order their rows are staged. */
  readonly files: readonly BatchFile[];
  readonly batchId: string;
  readonly source: BatchSource;
  readonly clock: Clock;
  readonly partTargetBytes: number;
  /** @default the clock's time. Pass the first attempt's time to rewrite a batch identically. */
  readonly createdAt?: string;
  /** gzip level of the parts. @default STAGED_GZIP_LEVEL */
  readonly gzipLevel?: number;
  /**
   * Where the manifest is written. The backfill writes its own below `backfill/manifests/`, so
   * the live loader never loads (and races) a batch the backfill loads itself.
   * @default `manifests/pending/<feed>/<batchId>.json` (the live loader's queue)
   */
  readonly manifestKey?: string;
  /**
   * Threads that parse and transform lines while this one reads and writes; the output is
   * the same for any number. Falls back to this thread where threads cannot start.
   * @default 0 (this thread only)
   */
  readonly workers?: number;
  /**
   * Told after every slice of lines applied how far this attempt is (a progress line).
   * A retried attempt starts again from 0. @default - none
   */
  readonly onProgress?: (progress: StagingProgress) => void;
}

/** What the attempt under way has read: whole files, and lines (of the file being read too). */
export interface StagingProgress {
  readonly files: number;
  readonly lines: number;
}

export interface WrittenBatch {
  readonly manifestKey: string;
  readonly manifest: BatchManifest;
  readonly parts: readonly PartInfo[];
  /**
   * Empty or whitespace-only lines: they carry no record, so they are neither rows nor
   * quarantined, and not in `manifest.batch.lines` either; counted here instead.
   */
  readonly blankLines: number;
  /** Landing files quarantined whole (unreadable), by key. */
  readonly unreadableFiles: readonly string[];
  /** Worker threads that transformed the lines (0: the calling thread). */
  readonly threads: number;
}

/**
 * Stages whole landing files as one batch: gzip CSV parts, then the quarantine file, then the
 * pending manifest. Readers only ever look at manifests, so until the manifest's put returns
 * nothing of the batch is visible; running it again with the same input writes the same
 * objects (same keys, same bytes, given the same `createdAt`).
 *
 * A landing file that cannot be read to its end (corrupt or truncated gzip, or gone) must not
 * leave half of its lines staged. Rows are streamed straight into the parts, so such a file
 * aborts the attempt: the parts written so far are deleted and the batch is staged again with
 * that file replaced by one `unreadable_file` quarantine record. Memory stays bounded by the
 * stream buffers and the batch's key set; the price, paying the files before it twice, is
 * only paid for broken files. Transport failures (access denied, network) are not the file's
 * fault and are thrown instead, so the run fails and the batch is retried.
 */
export async function writeBatch(input: WriteBatchInput): Promise<WrittenBatch> {
  assertBatchId(input.batchId);
  if (input.files.length === 0) throw new Error(`Batch ${input.batchId} has no landing files.`);
  const runner = await sliceRunner(input.workers ?? 0);
  const unreadable = new Map<string, string>();
  for (;;) {
    const attempt = await stageOnce(input, runner, unreadable);
    if ('written' in attempt) return { ...attempt.written, threads: runner.threads };
    unreadable.set(attempt.unreadable.key, attempt.unreadable.detail);
  }
}

class UnreadableFileError extends Error {
  constructor(
    readonly key: string,
    readonly detail: string,
  ) {
    super(`${key}: ${detail}`);
  }
}

interface Tally {
  lines: number;
  rows: number;
  duplicates: number;
  blankLines: number;
  bytesIn: number;
  readonly adjusted: Record<string, number>;
  minUploadTime: string | undefined;
  maxUploadTime: string | undefined;
  /** The staged rows' times (table time column), per minute: the manifest's ranges and hours. */
  readonly times: TimeTally;
}

async function stageOnce(
  input: WriteBatchInput,
  runner: SliceRunner,
  unreadable: ReadonlyMap<string, string>,
): Promise<{ written: Omit<WrittenBatch, 'threads'> } | { unreadable: UnreadableFileError }> {
  const { feed, batchId } = input;
  const prefix = stagingPrefix(feed, firstDay(input.files), batchId);
  const parts = new PartWriter({
    store: input.staging,
    prefix,
    partTargetBytes: input.partTargetBytes,
    gzipLevel: input.gzipLevel ?? STAGED_GZIP_LEVEL,
  });
  const quarantine = new QuarantineWriter(input.staging, quarantineKey(feed, batchId));
  const stager = new BatchStager(input, runner, parts, quarantine);
  const { tally } = stager;
  let partInfos: PartInfo[];
  let quarantined: string | undefined;
  try {
    for (const file of input.files) {
      const reason = unreadable.get(file.key);
      if (reason === undefined) await stager.stage(file);
      else await stager.quarantineWhole(file, reason);
      stager.filesDone++;
    }
    await stager.drain();
    partInfos = await parts.close();
    quarantined = await quarantine.close();
    await removeLeftovers(input.staging, prefix, partInfos);
  } catch (error) {
    stager.discard();
    await Promise.all([parts.abort(), quarantine.abort()]);
    if (error instanceof UnreadableFileError) return { unreadable: error };
    throw error;
  }

  const bytesOut = partInfos.reduce((sum, part) => sum + part.contentLength, 0);
  const batch: BatchMetadata = {
    batchId,
    feed,
    projectId: input.projectId,
    source: input.source,
    createdAt: input.createdAt ?? input.clock().toISOString(),
    sourceKeys: input.files.map((file) => file.key),
    lines: tally.lines,
    rowCount: tally.rows,
    duplicatesInBatch: tally.duplicates,
    quarantined: sortedRecord(quarantine.byReason),
    ...(quarantined ? { quarantineKey: quarantined } : {}),
    adjusted: sortedRecord(tally.adjusted),
    bytesIn: tally.bytesIn,
    bytesOut,
    ...timesOf(tally.times),
    ...oldestLanding(input.files),
    ...(tally.minUploadTime !== undefined
      ? { minUploadTime: tally.minUploadTime, maxUploadTime: tally.maxUploadTime }
      : {}),
  };
  const manifest: BatchManifest = { entries: entriesFromParts(partInfos), batch };
  const key = input.manifestKey ?? manifestKey('pending', feed, batchId);
  await input.staging.put(key, `${JSON.stringify(manifest, null, 1)}\n`, { contentType: 'application/json' });
  return {
    written: {
      manifestKey: key,
      manifest,
      parts: partInfos,
      blankLines: tally.blankLines,
      unreadableFiles: [...unreadable.keys()],
    },
  };
}

/** Decompressed bytes per slice handed to the transform (a few hundred events). */
const SLICE_BYTES = 256 * 1024;

interface FileProgress {
  readonly key: string;
  /** Lines of the file in slices already applied: numbers the next slice's lines. */
  linesBefore: number;
}

/**
 * Reads the batch's files in order, cuts them into line-aligned slices, has the runner turn
 * slices into CSV (on worker threads when there are any: reading, transforming and gzip then
 * overlap), and applies the results strictly in order: de-duplication, parts, quarantine.
 * So the output is the same whatever the number of threads. At most a few slices per thread
 * are in flight, which bounds memory.
 */
class BatchStager {
  readonly tally: Tally = {
    lines: 0,
    rows: 0,
    duplicates: 0,
    blankLines: 0,
    bytesIn: 0,
    adjusted: {},
    minUploadTime: undefined,
    maxUploadTime: undefined,
    times: new TimeTally(),
  };
  /** Files whose every slice is submitted (see StagingProgress). */
  filesDone = 0;
  private readonly seen = new Set<string>();
  private readonly inFlight: { result: Promise<SliceResult>; file: FileProgress }[] = [];
  private readonly maxInFlight: number;

  constructor(
    private readonly input: WriteBatchInput,
    private readonly runner: SliceRunner,
    private readonly parts: PartWriter,
    private readonly quarantine: QuarantineWriter,
  ) {
    // Room for every thread's queue plus slices the calling thread did itself meanwhile.
    this.maxInFlight = runner.threads === 0 ? 1 : (runner.threads + 1) * 4;
  }

  async quarantineWhole(file: BatchFile, detail: string): Promise<void> {
    await this.drain();
    this.tally.lines++;
    await this.quarantine.add(
      quarantineRecord({ reason: 'unreadable_file', detail }, { sourceKey: file.key, lineNumber: 0 }, ''),
    );
  }

  async stage(file: BatchFile): Promise<void> {
    const source = await this.open(file);
    const progress: FileProgress = { key: file.key, linesBefore: 0 };
    const cutter = new SliceCutter(SLICE_BYTES);
    let fileStart = true;
    const submit = async (bytes: Uint8Array) => {
      const result = this.runner.submit({
        feed: this.input.feed,
        batchId: this.input.batchId,
        bytes,
        fileStart,
      });
      // Awaited in order by applyNext(); this only keeps an early failure from being "unhandled".
      result.catch(() => undefined);
      fileStart = false;
      this.inFlight.push({ result, file: progress });
      while (this.inFlight.length > this.maxInFlight) await this.applyNext();
    };
    try {
      for (;;) {
        let next: IteratorResult<Buffer>;
        try {
          next = await source.decoded.next();
        } catch (error) {
          throw source.classify(error);
        }
        if (next.done) break;
        for (const slice of cutter.push(next.value)) await submit(slice);
      }
      const last = cutter.end();
      if (last) await submit(last);
    } finally {
      source.close();
    }
    this.tally.bytesIn += source.bytesIn();
  }

  /** Applies every slice still in flight. */
  async drain(): Promise<void> {
    while (this.inFlight.length > 0) await this.applyNext();
  }

  /** Forgets slices in flight (the attempt failed). */
  discard(): void {
    this.inFlight.length = 0;
  }

  private async applyNext(): Promise<void> {
    const { result, file } = this.inFlight.shift()!;
    const slice = await result;
    const { tally, seen, parts, quarantine } = this;
    for (const rejected of slice.rejected) {
      tally.lines++;
      const waiting = quarantine.add(
        quarantineRecord(
          rejected,
          { sourceKey: file.key, lineNumber: file.linesBefore + rejected.lineNumber },
          rejected.line,
        ),
      );
      if (waiting) await waiting;
    }
    const { keys, csv, rowEnds, times, uploadTimes, adjusted } = slice;
    let nextAdjusted = 0;
    // Rows go to the part in runs between duplicates: one write per run, not per row.
    let runStart = 0;
    let runRows = 0;
    let start = 0;
    for (let row = 0; row < keys.length; row++) {
      const end = rowEnds[row]!;
      const key = keys[row]!;
      tally.lines++;
      if (seen.has(key)) {
        tally.duplicates++;
        if (runRows > 0) {
          const waiting = parts.writeEncoded(csv.subarray(runStart, start), runRows);
          if (waiting) await waiting;
        }
        runRows = 0;
        runStart = end;
        start = end;
        continue;
      }
      seen.add(key);
      tally.rows++;
      runRows++;
      const time = times[row]!;
      tally.times.add(time);
      const uploadTime = uploadTimes[row] ?? null;
      if (uploadTime !== null) {
        if (tally.minUploadTime === undefined || uploadTime < tally.minUploadTime)
          tally.minUploadTime = uploadTime;
        if (tally.maxUploadTime === undefined || uploadTime > tally.maxUploadTime)
          tally.maxUploadTime = uploadTime;
      }
      while (nextAdjusted < adjusted.length && adjusted[nextAdjusted]![0] < row) nextAdjusted++;
      if (adjusted[nextAdjusted]?.[0] === row) {
        const counts = adjusted[nextAdjusted]![1];
        for (const kind in counts) {
          tally.adjusted[kind] = (tally.adjusted[kind] ?? 0) + (counts[kind as keyof typeof counts] ?? 0);
        }
      }
      start = end;
    }
    if (runRows > 0) {
      const waiting = parts.writeEncoded(csv.subarray(runStart, start), runRows);
      if (waiting) await waiting;
    }
    file.linesBefore += slice.lines;
    tally.blankLines += slice.blankLines;
    this.input.onProgress?.({ files: this.filesDone, lines: tally.lines });
  }

  private async open(file: BatchFile): Promise<OpenedFile> {
    let raw: Readable;
    try {
      raw = await this.input.landing.getStream(file.key);
    } catch (error) {
      if (error instanceof ObjectNotFoundError) {
        throw new UnreadableFileError(file.key, 'the landing file disappeared after it was listed');
      }
      throw error;
    }
    let bytesIn = 0;
    let decoded: AsyncIterable<Buffer>;
    if (file.key.endsWith('.gz')) {
      // Read-ahead: gunzip keeps decompressing on the thread pool while this thread is busy
      // with earlier slices, instead of waiting to be asked for each 64 KiB.
      const gunzip = createGunzip({ chunkSize: 64 * 1024, ...{ highWaterMark: READ_AHEAD_BYTES } });
      raw.on('data', (chunk: Buffer) => {
        bytesIn += chunk.length;
      });
      decoded = pipeline(raw, gunzip, () => undefined);
    } else {
      decoded = (async function* () {
        for await (const chunk of raw) {
          bytesIn += chunk.length;
          yield chunk as Buffer;
        }
      })();
    }
    return {
      decoded: decoded[Symbol.asyncIterator](),
      bytesIn: () => bytesIn,
      // Stops the download when staging fails part way (it ends by itself after a full read).
      close: () => raw.destroy(),
      classify: (error: unknown): unknown => {
        const code = (error as { code?: unknown }).code;
        if (typeof code === 'string' && code.startsWith('Z_')) {
          return new UnreadableFileError(
            file.key,
            `not a readable gzip file (${code}: ${(error as Error).message})`,
          );
        }
        return error;
      },
    };
  }
}

const READ_AHEAD_BYTES = 1024 * 1024;

interface OpenedFile {
  /** The file's decompressed bytes, as the stream delivers them (cut into slices later). */
  readonly decoded: AsyncIterator<Buffer>;
  bytesIn(): number;
  close(): void;
  /** The error to throw for a failure while reading: `UnreadableFileError` when the content is at fault. */
  classify(error: unknown): unknown;
}

/**
 * Deletes objects under the batch's prefix that are not its parts: left by an interrupted
 * earlier attempt that had more parts. No manifest names them, but they would linger. Done
 * after the new parts exist, so a part under a manifest being loaded never goes missing.
 */
async function removeLeftovers(
  staging: ObjectStore,
  prefix: string,
  parts: readonly PartInfo[],
): Promise<void> {
  const keep = new Set(parts.map((part) => part.key));
  const stale: string[] = [];
  for await (const object of staging.list(prefix)) if (!keep.has(object.key)) stale.push(object.key);
  for (const key of stale) await staging.delete(key);
}

function firstDay(files: readonly BatchFile[]): string {
  let day = files[0]!.day;
  for (const file of files) if (file.day < day) day = file.day;
  return day;
}

function sortedRecord(record: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * The manifest's time fields: the rows' time ranges (what a load reads for duplicates), and for
 * loaders that predate them the hours and the earliest and latest time. None without rows.
 */
function timesOf(times: TimeTally): Pick<BatchMetadata, 'minTime' | 'maxTime' | 'hours' | 'timeRanges'> {
  if (times.isEmpty) return {};
  const timeRanges = times.ranges();
  return { minTime: timeRanges[0]!.min, maxTime: timeRanges.at(-1)!.max, hours: times.hours(), timeRanges };
}

/** The batch's oldest landing time, when every file's is known (else the delay would be too short). */
function oldestLanding(files: readonly BatchFile[]): { oldestLandedAt?: string } {
  let oldest: string | undefined;
  for (const file of files) {
    if (file.landedAt === undefined) return {};
    if (oldest === undefined || Date.parse(file.landedAt) < Date.parse(oldest)) oldest = file.landedAt;
  }
  return oldest === undefined ? {} : { oldestLandedAt: oldest };
}
