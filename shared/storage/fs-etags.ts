import { createHash, randomUUID } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { type FileHandle, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Files smaller than this are hashed on every head/list: cheap, and always exact. Leases,
 * state records and manifests are all far smaller, so their conditional writes never depend
 * on the cache below.
 */
export const ALWAYS_HASH_BELOW_BYTES = 1024 * 1024;

/**
 * Identifies one version of a file without reading it. A rewrite through the store always
 * creates a new inode and a new ctime. What it cannot see: another tool rewriting a large
 * file in place to the same size within one timestamp tick of the file system.
 */
export function signatureOf(stats: BigIntStats): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
}

export async function md5OfFile(handle: FileHandle): Promise<string> {
  const hash = createHash('md5');
  const buffer = Buffer.allocUnsafe(1024 * 1024);
  let position = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) return hash.digest('hex');
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
}

/**
 * Remembers the md5 of large files beside the data (one small file per key under a hidden
 * folder), so that listing a folder of big files does not re-read them in every process.
 * Only a cache: any failure to read or write it falls back to hashing the file.
 */
export class EtagCache {
  constructor(private readonly dir: string) {}

  async get(key: string, stats: BigIntStats): Promise<string | undefined> {
    if (stats.size < BigInt(ALWAYS_HASH_BELOW_BYTES)) return undefined;
    try {
      const [signature, md5] = (await readFile(this.#pathOf(key), 'utf8')).split(' ');
      return signature === signatureOf(stats) && md5 ? md5 : undefined;
    } catch {
      return undefined;
    }
  }

  async set(key: string, stats: BigIntStats, md5: string): Promise<void> {
    if (stats.size < BigInt(ALWAYS_HASH_BELOW_BYTES)) return;
    const file = this.#pathOf(key);
    const temp = path.join(path.dirname(file), `.tmp-${randomUUID()}`);
    try {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(temp, `${signatureOf(stats)} ${md5}`, { flag: 'wx' });
      await rename(temp, file);
    } catch {
      await unlink(temp).catch(() => undefined);
    }
  }

  async forget(key: string): Promise<void> {
    await unlink(this.#pathOf(key)).catch(() => undefined);
  }

  #pathOf(key: string): string {
    return path.join(this.dir, ...key.split('/'));
  }
}
