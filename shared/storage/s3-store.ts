import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import {
  type DeleteOptions,
  type ListOptions,
  ObjectNotFoundError,
  type ObjectStore,
  PreconditionFailedError,
  type PutOptions,
  type StoredObject,
} from './object-store.ts';

export interface S3ObjectStoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /**
   * Folder of the bucket that holds this store's keys, e.g. `amplitude-export/`.
   * @default - the whole bucket
   */
  readonly prefix?: string;
  /** Part size of streamed uploads (S3's minimum is 5 MiB). @default 8 MiB */
  readonly partSize?: number;
  /** Parts of one streamed upload in flight; memory is about (queueSize + 1) × partSize. @default 2 */
  readonly queueSize?: number;
}

/** S3 refused the request for lack of permission: the message names what to grant. */
export class StorageAccessError extends Error {
  override readonly name = 'StorageAccessError';
}

type Operation = 'ListObjectsV2' | 'HeadObject' | 'GetObject' | 'PutObject' | 'CopyObject' | 'DeleteObject';

interface AwsError {
  readonly name?: string;
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

const MiB = 1024 * 1024;

/**
 * The object store on S3. Etags are returned without the quotes S3 puts around them, and
 * quoted again for `If-Match`.
 */
export class S3ObjectStore implements ObjectStore {
  readonly root: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #partSize: number;
  readonly #queueSize: number;

  constructor(options: S3ObjectStoreOptions) {
    if (!options.bucket) throw new Error('S3ObjectStore needs a bucket name; got an empty one.');
    const prefix = options.prefix ?? '';
    if (prefix.startsWith('/')) {
      throw new Error(
        `S3ObjectStore prefix ${JSON.stringify(prefix)} must not start with "/"; S3 keys have no leading slash.`,
      );
    }
    this.#client = options.client;
    this.#bucket = options.bucket;
    this.#prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.#partSize = options.partSize ?? 8 * MiB;
    this.#queueSize = options.queueSize ?? 2;
    this.root = `s3://${this.#bucket}${this.#prefix ? `/${this.#prefix.slice(0, -1)}` : ''}`;
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<StoredObject> {
    let continuationToken: string | undefined;
    do {
      const page = await this.#send('ListObjectsV2', prefix, () =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: this.#full(prefix),
            MaxKeys: options.pageSize ?? 1000,
            ContinuationToken: continuationToken,
            // The continuation token already encodes the position; StartAfter only opens the listing.
            StartAfter:
              continuationToken === undefined && options.startAfter !== undefined
                ? this.#full(options.startAfter)
                : undefined,
          }),
        ),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield {
          key: object.Key.slice(this.#prefix.length),
          size: object.Size ?? 0,
          lastModified: object.LastModified ?? new Date(0),
          etag: unquote(object.ETag),
        };
      }
      if (page.IsTruncated && !page.NextContinuationToken) {
        throw new Error(
          `S3 said the listing of s3://${this.#bucket}/${this.#full(prefix)} goes on but gave no continuation token.`,
        );
      }
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken !== undefined);
  }

  async head(key: string): Promise<StoredObject | undefined> {
    assertKey(key);
    try {
      const output = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#full(key) }),
      );
      return {
        key,
        size: output.ContentLength ?? 0,
        lastModified: output.LastModified ?? new Date(0),
        etag: unquote(output.ETag),
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.#explain(error, 'HeadObject', key);
    }
  }

  async getStream(key: string): Promise<Readable> {
    const body = await this.#getBody(key);
    if (body instanceof Readable) return body;
    if (typeof body.transformToWebStream === 'function') {
      return Readable.fromWeb(body.transformToWebStream() as WebReadableStream);
    }
    throw new Error(`GetObject on ${this.url(key)} returned a body that is not a stream.`);
  }

  async getBytes(key: string): Promise<Buffer> {
    const bytes = await (await this.#getBody(key)).transformToByteArray();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async put(
    key: string,
    body: Buffer | string | Readable,
    options: PutOptions = {},
  ): Promise<{ etag: string }> {
    assertKey(key);
    if (options.ifNoneMatch !== undefined && options.ifMatch !== undefined) {
      throw new Error(`put(${key}): pass either ifNoneMatch or ifMatch, not both.`);
    }
    const params = {
      Bucket: this.#bucket,
      Key: this.#full(key),
      ContentType: options.contentType,
      IfNoneMatch: options.ifNoneMatch,
      IfMatch: options.ifMatch === undefined ? undefined : quote(options.ifMatch),
    };
    try {
      if (body instanceof Readable) {
        // Multipart for large streams; lib-storage sends one PutObject when the stream fits in a
        // part. The conditions travel on PutObject or CompleteMultipartUpload, which accept them.
        const upload = new Upload({
          client: this.#client,
          params: { ...params, Body: body },
          partSize: this.#partSize,
          queueSize: this.#queueSize,
        });
        const output = await upload.done();
        return { etag: unquote('ETag' in output ? output.ETag : undefined) };
      }
      const output = await this.#client.send(new PutObjectCommand({ ...params, Body: body }));
      return { etag: unquote(output.ETag) };
    } catch (error) {
      if (options.ifMatch !== undefined && isNotFound(error)) {
        throw new PreconditionFailedError(key, `the object does not exist, expected etag ${options.ifMatch}`);
      }
      throw this.#explain(error, 'PutObject', key);
    }
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    assertKey(fromKey);
    assertKey(toKey);
    try {
      await this.#client.send(
        new CopyObjectCommand({
          Bucket: this.#bucket,
          Key: this.#full(toKey),
          CopySource: `${this.#bucket}/${encodeKey(this.#full(fromKey))}`,
        }),
      );
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(fromKey);
      throw this.#explain(error, 'CopyObject', `${fromKey} -> ${toKey}`);
    }
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<void> {
    assertKey(key);
    try {
      await this.#client.send(
        new DeleteObjectCommand({
          Bucket: this.#bucket,
          Key: this.#full(key),
          IfMatch: options.ifMatch === undefined ? undefined : quote(options.ifMatch),
        }),
      );
    } catch (error) {
      if (isNotFound(error)) return;
      throw this.#explain(error, 'DeleteObject', key);
    }
  }

  url(key: string): string {
    assertKey(key);
    return `s3://${this.#bucket}/${this.#full(key)}`;
  }

  keyOf(url: string): string {
    const base = `s3://${this.#bucket}/${this.#prefix}`;
    if (!url.startsWith(base) || url.length === base.length) {
      throw new Error(
        `${url} is not an object address in this store: expected s3://${this.#bucket}/${this.#prefix}<key>. ` +
          'Check that the manifest or setting names the configured bucket and prefix.',
      );
    }
    return url.slice(base.length);
  }

  async #getBody(key: string) {
    assertKey(key);
    try {
      const output = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: this.#full(key) }),
      );
      if (!output.Body) throw new Error(`GetObject on ${this.url(key)} returned no body.`);
      return output.Body;
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(key);
      throw this.#explain(error, 'GetObject', key);
    }
  }

  async #send<T>(operation: Operation, key: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw this.#explain(error, operation, key);
    }
  }

  #full(key: string): string {
    return `${this.#prefix}${key}`;
  }

  /** Turns S3's answer into the port's errors, or into a message that says what to fix. */
  #explain(error: unknown, operation: Operation, key: string): unknown {
    const { name, $metadata } = (error ?? {}) as AwsError;
    const status = $metadata?.httpStatusCode;
    const where = `s3://${this.#bucket}/${this.#full(key)}`;
    if (name === 'PreconditionFailed' || status === 412) {
      return new PreconditionFailedError(key, `S3 answered 412 PreconditionFailed to ${operation}`);
    }
    if (name === 'ConditionalRequestConflict' || (status === 409 && operation === 'PutObject')) {
      return new PreconditionFailedError(
        key,
        `S3 answered 409 ConditionalRequestConflict to ${operation}: another conditional write to the key was in progress`,
      );
    }
    if (name === 'NoSuchBucket') {
      return new Error(
        `${operation} on ${where} failed: bucket ${this.#bucket} does not exist (NoSuchBucket). ` +
          'Check the bucket name in the configuration and the region of the S3 client.',
        { cause: error },
      );
    }
    if (name === 'AccessDenied' || name === 'Forbidden' || status === 403) {
      return new StorageAccessError(
        `S3 refused ${operation} on ${where} (${name ?? '403'}). ${permissionHint(operation, this.#bucket)}`,
        { cause: error },
      );
    }
    return error;
  }
}

function permissionHint(operation: Operation, bucket: string): string {
  const objects = `arn:aws:s3:::${bucket}/*`;
  const kms =
    ' If the bucket is encrypted with a customer managed KMS key, its key policy must also let the role use ' +
    'kms:Decrypt (reads) and kms:GenerateDataKey (writes).';
  switch (operation) {
    case 'ListObjectsV2':
      return `Check that the IAM role running this has s3:ListBucket on arn:aws:s3:::${bucket}.`;
    case 'HeadObject':
    case 'GetObject':
      return (
        `Check that the IAM role running this has s3:GetObject on ${objects}. S3 also answers 403 instead of 404 ` +
        `for a missing key when the role lacks s3:ListBucket on arn:aws:s3:::${bucket}.${kms}`
      );
    case 'PutObject':
      return `Check that the IAM role running this has s3:PutObject (and s3:AbortMultipartUpload) on ${objects}.${kms}`;
    case 'CopyObject':
      return `Check that the IAM role running this has s3:GetObject and s3:PutObject on ${objects}.${kms}`;
    case 'DeleteObject':
      return `Check that the IAM role running this has s3:DeleteObject on ${objects} (conditional deletes also need s3:GetObject).`;
  }
}

function isNotFound(error: unknown): boolean {
  const { name, $metadata } = (error ?? {}) as AwsError;
  if (name === 'NoSuchBucket') return false;
  return name === 'NotFound' || name === 'NoSuchKey' || $metadata?.httpStatusCode === 404;
}

function assertKey(key: string): void {
  if (typeof key !== 'string' || key === '' || key.startsWith('/')) {
    throw new Error(
      `Invalid object key ${JSON.stringify(key)}: keys are non-empty and never start with "/".`,
    );
  }
}

/** CopySource must be URL-encoded; `/` between parts stays as it is. */
export function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

function unquote(etag: string | undefined): string {
  if (!etag) return '';
  return etag.startsWith('"') && etag.endsWith('"') && etag.length >= 2 ? etag.slice(1, -1) : etag;
}

function quote(etag: string): string {
  return etag.startsWith('"') ? etag : `"${etag}"`;
}
