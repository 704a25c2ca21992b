import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchBucket,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/util-stream';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  ObjectNotFoundError,
  PreconditionFailedError,
  type StoredObject,
} from '#shared/storage/object-store.ts';
import { S3ObjectStore, StorageAccessError } from '#shared/storage/s3-store.ts';

const s3 = mockClient(S3Client);
const client = new S3Client({
  region: 'eu-west-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
});
const store = new S3ObjectStore({ client, bucket: 'export-bucket', prefix: 'amp' });
const MiB = 1024 * 1024;

function serviceError(name: string, status: number): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: status },
    message: name,
  });
}

function body(content: string | Buffer) {
  return sdkStreamMixin(Readable.from([Buffer.from(content)]));
}

async function collect(iterable: AsyncIterable<StoredObject>): Promise<StoredObject[]> {
  const objects: StoredObject[] = [];
  for await (const object of iterable) objects.push(object);
  return objects;
}

beforeEach(() => {
  s3.reset();
});

describe('list', () => {
  it('follows continuation tokens over three pages and strips the store prefix', async () => {
    const modified = new Date('2024-05-01T00:00:00Z');
    s3.on(ListObjectsV2Command)
      .resolvesOnce({
        IsTruncated: true,
        NextContinuationToken: 'token-1',
        Contents: [{ Key: 'amp/staging/b', Size: 1, ETag: '"e-b"', LastModified: modified }],
      })
      .resolvesOnce({
        IsTruncated: true,
        NextContinuationToken: 'token-2',
        Contents: [
          { Key: 'amp/staging/c', Size: 2, ETag: '"e-c"', LastModified: modified },
          { Key: 'amp/staging/d', Size: 3, ETag: '"e-d"', LastModified: modified },
        ],
      })
      .resolvesOnce({
        IsTruncated: false,
        Contents: [{ Key: 'amp/staging/e', Size: 4, ETag: '"e-e"', LastModified: modified }],
      });

    const objects = await collect(store.list('staging/', { startAfter: 'staging/a', pageSize: 2 }));

    expect(objects.map((o) => [o.key, o.size, o.etag])).toEqual([
      ['staging/b', 1, 'e-b'],
      ['staging/c', 2, 'e-c'],
      ['staging/d', 3, 'e-d'],
      ['staging/e', 4, 'e-e'],
    ]);
    expect(objects[0]?.lastModified).toEqual(modified);
    const inputs = s3.commandCalls(ListObjectsV2Command).map((call) => call.args[0].input);
    expect(inputs).toEqual([
      { Bucket: 'export-bucket', Prefix: 'amp/staging/', MaxKeys: 2, StartAfter: 'amp/staging/a' },
      { Bucket: 'export-bucket', Prefix: 'amp/staging/', MaxKeys: 2, ContinuationToken: 'token-1' },
      { Bucket: 'export-bucket', Prefix: 'amp/staging/', MaxKeys: 2, ContinuationToken: 'token-2' },
    ]);
  });

  it('asks for 1000 keys a page by default and stops on an empty listing', async () => {
    s3.on(ListObjectsV2Command).resolves({ IsTruncated: false });

    expect(await collect(store.list('nothing/'))).toEqual([]);
    expect(s3.commandCalls(ListObjectsV2Command)[0]?.args[0].input).toEqual({
      Bucket: 'export-bucket',
      Prefix: 'amp/nothing/',
      MaxKeys: 1000,
    });
  });

  it('fails clearly on a truncated page without a token', async () => {
    s3.on(ListObjectsV2Command).resolves({ IsTruncated: true, Contents: [] });

    await expect(collect(store.list('x/'))).rejects.toThrow(/no continuation token/);
  });

  it('says which bucket is missing and what to check', async () => {
    s3.on(ListObjectsV2Command).rejects(
      new NoSuchBucket({ $metadata: { httpStatusCode: 404 }, message: 'nope' }),
    );

    await expect(collect(store.list('x/'))).rejects.toThrow(
      /bucket export-bucket does not exist.*Check the bucket name/,
    );
  });

  it('names the IAM action when listing is denied', async () => {
    s3.on(ListObjectsV2Command).rejects(serviceError('AccessDenied', 403));

    const error = await collect(store.list('x/')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageAccessError);
    expect((error as Error).message).toMatch(
      /ListObjectsV2 on s3:\/\/export-bucket\/amp\/x\/.*s3:ListBucket/,
    );
  });
});

describe('head and get', () => {
  it('describes an object', async () => {
    const modified = new Date('2024-05-02T00:00:00Z');
    s3.on(HeadObjectCommand).resolves({ ContentLength: 12, ETag: '"abc"', LastModified: modified });

    expect(await store.head('state/x.json')).toEqual({
      key: 'state/x.json',
      size: 12,
      etag: 'abc',
      lastModified: modified,
    });
    expect(s3.commandCalls(HeadObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: 'export-bucket',
      Key: 'amp/state/x.json',
    });
  });

  it('gives undefined for a missing key', async () => {
    s3.on(HeadObjectCommand).rejects(
      new NotFound({ $metadata: { httpStatusCode: 404 }, message: 'Not Found' }),
    );

    expect(await store.head('state/missing.json')).toBeUndefined();
  });

  it('explains a 403 with the grant and the KMS key policy to check', async () => {
    s3.on(HeadObjectCommand).rejects(serviceError('Forbidden', 403));

    const error = await store.head('state/x.json').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageAccessError);
    const message = (error as Error).message;
    expect(message).toContain('s3://export-bucket/amp/state/x.json');
    expect(message).toContain('s3:GetObject');
    expect(message).toContain('s3:ListBucket');
    expect(message).toContain('kms:Decrypt');
  });

  it('streams the body and reads it whole', async () => {
    s3.on(GetObjectCommand, { Key: 'amp/staging/a.csv' }).callsFake(() => ({ Body: body('a,b\n1,2\n') }));

    const stream = await store.getStream('staging/a.csv');
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(Buffer.from(chunk));

    expect(stream).toBeInstanceOf(Readable);
    expect(Buffer.concat(chunks).toString()).toBe('a,b\n1,2\n');
    expect((await store.getBytes('staging/a.csv')).toString()).toBe('a,b\n1,2\n');
  });

  it('throws ObjectNotFoundError for NoSuchKey', async () => {
    s3.on(GetObjectCommand).rejects(new NoSuchKey({ $metadata: { httpStatusCode: 404 }, message: 'gone' }));

    await expect(store.getStream('x')).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(store.getBytes('x')).rejects.toMatchObject({ name: 'ObjectNotFoundError', key: 'x' });
  });
});

describe('put', () => {
  it('writes create-only with If-None-Match and returns the bare etag', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"new-etag"' });

    const result = await store.put('state/leases/l.json', '{"a":1}', {
      ifNoneMatch: '*',
      contentType: 'application/json',
    });

    expect(result).toEqual({ etag: 'new-etag' });
    expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: 'export-bucket',
      Key: 'amp/state/leases/l.json',
      Body: '{"a":1}',
      ContentType: 'application/json',
      IfNoneMatch: '*',
    });
  });

  it('sends If-Match with the etag quoted', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"v2"' });

    await store.put('state/s.json', Buffer.from('v2'), { ifMatch: 'v1' });

    expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input).toMatchObject({ IfMatch: '"v1"' });
    expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input.IfNoneMatch).toBeUndefined();
  });

  it.each([
    ['PreconditionFailed', 412],
    ['ConditionalRequestConflict', 409],
  ])('turns %s (%i) into PreconditionFailedError', async (name, status) => {
    s3.on(PutObjectCommand).rejects(serviceError(name, status));

    const error = await store.put('k', 'x', { ifNoneMatch: '*' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreconditionFailedError);
    expect((error as PreconditionFailedError).key).toBe('k');
    expect((error as Error).message).toContain(String(status));
  });

  it('turns If-Match on a missing key into PreconditionFailedError', async () => {
    s3.on(PutObjectCommand).rejects(new NoSuchKey({ $metadata: { httpStatusCode: 404 }, message: 'gone' }));

    await expect(store.put('k', 'x', { ifMatch: 'v1' })).rejects.toThrow(/does not exist, expected etag v1/);
  });

  it('names the write permission and KMS key when a put is denied', async () => {
    s3.on(PutObjectCommand).rejects(serviceError('AccessDenied', 403));

    await expect(store.put('staging/a.csv', 'x')).rejects.toThrow(
      /PutObject on s3:\/\/export-bucket\/amp\/staging\/a\.csv.*s3:PutObject.*kms:GenerateDataKey/,
    );
  });

  it('sends a small stream as one PutObject through lib-storage', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"small"' });

    const result = await store.put(
      'staging/small.csv',
      Readable.from([Buffer.from('a,'), Buffer.from('b\n')]),
      {
        ifNoneMatch: '*',
      },
    );

    expect(result.etag).toBe('small');
    expect(s3.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
    const input = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(input).toMatchObject({ Bucket: 'export-bucket', Key: 'amp/staging/small.csv', IfNoneMatch: '*' });
    expect(Buffer.from(input?.Body as Uint8Array).toString()).toBe('a,b\n');
  });

  it('uploads a large stream in bounded parts and puts the condition on the completion', async () => {
    const partStore = new S3ObjectStore({ client, bucket: 'export-bucket', partSize: 5 * MiB, queueSize: 1 });
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
    s3.on(UploadPartCommand).callsFake((input: { PartNumber: number }) => ({
      ETag: `"part-${input.PartNumber}"`,
    }));
    s3.on(CompleteMultipartUploadCommand).resolves({ ETag: '"whole-3"' });
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < 11; i++) yield Buffer.alloc(MiB, i);
      })(),
    );

    const result = await partStore.put('staging/big.csv.gz', source, { ifNoneMatch: '*' });

    expect(result.etag).toBe('whole-3');
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    const parts = s3.commandCalls(UploadPartCommand).map((call) => call.args[0].input);
    expect(parts.map((part) => [part.PartNumber, part.UploadId])).toEqual([
      [1, 'upload-1'],
      [2, 'upload-1'],
      [3, 'upload-1'],
    ]);
    expect(parts.map((part) => (part.Body as Uint8Array).byteLength)).toEqual([5 * MiB, 5 * MiB, MiB]);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input).toMatchObject({
      Bucket: 'export-bucket',
      Key: 'staging/big.csv.gz',
      UploadId: 'upload-1',
      IfNoneMatch: '*',
      MultipartUpload: {
        Parts: [
          { PartNumber: 1, ETag: '"part-1"' },
          { PartNumber: 2, ETag: '"part-2"' },
          { PartNumber: 3, ETag: '"part-3"' },
        ],
      },
    });
  });

  it('aborts the multipart upload when the completion fails its condition', async () => {
    const partStore = new S3ObjectStore({ client, bucket: 'export-bucket', partSize: 5 * MiB, queueSize: 1 });
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-2' });
    s3.on(UploadPartCommand).resolves({ ETag: '"p"' });
    s3.on(CompleteMultipartUploadCommand).rejects(serviceError('PreconditionFailed', 412));
    s3.on(AbortMultipartUploadCommand).resolves({});

    await expect(
      partStore.put('k', Readable.from([Buffer.alloc(6 * MiB)]), { ifMatch: 'old' }),
    ).rejects.toBeInstanceOf(PreconditionFailedError);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input.IfMatch).toBe('"old"');
    expect(s3.commandCalls(AbortMultipartUploadCommand)[0]?.args[0].input).toEqual({
      Bucket: 'export-bucket',
      Key: 'k',
      UploadId: 'upload-2',
    });
  });
});

describe('copy and delete', () => {
  it('URL-encodes the copy source but keeps its slashes', async () => {
    s3.on(CopyObjectCommand).resolves({});

    await store.copy('landing/my file #1 é+ü.json', 'staging/copy.json');

    expect(s3.commandCalls(CopyObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: 'export-bucket',
      Key: 'amp/staging/copy.json',
      CopySource: 'export-bucket/amp/landing/my%20file%20%231%20%C3%A9%2B%C3%BC.json',
    });
  });

  it('throws ObjectNotFoundError when the copy source is missing', async () => {
    s3.on(CopyObjectCommand).rejects(new NoSuchKey({ $metadata: { httpStatusCode: 404 }, message: 'gone' }));

    await expect(store.copy('a', 'b')).rejects.toMatchObject({ name: 'ObjectNotFoundError', key: 'a' });
  });

  it('deletes, conditionally when asked, and ignores missing keys', async () => {
    s3.on(DeleteObjectCommand)
      .resolvesOnce({})
      .rejectsOnce(new NoSuchKey({ $metadata: {}, message: 'gone' }));

    await store.delete('state/leases/l.json', { ifMatch: 'mine' });
    await store.delete('state/leases/l.json');

    expect(s3.commandCalls(DeleteObjectCommand).map((call) => call.args[0].input)).toEqual([
      { Bucket: 'export-bucket', Key: 'amp/state/leases/l.json', IfMatch: '"mine"' },
      { Bucket: 'export-bucket', Key: 'amp/state/leases/l.json' },
    ]);
  });

  it('refuses a conditional delete of a changed object', async () => {
    s3.on(DeleteObjectCommand).rejects(serviceError('PreconditionFailed', 412));

    await expect(store.delete('l.json', { ifMatch: 'old' })).rejects.toBeInstanceOf(PreconditionFailedError);
  });
});

describe('addresses', () => {
  it('maps keys to s3:// URLs under the prefix and back', () => {
    expect(store.root).toBe('s3://export-bucket/amp');
    expect(store.url('staging/a b.csv.gz')).toBe('s3://export-bucket/amp/staging/a b.csv.gz');
    expect(store.keyOf('s3://export-bucket/amp/staging/a b.csv.gz')).toBe('staging/a b.csv.gz');

    const whole = new S3ObjectStore({ client, bucket: 'b' });
    expect(whole.root).toBe('s3://b');
    expect(whole.keyOf(whole.url('x/y'))).toBe('x/y');
  });

  it('refuses URLs of other buckets or prefixes', () => {
    expect(() => store.keyOf('s3://other-bucket/amp/x')).toThrow(/not an object address in this store/);
    expect(() => store.keyOf('s3://export-bucket/ampx/y')).toThrow(
      /expected s3:\/\/export-bucket\/amp\/<key>/,
    );
    expect(() => store.keyOf('file:///tmp/x')).toThrow(/not an object address/);
  });

  it('refuses a prefix with a leading slash and an empty bucket', () => {
    expect(() => new S3ObjectStore({ client, bucket: 'b', prefix: '/x' })).toThrow(
      /must not start with "\/"/,
    );
    expect(() => new S3ObjectStore({ client, bucket: '' })).toThrow(/needs a bucket name/);
  });
});
