import { createHash } from 'node:crypto';
import { type Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32, createGunzip } from 'node:zlib';
import yauzl from 'yauzl';
import { mapLimited } from './limit.ts';

/** One checked file of the zip. */
export interface ArchiveEntry {
  readonly path: string;
  /** Bytes of the file (the `.json.gz`), as it is written to landing. */
  readonly size: number;
  /** md5 of those bytes, hex: what an ObjectStore etag is for a single-part object. */
  readonly md5: string;
  /** Lines (events) once decompressed. */
  readonly lines: number;
}

/** A zip on local disk whose every entry was read to the end and found whole. */
export interface Archive {
  readonly entries: readonly ArchiveEntry[];
  /** The entry's bytes, from disk (random access, nothing held in memory). */
  open(entry: ArchiveEntry): Promise<Readable>;
  close(): void;
}

/** The zip or one of its gzip files is damaged or cut short. */
export class InvalidArchiveError extends Error {
  override readonly name = 'InvalidArchiveError';
}

/**
 * Opens the zip at `file` and checks it completely before anything is published: the central
 * directory (missing when the download was cut short), each entry's size and CRC-32, and each
 * entry's gzip stream decompressed to its end (gzip's own CRC and length trailer). `accept`
 * picks the entries to check and keep.
 */
export async function openArchive(
  file: string,
  accept: (path: string) => boolean,
  options: { readonly concurrency?: number } = {},
): Promise<Archive> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(file, {
      autoClose: false,
      strictFileNames: true,
      validateEntrySizes: true,
    });
  } catch (error) {
    throw new InvalidArchiveError(`the response is not a complete zip file (${(error as Error).message})`, {
      cause: error,
    });
  }
  const byPath = new Map<string, yauzl.Entry>();
  let entries: ArchiveEntry[];
  try {
    for await (const entry of zip.eachEntry()) {
      if (!accept(entry.fileName)) continue;
      if (byPath.has(entry.fileName)) {
        throw new InvalidArchiveError(`the zip holds ${entry.fileName} twice`);
      }
      byPath.set(entry.fileName, entry);
    }
    // gunzip runs on libuv's thread pool: checking entries side by side uses every core.
    entries = await mapLimited([...byPath.values()], options.concurrency ?? 4, (entry) =>
      checkEntry(zip, entry),
    );
  } catch (error) {
    zip.close();
    if (error instanceof InvalidArchiveError) throw error;
    throw new InvalidArchiveError(`the zip is damaged (${(error as Error).message})`, { cause: error });
  }
  return {
    entries,
    open: async (entry) => {
      const zipEntry = byPath.get(entry.path);
      if (!zipEntry) throw new Error(`${entry.path} is not an entry of this archive`);
      return zip.openReadStreamPromise(zipEntry);
    },
    close: () => zip.close(),
  };
}

async function checkEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<ArchiveEntry> {
  const md5 = createHash('md5');
  let crc = 0;
  let size = 0;
  const measure = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      md5.update(chunk);
      crc = crc32(chunk, crc);
      size += chunk.length;
      done(null, chunk);
    },
  });
  let lines = 0;
  let lastByte = 10;
  const countLines = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++;
      if (chunk.length > 0) lastByte = chunk[chunk.length - 1]!;
      done();
    },
  });
  try {
    await pipeline(await zip.openReadStreamPromise(entry), measure, createGunzip(), countLines);
  } catch (error) {
    throw new InvalidArchiveError(
      `${entry.fileName} in the zip is not a complete gzip file (${(error as Error).message})`,
      { cause: error },
    );
  }
  if (crc >>> 0 !== entry.crc32 >>> 0) {
    throw new InvalidArchiveError(`${entry.fileName} in the zip fails its CRC-32 check`);
  }
  // A last line without a newline is still a line.
  return { path: entry.fileName, size, md5: md5.digest('hex'), lines: lines + (lastByte === 10 ? 0 : 1) };
}
