import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileSystemObjectStore, InvalidKeyError } from '#shared/storage/fs-store.ts';
import {
  ObjectNotFoundError,
  type ObjectStore,
  PreconditionFailedError,
} from '#shared/storage/object-store.ts';

const md5 = (data: string | Buffer) => createHash('md5').update(data).digest('hex');
const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

async function keysOf(store: ObjectStore, prefix: string, startAfter?: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of store.list(prefix, { startAfter })) keys.push(object.key);
  return keys;
}

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

let root: string;
let store: FileSystemObjectStore;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'fs-store-'));
  store = new FileSystemObjectStore(root);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('reading and writing', () => {
  it('stores strings, buffers and streams, with md5 etags and sizes', async () => {
    const fromString = await store.put('state/a.json', '{"ü":1}');
    const fromBuffer = await store.put('state/b.bin', Buffer.from([0, 1, 2, 255]));
    const fromStream = await store.put('staging/c.csv', Readable.from(['x,y\n', Buffer.from('1,2\n')]));

    expect(fromString.etag).toBe(md5('{"ü":1}'));
    expect(fromBuffer.etag).toBe(md5(Buffer.from([0, 1, 2, 255])));
    expect(fromStream.etag).toBe(md5('x,y\n1,2\n'));
    expect((await store.getBytes('state/a.json')).toString('utf8')).toBe('{"ü":1}');
    expect(await text(await store.getStream('staging/c.csv'))).toBe('x,y\n1,2\n');

    const head = await store.head('state/a.json');
    expect(head).toMatchObject({
      key: 'state/a.json',
      size: Buffer.byteLength('{"ü":1}'),
      etag: fromString.etag,
    });
    expect(Math.abs((head?.lastModified.getTime() ?? 0) - Date.now())).toBeLessThan(60_000);
  });

  it('treats missing keys and folders as absent', async () => {
    await store.put('a/b/c.txt', 'c');

    expect(await store.head('a/missing.txt')).toBeUndefined();
    expect(await store.head('a/b')).toBeUndefined();
    await expect(store.getStream('a/missing.txt')).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(store.getBytes('a/b')).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(store.getBytes('a/b/c.txt/d')).rejects.toBeInstanceOf(ObjectNotFoundError);
  });

  it('replaces an object with an unconditional put', async () => {
    await store.put('k.txt', 'one');
    const second = await store.put('k.txt', 'two!');

    expect((await store.getBytes('k.txt')).toString()).toBe('two!');
    expect(await store.head('k.txt')).toMatchObject({ size: 4, etag: second.etag });
  });

  it('refuses a key that would be both an object and a folder', async () => {
    await store.put('a', 'object');
    await store.put('x/y', 'object below x');

    await expect(store.put('a/b', 'below a')).rejects.toThrow(/a is both an object and a folder/);
    await expect(store.put('x', 'over a folder')).rejects.toThrow(/x is both an object and a folder/);
    await expect(store.put('x', 'over a folder', { ifNoneMatch: '*' })).rejects.toThrow(
      /both an object and a folder/,
    );
    expect(await keysOf(store, '')).toEqual(['a', 'x/y']);
  });

  it('leaves no object and no temp file when the body stream fails', async () => {
    const failing = new Readable({
      read() {
        this.push('partial');
        this.destroy(new Error('source broke'));
      },
    });

    await expect(store.put('dir/broken.csv', failing)).rejects.toThrow('source broke');
    expect(await store.head('dir/broken.csv')).toBeUndefined();
    expect(await readdir(path.join(root, 'dir'))).toEqual([]);
  });
});

describe('listing', () => {
  it('lists in UTF-8 byte order across folders, as S3 does', async () => {
    const keys = ['a0', 'a/b', 'a-c', 'b', 'a/b-c/d', 'a/c/d', 'é', '\u{1F600}', '\uFFFD', 'Z', 'a.b'];
    for (const key of keys) await store.put(key, key);

    expect(await keysOf(store, '')).toEqual([...keys].sort(byUtf8));
  });

  it('filters by a prefix that ends inside a name', async () => {
    for (const key of [
      'staging/events/1/p.csv',
      'staging/eva.txt',
      'staging/x/p.csv',
      'stagingz',
      'manifests/m',
    ]) {
      await store.put(key, key);
    }

    expect(await keysOf(store, 'staging/ev')).toEqual(['staging/eva.txt', 'staging/events/1/p.csv']);
    expect(await keysOf(store, 'staging/')).toEqual([
      'staging/eva.txt',
      'staging/events/1/p.csv',
      'staging/x/p.csv',
    ]);
    expect(await keysOf(store, 'staging')).toEqual([
      'staging/eva.txt',
      'staging/events/1/p.csv',
      'staging/x/p.csv',
      'stagingz',
    ]);
    expect(await keysOf(store, 'nothing/here/')).toEqual([]);
    expect(await keysOf(store, 'stagingz/')).toEqual([]);
  });

  it('starts after a key, also one that is missing or names a folder', async () => {
    for (const key of ['a/1', 'a/2/x', 'a/2/y', 'a/3', 'b/1']) await store.put(key, key);

    expect(await keysOf(store, '', 'a/2/x')).toEqual(['a/2/y', 'a/3', 'b/1']);
    expect(await keysOf(store, '', 'a/2')).toEqual(['a/2/x', 'a/2/y', 'a/3', 'b/1']);
    expect(await keysOf(store, '', 'a/2/')).toEqual(['a/2/x', 'a/2/y', 'a/3', 'b/1']);
    expect(await keysOf(store, '', 'a/25')).toEqual(['a/3', 'b/1']);
    expect(await keysOf(store, 'a/', 'a/3')).toEqual([]);
    expect(await keysOf(store, 'b/', '')).toEqual(['b/1']);
  });

  it('walks 2500 keys in order and resumes from any of them', async () => {
    const keys = Array.from(
      { length: 2500 },
      (_, i) => `batch/${i % 7}/part-${String(i).padStart(5, '0')}.csv`,
    );
    await Promise.all(keys.map((key) => store.put(key, key)));
    const expected = [...keys].sort(byUtf8);

    const listed: { key: string; etag: string; size: number }[] = [];
    for await (const object of store.list('batch/', { pageSize: 100 })) listed.push(object);

    expect(listed.map((o) => o.key)).toEqual(expected);
    expect(listed[42]).toMatchObject({ etag: md5(expected[42]!), size: expected[42]!.length });
    expect(await keysOf(store, 'batch/', expected[1234])).toEqual(expected.slice(1235));
  });

  it('never lists temp files, hidden files or an upload in progress', async () => {
    await store.put('dir/done.csv', 'done');
    await writeFile(path.join(root, 'dir', '.tmp-left-by-a-crash'), 'junk');
    await writeFile(path.join(root, 'dir', '.DS_Store'), 'junk');
    const body = new PassThrough();
    const pending = store.put('dir/pending.csv', body);
    body.write('first half,');
    await new Promise((resolve) => setTimeout(resolve, 50));

    const onDisk = await readdir(path.join(root, 'dir'));
    expect(onDisk.filter((name) => name.startsWith('.tmp-')).length).toBe(2);
    expect(await keysOf(store, 'dir/')).toEqual(['dir/done.csv']);
    expect(await store.head('dir/pending.csv')).toBeUndefined();

    body.end('second half');
    await pending;
    expect(await keysOf(store, 'dir/')).toEqual(['dir/done.csv', 'dir/pending.csv']);
    expect((await store.getBytes('dir/pending.csv')).toString()).toBe('first half,second half');
  });
});

describe('conditional writes', () => {
  it('lets exactly one of 20 racing create-only writers win', async () => {
    // Separate instances share no in-process lock: only the file system decides.
    const writers = Array.from({ length: 20 }, () => new FileSystemObjectStore(root));
    const results = await Promise.allSettled(
      writers.map((writer, i) => writer.put('state/leases/x.json', `writer ${i}`, { ifNoneMatch: '*' })),
    );

    const winners = results.flatMap((result, i) => (result.status === 'fulfilled' ? [i] : []));
    expect(winners).toHaveLength(1);
    for (const result of results) {
      if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(PreconditionFailedError);
    }
    expect((await store.getBytes('state/leases/x.json')).toString()).toBe(`writer ${winners[0]}`);
    expect(await readdir(path.join(root, 'state', 'leases'))).toEqual(['x.json']);
  });

  it('lets exactly one of several racing processes create the key', async () => {
    const racer = path.join(import.meta.dirname, 'fixtures', 'create-only-racer.ts');
    const startAt = Date.now() + 2500;
    const run = promisify(execFile);
    const outputs = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        run(process.execPath, [
          '--import',
          'tsx',
          racer,
          root,
          'race/key.txt',
          `process ${i}`,
          String(startAt),
        ]),
      ),
    );

    const said = outputs.map((output) => output.stdout.trim());
    expect(said.filter((word) => word === 'won')).toHaveLength(1);
    expect(said.filter((word) => word === 'lost')).toHaveLength(5);
    expect((await store.getBytes('race/key.txt')).toString()).toBe(`process ${said.indexOf('won')}`);
  });

  it('replaces only when ifMatch names the current etag', async () => {
    const first = await store.put('state/s.json', 'v1');

    const second = await store.put('state/s.json', 'v2', { ifMatch: first.etag });
    expect(second.etag).toBe(md5('v2'));

    await expect(store.put('state/s.json', 'v3', { ifMatch: first.etag })).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
    await expect(store.put('state/missing.json', 'v1', { ifMatch: first.etag })).rejects.toThrow(
      /does not exist/,
    );
    expect((await store.getBytes('state/s.json')).toString()).toBe('v2');
    expect(await store.head('state/missing.json')).toBeUndefined();
  });

  it('lets one of many concurrent ifMatch writers in this process win', async () => {
    const { etag } = await store.put('state/s.json', 'v0');
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => store.put('state/s.json', `v${i + 1}`, { ifMatch: etag })),
    );

    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    const winner = results.findIndex((result) => result.status === 'fulfilled');
    expect((await store.getBytes('state/s.json')).toString()).toBe(`v${winner + 1}`);
  });

  it('refuses a create-only write over an existing key and keeps it', async () => {
    await store.put('k', 'original');

    await expect(store.put('k', 'other', { ifNoneMatch: '*' })).rejects.toThrow(/already exists/);
    expect((await store.getBytes('k')).toString()).toBe('original');
  });

  it('refuses both conditions at once', async () => {
    await expect(store.put('k', 'x', { ifNoneMatch: '*', ifMatch: 'abc' })).rejects.toThrow(/either/);
  });
});

describe('large files', () => {
  it('keeps etags right across store instances and changes made by other tools', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 'a');
    const { etag } = await store.put('landing/big.json', big);
    expect(etag).toBe(md5(big));
    expect((await store.head('landing/big.json'))?.etag).toBe(etag);
    expect((await new FileSystemObjectStore(root).head('landing/big.json'))?.etag).toBe(etag);

    const sameSize = Buffer.alloc(big.length, 'b');
    const temp = path.join(root, 'landing', 'replacement');
    await writeFile(temp, sameSize);
    await rename(temp, path.join(root, 'landing', 'big.json'));
    expect((await store.head('landing/big.json'))?.etag).toBe(md5(sameSize));

    const longer = Buffer.concat([sameSize, Buffer.from('tail')]);
    await writeFile(path.join(root, 'landing', 'big.json'), longer);
    const listed = [];
    for await (const object of store.list('landing/')) listed.push(object);
    expect(listed).toEqual([
      expect.objectContaining({ key: 'landing/big.json', etag: md5(longer), size: longer.length }),
    ]);
  });
});

describe('copy and delete', () => {
  it('copies content into a new folder', async () => {
    const { etag } = await store.put('src/a.csv', 'content');

    await store.copy('src/a.csv', 'dst/deep/a.csv');

    expect((await store.getBytes('dst/deep/a.csv')).toString()).toBe('content');
    expect((await store.head('dst/deep/a.csv'))?.etag).toBe(etag);
    await expect(store.copy('src/missing.csv', 'dst/x.csv')).rejects.toBeInstanceOf(ObjectNotFoundError);
  });

  it('deletes objects, ignores missing keys and folders', async () => {
    await store.put('d/a', 'a');
    await store.put('d/sub/b', 'b');

    await store.delete('d/a');
    await store.delete('d/a');
    await store.delete('never/was');
    await store.delete('d/sub');

    expect(await keysOf(store, '')).toEqual(['d/sub/b']);
  });

  it('deletes with ifMatch only when the etag is current', async () => {
    const { etag } = await store.put('lease.json', 'mine');
    await store.put('lease.json', 'theirs');

    await expect(store.delete('lease.json', { ifMatch: etag })).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
    expect((await store.getBytes('lease.json')).toString()).toBe('theirs');

    await store.delete('lease.json', { ifMatch: md5('theirs') });
    expect(await store.head('lease.json')).toBeUndefined();
    await store.delete('lease.json', { ifMatch: md5('theirs') });
  });
});

describe('keys and addresses', () => {
  it.each([
    ['', /empty/],
    ['../escape', /"\.\." part/],
    ['a/../../b', /"\.\." part/],
    ['/absolute', /starts with "\/"/],
    ['a//b', /empty part/],
    ['a/', /ends with "\/"/],
    ['a\\b', /backslash/],
    ['a\0b', /NUL/],
    ['a/./b', /"\." part/],
    ['.hidden', /starts with "\."/],
    [`a/${'x'.repeat(256)}`, /longer than 255 bytes/],
  ])('rejects key %j', async (key, reason) => {
    await expect(store.put(key, 'x')).rejects.toThrow(reason);
    await expect(store.head(key)).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(store.getBytes(key)).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(store.delete(key)).rejects.toBeInstanceOf(InvalidKeyError);
    expect(() => store.url(key)).toThrow(InvalidKeyError);
  });

  it('rejects list prefixes that leave the root', async () => {
    await expect(keysOf(store, '../')).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(keysOf(store, '/etc/')).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(keysOf(store, 'a//')).rejects.toBeInstanceOf(InvalidKeyError);
  });

  it('gives file:// addresses that map back to keys', async () => {
    const key = 'staging/events/2024-01-31/batch 1/part-00000 é.csv.gz';
    const url = store.url(key);

    expect(store.root).toBe(`file://${path.resolve(root)}`);
    expect(url).toBe(`file://${path.resolve(root)}/${key}`);
    expect(store.keyOf(url)).toBe(key);
    expect(new FileSystemObjectStore(`${root}/./`).keyOf(url)).toBe(key);
  });

  it('refuses addresses outside the store', () => {
    expect(() => store.keyOf('s3://bucket/staging/a.csv')).toThrow(/not an address in this store.*file:\/\//);
    expect(() => store.keyOf(`file://${path.dirname(root)}/other/a.csv`)).toThrow(
      /not an address in this store/,
    );
    expect(() => store.keyOf(`${store.root}/../x`)).toThrow(InvalidKeyError);
    expect(() => store.keyOf(store.root)).toThrow(/not an address/);
  });

  it('writes under the root folder and nowhere else', async () => {
    await store.put('x/y.txt', 'y');

    const entries = await readdir(root, { recursive: true });
    expect(entries.filter((entry) => !entry.startsWith('.')).sort()).toEqual(['x', path.join('x', 'y.txt')]);
    await mkdir(path.join(root, 'empty-folder'));
    expect(await keysOf(store, '')).toEqual(['x/y.txt']);
  });
});
