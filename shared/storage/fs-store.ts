import { createHash, randomUUID } from 'node:crypto';
import type { BigIntStats, Dirent } from 'node:fs';
import { type FileHandle, link, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { EtagCache, md5OfFile, signatureOf } from './fs-etags.ts';
import { compareKeys } from './key-order.ts';
import { KeyedMutex } from './keyed-mutex.ts';
import {
  type DeleteOptions,
  type ListOptions,
  ObjectNotFoundError,
  type ObjectStore,
  PreconditionFailedError,
  type PutOptions,
  type StoredObject,
} from './object-store.ts';

/** Names starting with a dot belong to the store (temp files, etag cache) and are never listed. */
const HIDDEN = '.';
const TEMP_PREFIX = '.tmp-';
const ETAG_CACHE_DIR = '.etag-cache';
const HEADS_IN_FLIGHT = 16;
const MAX_NAME_BYTES = 255;

export class InvalidKeyError extends Error {
  override readonly name = 'InvalidKeyError';
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(
      `Invalid object key ${JSON.stringify(key)}: ${reason}. Keys are relative, /-separated names ` +
        'such as "staging/events/2024-01-31/batch-1/part-00000.csv.gz".',
    );
  }
}

/**
 * The object store on a local folder: key `a/b/c` is the file `<root>/a/b/c`.
 *
 * Writes go to a hidden temp file in the target folder and are then renamed (or, for
 * create-only writes, hard-linked) into place, so readers see the old file or the new one,
 * never a part, and two processes racing a create-only write cannot both succeed.
 * Not fsync'ed: atomic against crashes of the process, not against power loss.
 *
 * `ifMatch` writes and deletes compare the etag and replace the file under a per-key lock
 * held in this process only: two processes doing conditional updates of one key at the
 * same moment could both succeed. Locally a single runner uses the store, so that is accepted.
 *
 * Etags are the md5 of the content (as S3 gives for single-part uploads). Listing walks one
 * folder at a time in key order (a folder's names are read and sorted at once, so `pageSize`
 * has no effect here), and skips every name starting with "." (temp files, the etag cache,
 * stray files such as .DS_Store); keys may therefore not have parts starting with ".".
 */
export class FileSystemObjectStore implements ObjectStore {
  readonly root: string;
  readonly #dir: string;
  readonly #locks = new KeyedMutex();
  readonly #etags: EtagCache;

  constructor(rootDir: string) {
    this.#dir = path.resolve(rootDir);
    this.root = `file://${this.#dir}`;
    this.#etags = new EtagCache(path.join(this.#dir, ETAG_CACHE_DIR));
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<StoredObject> {
    assertPrefix(prefix);
    const cut = prefix.lastIndexOf('/') + 1;
    yield* this.#walk(prefix.slice(0, cut), prefix.slice(cut), options.startAfter);
  }

  async head(key: string): Promise<StoredObject | undefined> {
    assertKey(key);
    return this.#describe(key);
  }

  async getStream(key: string): Promise<Readable> {
    assertKey(key);
    const handle = await this.#openExisting(key);
    return handle.createReadStream();
  }

  async getBytes(key: string): Promise<Buffer> {
    assertKey(key);
    const handle = await this.#openExisting(key);
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
    }
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
    const file = this.#pathOf(key);
    await this.#ensureFolder(key);
    const temp = path.join(path.dirname(file), `${TEMP_PREFIX}${randomUUID()}`);
    const handle = await open(temp, 'wx');
    let tempExists = true;
    try {
      const etag = await writeBody(handle, body);
      await this.#locks.run(key, async () => {
        if (options.ifNoneMatch === '*') {
          await this.#linkNew(key, temp, file);
          return;
        }
        if (options.ifMatch !== undefined) await this.#assertEtag(key, options.ifMatch);
        await this.#replace(key, temp, file);
        tempExists = false;
      });
      if (tempExists) {
        await unlink(temp);
        tempExists = false;
      }
      // Only now is the inode's ctime final (rename, link and unlink all change it).
      await this.#etags.set(key, await handle.stat({ bigint: true }), etag);
      return { etag };
    } finally {
      await handle.close();
      if (tempExists) await unlink(temp).catch(() => undefined);
    }
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    assertKey(fromKey);
    assertKey(toKey);
    const source = await this.getStream(fromKey);
    try {
      await this.put(toKey, source);
    } finally {
      source.destroy();
    }
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<void> {
    assertKey(key);
    await this.#locks.run(key, async () => {
      if (options.ifMatch !== undefined) {
        const current = await this.#describe(key);
        if (!current) return;
        if (current.etag !== options.ifMatch) {
          throw new PreconditionFailedError(key, `its etag is ${current.etag}, expected ${options.ifMatch}`);
        }
      }
      try {
        await unlink(this.#pathOf(key));
      } catch (error) {
        // A folder at the key means "keys below it exist", not an object: nothing to delete.
        if (!isMissing(error) && !(await isFolder(this.#pathOf(key)))) throw error;
      }
      await this.#etags.forget(key);
    });
  }

  url(key: string): string {
    assertKey(key);
    return `${this.root}/${key}`;
  }

  keyOf(url: string): string {
    const base = `${this.root}/`;
    if (!url.startsWith(base)) {
      throw new Error(
        `${url} is not an address in this store: expected it to start with ${base}. ` +
          'Use an address produced by this store, or open a store on the folder that holds the file.',
      );
    }
    const key = url.slice(base.length);
    assertKey(key);
    return key;
  }

  async *#walk(
    folderKey: string,
    namePrefix: string,
    startAfter: string | undefined,
  ): AsyncGenerator<StoredObject> {
    const entries = await this.#readFolder(folderKey, namePrefix);
    let pendingFiles: string[] = [];
    for (const entry of entries) {
      if (!entry.folder) {
        if (startAfter === undefined || compareKeys(entry.key, startAfter) > 0) pendingFiles.push(entry.key);
        if (pendingFiles.length >= HEADS_IN_FLIGHT) {
          yield* await this.#describeAll(pendingFiles);
          pendingFiles = [];
        }
        continue;
      }
      yield* await this.#describeAll(pendingFiles);
      pendingFiles = [];
      // Every key below the folder starts with `<folder>/`; when that sorts before startAfter
      // and is not a prefix of it, the whole folder does.
      const below = entry.key;
      if (startAfter !== undefined && !startAfter.startsWith(below) && compareKeys(below, startAfter) < 0)
        continue;
      yield* this.#walk(below, '', startAfter);
    }
    yield* await this.#describeAll(pendingFiles);
  }

  /** Entries of one folder in key order; a sub-folder is named `<name>/`, as its keys begin. */
  async #readFolder(folderKey: string, namePrefix: string): Promise<{ key: string; folder: boolean }[]> {
    const folder = path.join(this.#dir, ...folderKey.split('/'));
    let dirents: Dirent[];
    try {
      dirents = await readdir(folder, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
    const entries: { key: string; folder: boolean }[] = [];
    for (const dirent of dirents) {
      const name = dirent.name;
      if (name.startsWith(HIDDEN) || !name.startsWith(namePrefix) || name.includes('\\')) continue;
      // Symlinks and file systems without d_type report neither: ask stat, which follows links.
      const isDir = dirent.isDirectory() || (!dirent.isFile() && (await isFolder(path.join(folder, name))));
      entries.push({ key: `${folderKey}${name}${isDir ? '/' : ''}`, folder: isDir });
    }
    return entries.sort((a, b) => compareKeys(a.key, b.key));
  }

  async #describeAll(keys: readonly string[]): Promise<StoredObject[]> {
    const described = await Promise.all(keys.map((key) => this.#describe(key)));
    return described.filter((object): object is StoredObject => object !== undefined);
  }

  async #describe(key: string): Promise<StoredObject | undefined> {
    const file = this.#pathOf(key);
    let stats: BigIntStats;
    try {
      stats = await stat(file, { bigint: true });
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    if (!stats.isFile()) return undefined;
    const cached = await this.#etags.get(key, stats);
    if (cached) return toStoredObject(key, stats, cached);

    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    try {
      const before = await handle.stat({ bigint: true });
      if (!before.isFile()) return undefined;
      const etag = await md5OfFile(handle);
      const after = await handle.stat({ bigint: true });
      if (signatureOf(before) === signatureOf(after)) await this.#etags.set(key, after, etag);
      return toStoredObject(key, before, etag);
    } finally {
      await handle.close();
    }
  }

  async #openExisting(key: string): Promise<FileHandle> {
    let handle: FileHandle;
    try {
      handle = await open(this.#pathOf(key), 'r');
    } catch (error) {
      if (isMissing(error)) throw new ObjectNotFoundError(key);
      throw error;
    }
    if (!(await handle.stat()).isFile()) {
      await handle.close();
      throw new ObjectNotFoundError(key);
    }
    return handle;
  }

  async #ensureFolder(key: string): Promise<void> {
    try {
      await mkdir(path.dirname(this.#pathOf(key)), { recursive: true });
    } catch (error) {
      if (errorCode(error) !== 'ENOTDIR' && errorCode(error) !== 'EEXIST') throw error;
      const segments = key.split('/');
      for (let i = 1; i < segments.length; i++) {
        const ancestor = segments.slice(0, i).join('/');
        if (!(await isFolder(this.#pathOf(ancestor)))) throw fileFolderClash(key, ancestor);
      }
      throw error;
    }
  }

  async #linkNew(key: string, temp: string, file: string): Promise<void> {
    try {
      await link(temp, file);
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
      if (await isFolder(file)) throw fileFolderClash(`${key}/…`, key);
      throw new PreconditionFailedError(key, 'the object already exists (create-only write)');
    }
  }

  async #replace(key: string, temp: string, file: string): Promise<void> {
    try {
      await rename(temp, file);
    } catch (error) {
      if (await isFolder(file)) throw fileFolderClash(`${key}/…`, key);
      throw error;
    }
  }

  async #assertEtag(key: string, expected: string): Promise<void> {
    const current = await this.#describe(key);
    if (!current)
      throw new PreconditionFailedError(key, `the object does not exist, expected etag ${expected}`);
    if (current.etag !== expected) {
      throw new PreconditionFailedError(key, `its etag is ${current.etag}, expected ${expected}`);
    }
  }

  #pathOf(key: string): string {
    return path.join(this.#dir, ...key.split('/'));
  }
}

async function writeBody(handle: FileHandle, body: Buffer | string | Readable): Promise<string> {
  const hash = createHash('md5');
  let position = 0;
  const write = async (chunk: Buffer) => {
    hash.update(chunk);
    for (let offset = 0; offset < chunk.length; ) {
      const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset, position);
      offset += bytesWritten;
      position += bytesWritten;
    }
  };
  if (Buffer.isBuffer(body)) {
    await write(body);
  } else if (typeof body === 'string') {
    await write(Buffer.from(body, 'utf8'));
  } else {
    for await (const chunk of body) await write(toBuffer(chunk));
  }
  return hash.digest('hex');
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk);
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError(`Stream bodies must yield bytes or strings, got ${typeof chunk}`);
}

function toStoredObject(key: string, stats: BigIntStats, etag: string): StoredObject {
  return { key, size: Number(stats.size), lastModified: stats.mtime, etag };
}

function fileFolderClash(key: string, objectKey: string): Error {
  return new Error(
    `Cannot write ${key}: ${objectKey} is both an object and a folder of other keys, which a local ` +
      `folder cannot hold (S3 can). Choose keys so that no key is a folder of another, or delete ${objectKey}.`,
  );
}

function assertKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidKeyError(String(key), 'it is empty');
  assertPathText(key);
  if (key.endsWith('/'))
    throw new InvalidKeyError(key, 'it ends with "/", which names a folder, not an object');
  for (const segment of key.split('/')) assertSegment(key, segment);
}

function assertPrefix(prefix: string): void {
  if (prefix === '') return;
  assertPathText(prefix);
  const folders = prefix.split('/').slice(0, -1);
  for (const segment of folders) assertSegment(prefix, segment);
}

function assertPathText(key: string): void {
  if (key.includes('\0')) throw new InvalidKeyError(key, 'it contains a NUL character');
  if (key.includes('\\')) throw new InvalidKeyError(key, 'it contains a backslash; use "/" between parts');
  if (key.startsWith('/')) throw new InvalidKeyError(key, 'it starts with "/"');
}

function assertSegment(key: string, segment: string): void {
  if (segment === '') throw new InvalidKeyError(key, 'it has an empty part ("//")');
  if (segment === '..' || segment === '.') throw new InvalidKeyError(key, `it has a "${segment}" part`);
  if (segment.startsWith(HIDDEN)) {
    throw new InvalidKeyError(
      key,
      `its part "${segment}" starts with ".", which the local store keeps for itself`,
    );
  }
  if (Buffer.byteLength(segment) > MAX_NAME_BYTES) {
    throw new InvalidKeyError(
      key,
      `its part "${segment.slice(0, 40)}…" is longer than ${MAX_NAME_BYTES} bytes`,
    );
  }
}

async function isFolder(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isDirectory();
  } catch {
    return false;
  }
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function isMissing(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}
