import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  type ListOptions,
  ObjectNotFoundError,
  type ObjectStore,
  PreconditionFailedError,
  type PutOptions,
  type StoredObject,
} from '#shared/storage/object-store.ts';

interface Entry {
  readonly bytes: Buffer;
  readonly object: StoredObject;
}

/**
 * An `ObjectStore` in memory for tests. `put` reads a `Readable` body to its end, chunk by
 * chunk, and `receivedBytes` shows how much of an upload in progress has arrived, so tests
 * can see that a writer streams. `beforeChunk` lets a test slow the reader down.
 */
export class MemoryObjectStore implements ObjectStore {
  readonly root: string;
  private readonly objects = new Map<string, Entry>();
  private readonly inProgress = new Map<string, number>();
  private version = 0;
  /** Called before each body chunk is read; await in it to apply backpressure. */
  beforeChunk: ((key: string, receivedSoFar: number) => Promise<void> | void) | undefined;
  readonly putCalls: string[] = [];

  constructor(bucket = 'test-bucket') {
    this.root = `mem://${bucket}`;
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<StoredObject> {
    const keys = [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort();
    for (const key of keys) {
      if (options.startAfter !== undefined && key <= options.startAfter) continue;
      const entry = this.objects.get(key);
      if (entry) yield entry.object;
    }
  }

  async head(key: string): Promise<StoredObject | undefined> {
    return this.objects.get(key)?.object;
  }

  async getStream(key: string): Promise<Readable> {
    return Readable.from([await this.getBytes(key)]);
  }

  async getBytes(key: string): Promise<Buffer> {
    const entry = this.objects.get(key);
    if (!entry) throw new ObjectNotFoundError(key);
    return Buffer.from(entry.bytes);
  }

  async put(
    key: string,
    body: Buffer | string | Readable,
    options: PutOptions = {},
  ): Promise<{ etag: string }> {
    this.putCalls.push(key);
    const bytes =
      typeof body === 'string' || Buffer.isBuffer(body) ? Buffer.from(body) : await this.read(key, body);
    const existing = this.objects.get(key);
    if (options.ifNoneMatch === '*' && existing) throw new PreconditionFailedError(key, 'the key exists');
    if (options.ifMatch !== undefined && existing?.object.etag !== options.ifMatch) {
      throw new PreconditionFailedError(key, 'the etag does not match');
    }
    const etag = `"${createHash('md5').update(bytes).digest('hex')}-${++this.version}"`;
    this.objects.set(key, { bytes, object: { key, size: bytes.length, lastModified: new Date(), etag } });
    return { etag };
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    await this.put(toKey, await this.getBytes(fromKey));
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }

  url(key: string): string {
    return `${this.root}/${key}`;
  }

  keyOf(url: string): string {
    if (!url.startsWith(`${this.root}/`)) throw new Error(`${url} is not in ${this.root}`);
    return url.slice(this.root.length + 1);
  }

  /** Bytes of `key` read so far while its `put` is still running; `undefined` otherwise. */
  receivedBytes(key: string): number | undefined {
    return this.inProgress.get(key);
  }

  /** Stored bytes of a key that must exist (tests only). */
  getBytesSync(key: string): Buffer {
    const entry = this.objects.get(key);
    if (!entry) throw new ObjectNotFoundError(key);
    return entry.bytes;
  }

  keys(): string[] {
    return [...this.objects.keys()].sort();
  }

  private async read(key: string, body: Readable): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let received = 0;
    this.inProgress.set(key, 0);
    try {
      for await (const chunk of body) {
        await this.beforeChunk?.(key, received);
        const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
        chunks.push(buffer);
        received += buffer.length;
        this.inProgress.set(key, received);
      }
    } finally {
      this.inProgress.delete(key);
    }
    return Buffer.concat(chunks);
  }
}
