import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { manifestKey } from '#shared/base/staging-keys.ts';
import { pendingBatchStats } from '#shared/pipeline/loader/backlog.ts';
import { failureReportKey } from '#shared/pipeline/loader/state.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

const NOW = Date.parse('2026-03-02T06:00:00.000Z');

describe('pendingBatchStats', () => {
  it('counts the pending manifests of each feed and ages the oldest by its write time', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pending-'));
    const store = new FileSystemObjectStore(dir);
    const written = async (key: string, secondsAgo: number) => {
      await store.put(key, '{}');
      const when = new Date(NOW - secondsAgo * 1000);
      await utimes(join(dir!, ...key.split('/')), when, when);
    };
    await written(manifestKey('pending', 'events', 'ev-new'), 60);
    await written(manifestKey('pending', 'events', 'ev-old'), 1800);
    await written(manifestKey('pending', 'events', 'ev-mid'), 600);
    // Not pending: another state, another feed's failure report, a stray file.
    await written(manifestKey('loaded', 'events', 'ev-done'), 99_999);
    await written(failureReportKey('merge_ids', 'mi-x'), 99_999);
    await written('manifests/pending/events/notes.txt', 99_999);

    const stats = await pendingBatchStats(store, ['events', 'merge_ids'], () => new Date(NOW));

    expect(stats).toEqual({
      events: { count: 3, oldestAgeSeconds: 1800, oldestBatchId: 'ev-old' },
      merge_ids: { count: 0 },
    });
  });
});
