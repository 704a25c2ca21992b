import { once } from 'node:events';
import { Transform } from 'node:stream';
import { createGzip, type Gzip, constants as zlibConstants } from 'node:zlib';
import type { ObjectStore } from '../storage/object-store.ts';
import { encodeCsvRow } from './csv.ts';

/**
 * Default uncompressed bytes per part. Redshift loads gzip files in parallel only across
 * files ("Loading data files": gzip CSV "aren't automatically split"), and asks for "about
 * equal size, between 1 MB and 1 GB after compression", the number of files "a multiple of
 * the number of slices" ("Loading data from compressed and uncompressed files", "Load takes
 * too long"). Event CSV compresses roughly 5-10x, so 64 MiB raw gives parts of ~6-13 MB: well
 * inside that range, many files per load (the loader combines several batches into one COPY),
 * and a small, bounded upload per part for a Lambda.
 */
export const DEFAULT_PART_TARGET_BYTES = 64 * 1024 * 1024;

/** zlib's level 6 is its default trade-off; level 1 is ~2x faster for ~10% larger files. */
export const DEFAULT_GZIP_LEVEL = 6;

export interface PartInfo {
  readonly key: string;
  /** `store.url(key)`: what a COPY manifest names. */
  readonly url: string;
  readonly rows: number;
  /** Uncompressed CSV bytes. */
  readonly rawBytes: number;
  /** Stored (compressed) bytes: the manifest's `meta.content_length`. */
  readonly contentLength: number;
}

export interface PartWriterOptions {
  readonly store: ObjectStore;
  /** Parts are `${prefix}part-00000.csv.gz`, `${prefix}part-00001.csv.gz`, ... */
  readonly prefix: string;
  /** A part is closed once its uncompressed size reaches this. @default DEFAULT_PART_TARGET_BYTES */
  readonly partTargetBytes?: number;
  /** 1 (fastest) to 9 (smallest). @default DEFAULT_GZIP_LEVEL */
  readonly gzipLevel?: number;
}

/**
 * Lines are gathered into chunks of about this many characters before they go to zlib: one
 * zlib call (a thread-pool round trip) per 2 KB line would cost more than the compression.
 */
const FLUSH_CHARS = 64 * 1024;

/**
 * Input gzip may queue before `write` asks the caller to wait: room for a few large writes,
 * so the caller keeps producing rows while compression runs, instead of stalling on every
 * write bigger than the stream default (16 KiB). Bounded, so memory stays small.
 */
const GZIP_INPUT_BUFFER = { writableHighWaterMark: 512 * 1024 };

interface OpenPart {
  readonly key: string;
  readonly gzip: Gzip;
  /** Settles when the store has read the whole part (or failed). */
  upload: Promise<unknown>;
  /** Aborted when the upload ends before we close the part, so pending writes stop waiting. */
  readonly uploadEnded: AbortController;
  rows: number;
  /** Bytes handed to gzip so far (lines still in `PartWriter.buffered` are not counted yet). */
  rawBytes: number;
  contentLength: number;
  closing: boolean;
}

/**
 * Streams CSV lines into gzip parts in an `ObjectStore`, one part at a time. Compression runs
 * on zlib's thread pool while the caller keeps parsing; each part is handed to `store.put` as
 * a stream as soon as it opens, so memory holds at most the stream buffers of one part (plus
 * whatever the store buffers, e.g. one S3 multipart chunk), never a whole batch.
 *
 * A part is closed at the first line boundary where its uncompressed size has reached
 * `partTargetBytes`, checked every min(partTargetBytes, 64 Ki) characters; so every part but
 * the last is at least the target, and overshoots it by less than one check interval plus
 * one line.
 *
 * Await every `write` that returns a promise before the next call (it returns `undefined`
 * when no waiting is needed). Zero rows make zero parts.
 */
export class PartWriter {
  private readonly store: ObjectStore;
  private readonly prefix: string;
  private readonly partTargetBytes: number;
  private readonly gzipLevel: number;
  private readonly flushChars: number;
  private readonly parts: PartInfo[] = [];
  private current: OpenPart | undefined;
  private buffered = '';
  private pending: Promise<void> | undefined;
  private failure: unknown;
  private state: 'open' | 'closed' | 'aborted' = 'open';

  constructor(options: PartWriterOptions) {
    const { store, prefix } = options;
    const partTargetBytes = options.partTargetBytes ?? DEFAULT_PART_TARGET_BYTES;
    const gzipLevel = options.gzipLevel ?? DEFAULT_GZIP_LEVEL;
    if (prefix.startsWith('/')) {
      throw new Error(`PartWriter prefix must not start with "/", got ${JSON.stringify(prefix)}.`);
    }
    if (!Number.isSafeInteger(partTargetBytes) || partTargetBytes < 1) {
      throw new Error(`partTargetBytes must be a positive integer, got ${partTargetBytes}.`);
    }
    if (
      !Number.isInteger(gzipLevel) ||
      gzipLevel < zlibConstants.Z_BEST_SPEED ||
      gzipLevel > zlibConstants.Z_BEST_COMPRESSION
    ) {
      throw new Error(`gzipLevel must be an integer from 1 to 9, got ${gzipLevel}.`);
    }
    this.store = store;
    this.prefix = prefix;
    this.partTargetBytes = partTargetBytes;
    this.gzipLevel = gzipLevel;
    this.flushChars = Math.min(partTargetBytes, FLUSH_CHARS);
  }

  /** Appends one encoded CSV line (ending in `\n`). */
  write(line: string): Promise<void> | undefined {
    this.assertWritable();
    if (line.length === 0 || line.charCodeAt(line.length - 1) !== 10) {
      throw new Error('PartWriter.write expects one CSV line ending in "\\n" (use encodeCsvRow).');
    }
    const part = this.current ?? this.openPart();
    part.rows++;
    this.buffered += line;
    if (this.buffered.length < this.flushChars) return undefined;
    const accepted = this.flush(part);
    const full = part.rawBytes >= this.partTargetBytes;
    if (accepted && !full) return undefined;
    const pending = this.settle(part, accepted, full).finally(() => {
      this.pending = undefined;
    });
    this.pending = pending;
    return pending;
  }

  /**
   * Appends `rows` whole CSV lines that are already UTF-8 (each from `encodeCsvRow`, so the
   * bytes end in `\n`), e.g. encoded on a worker thread. A part can overshoot the target by
   * the bytes of one such call, so keep calls small next to `partTargetBytes`.
   */
  writeEncoded(bytes: Uint8Array, rows: number): Promise<void> | undefined {
    this.assertWritable();
    if (!Number.isSafeInteger(rows) || rows < 1 || bytes.length === 0 || bytes[bytes.length - 1] !== 10) {
      throw new Error(
        'PartWriter.writeEncoded expects whole CSV lines ending in "\\n" and their number (>= 1).',
      );
    }
    const part = this.current ?? this.openPart();
    part.rows += rows;
    let accepted = this.buffered.length > 0 ? this.flush(part) : true;
    part.rawBytes += bytes.length;
    accepted = part.gzip.write(bytes) && accepted;
    const full = part.rawBytes >= this.partTargetBytes;
    if (accepted && !full) return undefined;
    const pending = this.settle(part, accepted, full).finally(() => {
      this.pending = undefined;
    });
    this.pending = pending;
    return pending;
  }

  /** Encodes a row with `encodeCsvRow` and appends it. */
  writeRow(values: readonly (string | null)[]): Promise<void> | undefined {
    return this.write(encodeCsvRow(values));
  }

  /** Finishes the last part and returns every part written, in order. */
  async close(): Promise<PartInfo[]> {
    if (this.state !== 'open') throw new Error(`PartWriter is already ${this.state}.`);
    try {
      if (this.pending) await this.pending;
      if (this.failure !== undefined) throw this.failure;
      const part = this.current;
      if (part) {
        if (this.buffered.length > 0 && !this.flush(part)) await this.drained(part);
        await this.finishPart(part);
      }
    } catch (error) {
      this.failure ??= error;
      throw this.failure;
    }
    this.state = 'closed';
    return [...this.parts];
  }

  /** Stops writing and deletes every part this writer stored (also after `close`). Never throws. */
  async abort(): Promise<void> {
    if (this.state === 'aborted') return;
    this.state = 'aborted';
    this.buffered = '';
    const keys = this.parts.map((part) => part.key);
    const open = this.current;
    this.current = undefined;
    if (open) {
      keys.push(open.key);
      open.closing = true;
      open.gzip.destroy(new Error('PartWriter aborted'));
      await open.upload.then(
        () => undefined,
        () => undefined,
      );
    }
    await Promise.all(keys.map((key) => this.store.delete(key).catch(() => undefined)));
  }

  private assertWritable(): void {
    if (this.state !== 'open') throw new Error(`PartWriter is ${this.state}; no more rows can be written.`);
    if (this.pending) {
      throw new Error('PartWriter.write was called before the previous write finished; await each write.');
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /** Hands the gathered lines to gzip; `false` means wait for 'drain'. */
  private flush(part: OpenPart): boolean {
    const chunk = Buffer.from(this.buffered, 'utf8');
    this.buffered = '';
    part.rawBytes += chunk.length;
    return part.gzip.write(chunk);
  }

  private async settle(part: OpenPart, accepted: boolean, full: boolean): Promise<void> {
    try {
      if (!accepted) await this.drained(part);
      if (full) await this.finishPart(part);
    } catch (error) {
      this.failure ??= error;
      throw this.failure;
    }
  }

  private async drained(part: OpenPart): Promise<void> {
    try {
      await once(part.gzip, 'drain', { signal: part.uploadEnded.signal });
    } catch (error) {
      throw part.uploadEnded.signal.aborted ? part.uploadEnded.signal.reason : error;
    }
  }

  private openPart(): OpenPart {
    const key = `${this.prefix}part-${String(this.parts.length).padStart(5, '0')}.csv.gz`;
    const part: OpenPart = {
      key,
      gzip: createGzip({ level: this.gzipLevel, ...GZIP_INPUT_BUFFER }),
      upload: Promise.resolve(),
      uploadEnded: new AbortController(),
      rows: 0,
      rawBytes: 0,
      contentLength: 0,
      closing: false,
    };
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        part.contentLength += chunk.length;
        callback(null, chunk);
      },
    });
    const fail = (error: unknown) => {
      if (!part.closing) this.failure ??= error;
      part.uploadEnded.abort(error);
    };
    part.gzip.on('error', (error) => counted.destroy(error));
    counted.on('error', fail);
    part.gzip.pipe(counted);
    part.upload = this.store.put(key, counted, { contentType: 'application/gzip' }).then(() => {
      if (!part.closing) {
        fail(new Error(`The object store finished reading ${key} before the part was complete.`));
      }
    });
    // Failures reach the caller through write()/close(); this records an early one.
    part.upload.catch(fail);
    this.current = part;
    return part;
  }

  private async finishPart(part: OpenPart): Promise<void> {
    part.closing = true;
    part.gzip.end();
    await part.upload;
    if (part.uploadEnded.signal.aborted) throw part.uploadEnded.signal.reason;
    const stored = await this.store.head(part.key);
    if (stored?.size !== part.contentLength) {
      throw new Error(
        `Part ${part.key} was stored with ${stored ? `${stored.size} bytes` : 'no object'}, but ` +
          `${part.contentLength} compressed bytes were written. The upload was incomplete; write the batch again.`,
      );
    }
    this.parts.push({
      key: part.key,
      url: this.store.url(part.key),
      rows: part.rows,
      rawBytes: part.rawBytes,
      contentLength: part.contentLength,
    });
    this.current = undefined;
  }
}
