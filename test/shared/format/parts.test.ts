import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodeCsvRow } from '#shared/format/csv.ts';
import { entriesFromParts } from '#shared/format/manifest.ts';
import { PartWriter } from '#shared/format/parts.ts';
import type { StoredObject } from '#shared/storage/object-store.ts';
import { MemoryObjectStore } from './memory-store.ts';

const PREFIX = 'staging/events/2024-05-01/batch-1/';

/** ASCII lines of varied length (so one char is one byte), numbered so order is visible. */
function lines(count: number): string[] {
  return Array.from({ length: count }, (_, i) => encodeCsvRow([String(i), 'x'.repeat((i * 37) % 120), null]));
}

/** A line of random hex: gzip cannot shrink it much, so bytes reach the store quickly. */
function incompressibleLine(bytes: number): string {
  return encodeCsvRow([randomBytes(bytes / 2).toString('hex')]);
}

async function writeAll(writer: PartWriter, input: readonly string[]) {
  for (const line of input) await writer.write(line);
  return writer.close();
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return Promise.race([
    promise,
    new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms)),
  ]);
}

describe('PartWriter', () => {
  it('writes no part, and calls the store not at all, for zero rows', async () => {
    const store = new MemoryObjectStore();
    const parts = await new PartWriter({ store, prefix: PREFIX, partTargetBytes: 100 }).close();
    expect(parts).toEqual([]);
    expect(store.putCalls).toEqual([]);
    expect(store.keys()).toEqual([]);
  });

  it('splits rows into parts at the target size, each row exactly once and in order', async () => {
    const store = new MemoryObjectStore();
    const input = lines(300);
    const target = 2000;
    const parts = await writeAll(new PartWriter({ store, prefix: PREFIX, partTargetBytes: target }), input);

    expect(parts.length).toBeGreaterThan(5);
    expect(parts.map((part) => part.key)).toEqual(
      parts.map((_, i) => `${PREFIX}part-${String(i).padStart(5, '0')}.csv.gz`),
    );
    const longestLine = Math.max(...input.map((line) => line.length));
    const contents = parts.map((part) => gunzipSync(store.getBytesSync(part.key)).toString('utf8'));
    parts.forEach((part, i) => {
      const content = contents[i]!;
      expect(part.rawBytes).toBe(Buffer.byteLength(content));
      expect(part.rows).toBe(content.split('\n').length - 1);
      if (i < parts.length - 1) {
        expect(part.rawBytes).toBeGreaterThanOrEqual(target);
        expect(part.rawBytes).toBeLessThan(target + longestLine);
      }
    });
    expect(contents.join('')).toBe(input.join(''));
    expect(parts.reduce((sum, part) => sum + part.rows, 0)).toBe(input.length);
  });

  it('reports content_length equal to the stored object size and the store URL', async () => {
    const store = new MemoryObjectStore();
    const parts = await writeAll(
      new PartWriter({ store, prefix: PREFIX, partTargetBytes: 5000 }),
      lines(200),
    );
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) {
      const stored = (await store.head(part.key)) as StoredObject;
      expect(part.contentLength).toBe(stored.size);
      expect((await store.getBytes(part.key)).length).toBe(part.contentLength);
      expect(part.url).toBe(store.url(part.key));
    }
    expect(entriesFromParts(parts)).toEqual(
      parts.map((part) => ({ url: part.url, mandatory: true, meta: { content_length: part.contentLength } })),
    );
  });

  it('writes a single line larger than the target as a part of its own', async () => {
    const store = new MemoryObjectStore();
    const big = encodeCsvRow(['y'.repeat(10_000)]);
    const parts = await writeAll(new PartWriter({ store, prefix: PREFIX, partTargetBytes: 1000 }), [
      'a\n',
      big,
      'b\n',
    ]);
    expect(parts.map((part) => part.rows)).toEqual([2, 1]);
    expect(gunzipSync(store.getBytesSync(parts[1]!.key)).toString()).toBe('b\n');
  });

  it('streams a part into the store while rows are still being written', async () => {
    const store = new MemoryObjectStore();
    const writer = new PartWriter({ store, prefix: PREFIX, partTargetBytes: 1024 * 1024 * 1024 });
    for (let i = 0; i < 200; i++) await writer.write(incompressibleLine(20_000));
    // Yield so zlib's thread pool and the pipe can move the last chunks along.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const key = `${PREFIX}part-00000.csv.gz`;
    expect(store.putCalls).toEqual([key]);
    expect(store.receivedBytes(key)).toBeGreaterThan(1024 * 1024);
    expect(await store.head(key)).toBeUndefined();
    const parts = await writer.close();
    expect(parts).toHaveLength(1);
    expect(parts[0]!.rows).toBe(200);
  });

  it('waits for a slow store instead of buffering without bound', async () => {
    const store = new MemoryObjectStore();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    store.beforeChunk = (_key, receivedSoFar) => (receivedSoFar > 0 ? gate : undefined);
    const writer = new PartWriter({ store, prefix: PREFIX, partTargetBytes: 1024 * 1024 * 1024 });
    const written: string[] = [];
    let blocked: Promise<void> | undefined;
    while (written.length < 5_000) {
      // A fresh random line each time: a repeated one would compress to almost nothing.
      const line = incompressibleLine(4_000);
      written.push(line);
      const pending = writer.write(line);
      if (pending && (await withTimeout(pending, 200)) === 'timeout') {
        blocked = pending;
        break;
      }
    }
    expect(blocked).toBeDefined();
    expect(written.join('').length).toBeLessThan(1024 * 1024);
    expect(() => writer.write('late\n')).toThrow(/before the previous write finished/);

    release();
    await blocked;
    const parts = await writer.close();
    expect(gunzipSync(store.getBytesSync(parts[0]!.key)).toString()).toBe(written.join(''));
  });

  it('fails writes and close with the store error when an upload fails', async () => {
    const store = new MemoryObjectStore();
    store.beforeChunk = () => {
      throw new Error('S3 said no');
    };
    const writer = new PartWriter({ store, prefix: PREFIX, partTargetBytes: 1024 * 1024 * 1024 });
    const attempt = async () => {
      for (let i = 0; i < 1000; i++) await writer.write(incompressibleLine(4_000));
      await writer.close();
    };
    await expect(attempt()).rejects.toThrow('S3 said no');
    expect(() => writer.write('a\n')).toThrow('S3 said no');
  });

  it('refuses a part whose stored size differs from the bytes written', async () => {
    class ShortStore extends MemoryObjectStore {
      override async head(key: string) {
        const stored = await super.head(key);
        return stored && { ...stored, size: stored.size - 1 };
      }
    }
    const writer = new PartWriter({ store: new ShortStore(), prefix: PREFIX, partTargetBytes: 100 });
    await writer.write('a\n');
    await expect(writer.close()).rejects.toThrow(
      /was stored with \d+ bytes, but \d+ compressed bytes were written/,
    );
  });

  it('deletes every part on abort', async () => {
    const store = new MemoryObjectStore();
    store.putCalls.length = 0;
    const writer = new PartWriter({ store, prefix: PREFIX, partTargetBytes: 500 });
    for (const line of lines(50)) await writer.write(line);
    expect(store.keys().length).toBeGreaterThan(1);
    await writer.abort();
    expect(store.keys()).toEqual([]);
    expect(() => writer.write('a\n')).toThrow(/aborted/);
  });

  it('rejects bad options, lines without a newline and use after close', async () => {
    const store = new MemoryObjectStore();
    expect(() => new PartWriter({ store, prefix: '/abs/', partTargetBytes: 10 })).toThrow(
      /must not start with/,
    );
    expect(() => new PartWriter({ store, prefix: PREFIX, partTargetBytes: 0 })).toThrow(/positive integer/);
    expect(() => new PartWriter({ store, prefix: PREFIX, partTargetBytes: 10, gzipLevel: 10 })).toThrow(
      /from 1 to 9/,
    );
    const writer = new PartWriter({ store, prefix: PREFIX, partTargetBytes: 10 });
    expect(() => writer.write('no newline')).toThrow(/ending in "\\n"/);
    expect(() => writer.write('')).toThrow(/ending in "\\n"/);
    await writer.write('ok\n');
    await writer.close();
    expect(() => writer.write('a\n')).toThrow(/closed/);
    await expect(writer.close()).rejects.toThrow(/already closed/);
  });
});
