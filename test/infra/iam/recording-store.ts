import type { Readable } from 'node:stream';
import type {
  DeleteOptions,
  ListOptions,
  ObjectStore,
  PutOptions,
  StoredObject,
} from '#shared/storage/object-store.ts';

/** One S3 request a store operation makes, as IAM authorizes it. */
export interface RecordedCall {
  readonly action: 's3:ListBucket' | 's3:GetObject' | 's3:PutObject' | 's3:DeleteObject';
  /** The object key, or the listed prefix for ListBucket. */
  readonly key: string;
}

/**
 * An ObjectStore that passes every call to a real one and records the S3 requests the S3
 * adapter would make for it (HeadObject and GetObject need s3:GetObject, CopyObject needs
 * GetObject on the source and PutObject on the target), so a test can run the real pipeline
 * code locally and ask the IAM evaluator whether the deployed role may make each of them.
 */
export class RecordingStore implements ObjectStore {
  readonly root: string;
  readonly calls: RecordedCall[] = [];

  constructor(private readonly inner: ObjectStore) {
    this.root = inner.root;
  }

  list(prefix: string, options?: ListOptions): AsyncIterable<StoredObject> {
    this.calls.push({ action: 's3:ListBucket', key: prefix });
    return this.inner.list(prefix, options);
  }

  head(key: string): Promise<StoredObject | undefined> {
    this.calls.push({ action: 's3:GetObject', key });
    return this.inner.head(key);
  }

  getStream(key: string): Promise<Readable> {
    this.calls.push({ action: 's3:GetObject', key });
    return this.inner.getStream(key);
  }

  getBytes(key: string): Promise<Buffer> {
    this.calls.push({ action: 's3:GetObject', key });
    return this.inner.getBytes(key);
  }

  put(key: string, body: Buffer | string | Readable, options?: PutOptions): Promise<{ etag: string }> {
    this.calls.push({ action: 's3:PutObject', key });
    return this.inner.put(key, body, options);
  }

  copy(fromKey: string, toKey: string): Promise<void> {
    this.calls.push({ action: 's3:GetObject', key: fromKey }, { action: 's3:PutObject', key: toKey });
    return this.inner.copy(fromKey, toKey);
  }

  delete(key: string, options?: DeleteOptions): Promise<void> {
    this.calls.push({ action: 's3:DeleteObject', key });
    return this.inner.delete(key, options);
  }

  url(key: string): string {
    return this.inner.url(key);
  }

  keyOf(url: string): string {
    return this.inner.keyOf(url);
  }
}
