import { once } from 'node:events';
import { createGzip, type Gzip } from 'node:zlib';
import type { ObjectStore } from '../../storage/object-store.ts';
import type { QuarantineRecord } from '../../transform/outcome.ts';

const FLUSH_CHARS = 64 * 1024;

/**
 * Streams a batch's quarantine records as gzip JSON lines into one object. The upload opens
 * with the first record, so a batch of nothing but bad lines never sits in memory; the object
 * appears only when `close()` ends the stream (puts are atomic), and never after `abort()`.
 */
export class QuarantineWriter {
  records = 0;
  readonly byReason: Record<string, number> = {};
  #buffered = '';
  #gzip: Gzip | undefined;
  #upload: Promise<void> | undefined;
  #uploadEnded = new AbortController();
  #closing = false;
  #failure: unknown;

  constructor(
    private readonly store: ObjectStore,
    readonly key: string,
  ) {}

  /** Await the returned promise, when there is one, before the next call. */
  add(record: QuarantineRecord): Promise<void> | undefined {
    if (this.#failure !== undefined) throw this.#failure;
    this.records++;
    this.byReason[record.reason] = (this.byReason[record.reason] ?? 0) + 1;
    this.#buffered += `${JSON.stringify(record)}\n`;
    return this.#buffered.length < FLUSH_CHARS ? undefined : this.#flush();
  }

  /** Ends the object; `undefined` (and nothing written) when there was no record. */
  async close(): Promise<string | undefined> {
    if (this.records === 0) return undefined;
    await this.#flush();
    const gzip = this.#gzip!;
    this.#closing = true;
    gzip.end();
    await this.#upload;
    if (this.#failure !== undefined) throw this.#failure;
    return this.key;
  }

  /** Drops the upload in progress; a put that never completed leaves no object. */
  async abort(): Promise<void> {
    this.#closing = true;
    this.#gzip?.destroy(new Error('quarantine upload aborted'));
    await this.#upload?.catch(() => undefined);
  }

  async #flush(): Promise<void> {
    if (this.#buffered.length === 0) return;
    const gzip = this.#gzip ?? this.#open();
    const accepted = gzip.write(Buffer.from(this.#buffered, 'utf8'));
    this.#buffered = '';
    if (accepted) return;
    try {
      await once(gzip, 'drain', { signal: this.#uploadEnded.signal });
    } catch (error) {
      throw this.#failure ?? error;
    }
  }

  #open(): Gzip {
    const gzip = createGzip();
    const fail = (error: unknown) => {
      this.#failure ??= error;
      this.#uploadEnded.abort(error);
    };
    // The store may have stopped reading already (its put failed); the error is reported there.
    gzip.on('error', () => undefined);
    this.#upload = this.store.put(this.key, gzip, { contentType: 'application/gzip' }).then(
      () => {
        if (!this.#closing)
          fail(new Error(`The object store stopped reading ${this.key} before it was complete.`));
      },
      (error: unknown) => {
        if (!this.#closing) fail(error);
        else this.#failure ??= error;
      },
    );
    this.#gzip = gzip;
    return gzip;
  }
}
