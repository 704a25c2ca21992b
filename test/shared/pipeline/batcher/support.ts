import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import type { Clock } from '#shared/base/clock.ts';
import { type PipelineSettings, pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { CSV_NULL_MARKER } from '#shared/format/csv.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import type {
  DeleteOptions,
  ListOptions,
  ObjectStore,
  PutOptions,
  StoredObject,
} from '#shared/storage/object-store.ts';

export const PROJECT_ID = '187520';
export const ORG_ID = '36958';

export interface TempStores {
  readonly dir: string;
  readonly landing: FileSystemObjectStore;
  readonly staging: FileSystemObjectStore;
  /** A further staging store in the same temp folder (for comparing two runs). */
  another(name: string): FileSystemObjectStore;
  remove(): Promise<void>;
}

export async function tempStores(label = 'batcher'): Promise<TempStores> {
  const dir = await mkdtemp(join(tmpdir(), `${label}-`));
  return {
    dir,
    landing: new FileSystemObjectStore(join(dir, 'landing')),
    staging: new FileSystemObjectStore(join(dir, 'staging')),
    another: (name) => new FileSystemObjectStore(join(dir, name)),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

export function settingsFor(overrides: Record<string, string> = {}): PipelineSettings {
  return pipelineSettingsFrom({ PROJECT_ID, ...overrides });
}

/** A clock that stays where it is put. */
export function manualClock(iso: string): Clock & { set(iso: string): void; advance(ms: number): void } {
  let now = Date.parse(iso);
  const clock = () => new Date(now);
  return Object.assign(clock, {
    set: (next: string) => {
      now = Date.parse(next);
    },
    advance: (ms: number) => {
      now += ms;
    },
  });
}

/** Every object under the prefixes, key -> bytes. */
export async function snapshot(
  store: ObjectStore,
  prefixes: readonly string[],
): Promise<Map<string, Buffer>> {
  const objects = new Map<string, Buffer>();
  for (const prefix of prefixes) {
    for await (const object of store.list(prefix)) objects.set(object.key, await store.getBytes(object.key));
  }
  return objects;
}

/** What a batcher run leaves for others to see; leases and open-batch records are the batcher's own. */
export const VISIBLE_PREFIXES = ['staging/', 'manifests/', 'quarantine/', 'state/processed/'] as const;

/** Parses the CSV our encoder writes: every value quoted, NULL as the bare marker. */
export function parseCsv(text: string): (string | null)[][] {
  const rows: (string | null)[][] = [];
  let row: (string | null)[] = [];
  let i = 0;
  while (i < text.length) {
    if (text.startsWith(CSV_NULL_MARKER, i)) {
      row.push(null);
      i += CSV_NULL_MARKER.length;
    } else if (text[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const quote = text.indexOf('"', i);
        if (quote === -1) throw new Error('unterminated quoted value');
        value += text.slice(i, quote);
        if (text[quote + 1] === '"') {
          value += '"';
          i = quote + 2;
        } else {
          i = quote + 1;
          break;
        }
      }
      row.push(value);
    } else {
      throw new Error(`unexpected character ${JSON.stringify(text[i])} at ${i}`);
    }
    if (text[i] === ',') i++;
    else if (text[i] === '\n') {
      rows.push(row);
      row = [];
      i++;
    } else throw new Error(`expected , or newline at ${i}`);
  }
  return rows;
}

/** All staged rows of the manifests under `manifests/pending/<feed>/`. */
export async function stagedRows(store: ObjectStore, feed: string): Promise<(string | null)[][]> {
  const rows: (string | null)[][] = [];
  for await (const object of store.list(`manifests/pending/${feed}/`)) {
    const manifest = JSON.parse((await store.getBytes(object.key)).toString('utf8')) as {
      entries: { url: string }[];
    };
    for (const entry of manifest.entries) {
      rows.push(...parseCsv(gunzipSync(await store.getBytes(store.keyOf(entry.url))).toString('utf8')));
    }
  }
  return rows;
}

export type Operation = 'put' | 'copy' | 'delete';

/**
 * Delegates to a real store and lets a test act before or after each write: throw to
 * simulate a crash at that point, or move a clock.
 */
export class InterceptingStore implements ObjectStore {
  readonly root: string;
  writes = 0;
  beforeWrite: ((operation: Operation, key: string, index: number) => void) | undefined;
  afterWrite: ((operation: Operation, key: string, index: number) => void) | undefined;
  beforeRead: ((key: string) => Promise<void> | void) | undefined;

  constructor(private readonly inner: ObjectStore) {
    this.root = inner.root;
  }

  list(prefix: string, options?: ListOptions): AsyncIterable<StoredObject> {
    return this.inner.list(prefix, options);
  }

  head(key: string): Promise<StoredObject | undefined> {
    return this.inner.head(key);
  }

  async getStream(key: string): Promise<Readable> {
    await this.beforeRead?.(key);
    return this.inner.getStream(key);
  }

  getBytes(key: string): Promise<Buffer> {
    return this.inner.getBytes(key);
  }

  async put(key: string, body: Buffer | string | Readable, options?: PutOptions): Promise<{ etag: string }> {
    const index = ++this.writes;
    this.beforeWrite?.('put', key, index);
    const result = await this.inner.put(key, body, options);
    this.afterWrite?.('put', key, index);
    return result;
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    const index = ++this.writes;
    this.beforeWrite?.('copy', toKey, index);
    await this.inner.copy(fromKey, toKey);
    this.afterWrite?.('copy', toKey, index);
  }

  async delete(key: string, options?: DeleteOptions): Promise<void> {
    const index = ++this.writes;
    this.beforeWrite?.('delete', key, index);
    await this.inner.delete(key, options);
    this.afterWrite?.('delete', key, index);
  }

  url(key: string): string {
    return this.inner.url(key);
  }

  keyOf(url: string): string {
    return this.inner.keyOf(url);
  }
}

export class SimulatedCrash extends Error {
  override readonly name = 'SimulatedCrash';
}
