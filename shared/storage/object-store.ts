import type { Readable } from 'node:stream';

/** One object as listed. */
export interface StoredObject {
  readonly key: string;
  /** Bytes. */
  readonly size: number;
  readonly lastModified: Date;
  /** Opaque version tag; changes whenever the content changes. Used with `ifMatch`. */
  readonly etag: string;
}

export interface ListOptions {
  /** List only keys after this one (lexicographic), as S3's StartAfter. */
  readonly startAfter?: string;
  /** Keys per underlying page request. @default 1000 */
  readonly pageSize?: number;
}

export interface PutOptions {
  /** Create-only: fail with `PreconditionFailedError` when the key exists (leases). */
  readonly ifNoneMatch?: '*';
  /** Replace only if the current etag is this one; otherwise `PreconditionFailedError`. */
  readonly ifMatch?: string;
  readonly contentType?: string;
}

export interface DeleteOptions {
  /** Delete only if the current etag is this one; otherwise `PreconditionFailedError` (releasing leases). */
  readonly ifMatch?: string;
}

/**
 * The object storage port: S3 in AWS, a folder locally. Keys are `/`-separated, never start
 * with `/`. Listing is in lexicographic key order, paginated underneath.
 */
export interface ObjectStore {
  /** `s3://bucket` or `file:///abs/path`: prefix of every `url()`. */
  readonly root: string;
  list(prefix: string, options?: ListOptions): AsyncIterable<StoredObject>;
  /** `undefined` when the key does not exist. */
  head(key: string): Promise<StoredObject | undefined>;
  /** Streams the object's bytes. Throws `ObjectNotFoundError`. */
  getStream(key: string): Promise<Readable>;
  /** Whole object in memory: only for small objects (manifests, state records). */
  getBytes(key: string): Promise<Buffer>;
  /** Writes the object atomically: readers see the old object or the whole new one, never a part. */
  put(key: string, body: Buffer | string | Readable, options?: PutOptions): Promise<{ etag: string }>;
  copy(fromKey: string, toKey: string): Promise<void>;
  /** Deleting a missing key is not an error, with or without `ifMatch`. */
  delete(key: string, options?: DeleteOptions): Promise<void>;
  /** Address of the key as COPY and manifests name it: `s3://bucket/key` or `file:///.../key`. */
  url(key: string): string;
  /** The key of an address from `url()`. Throws when the address is not in this store. */
  keyOf(url: string): string;
}

export class ObjectNotFoundError extends Error {
  override readonly name = 'ObjectNotFoundError';
  constructor(readonly key: string) {
    super(`Object ${key} does not exist`);
  }
}

export class PreconditionFailedError extends Error {
  override readonly name = 'PreconditionFailedError';
  constructor(
    readonly key: string,
    detail: string,
  ) {
    super(`Conditional write to ${key} refused: ${detail}`);
  }
}
