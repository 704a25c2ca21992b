import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PipelineSettings } from '#shared/config/pipeline.ts';
import { runBatcher } from '#shared/pipeline/batcher/batcher.ts';
import { runLoader } from '#shared/pipeline/loader/loader.ts';
import { generateSample, type SampleManifest } from '#shared/sample/generate.ts';
import { ensureWarehouseObjects } from '#shared/sql/ensure.ts';
import type { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import { PostgresRunner } from '#shared/warehouse/postgres.ts';
import { createTestDatabase } from '#test/support/postgres.ts';
import { backfill, count, eachOnce, keyCounts } from '../backfill/support.ts';
import { manualClock, PROJECT_ID, settingsFor, type TempStores, tempStores } from '../batcher/support.ts';

/**
 * Two Amplitude projects of one organization, deployed as two stacks that share a schema and
 * a landing bucket. Merged-ID files are per organization, so both stacks stage the same
 * files under the same batch ids; each project's merge_ids table must still get all of them.
 */
const OTHER_PROJECT = '187521';

let stores: TempStores;
let sample: SampleManifest;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let stagingB: FileSystemObjectStore;
let runnerA: PostgresRunner;
let runnerB: PostgresRunner;
let settingsA: PipelineSettings;
let settingsB: PipelineSettings;

beforeEach(async () => {
  stores = await tempStores('two-projects');
  stagingB = stores.another('staging-b');
  sample = await generateSample(stores.landing, { start: '2024-05-01', days: 1, eventsPerHour: 6, seed: 11 });
  db = await createTestDatabase('two_projects');
  settingsA = settingsFor();
  settingsB = settingsFor({ PROJECT_ID: OTHER_PROJECT });
  runnerA = new PostgresRunner({ connectionString: db.url, store: stores.staging });
  runnerB = new PostgresRunner({ connectionString: db.url, store: stagingB });
  await ensureWarehouseObjects(runnerA, settingsA);
  await ensureWarehouseObjects(runnerB, settingsB);
});

afterEach(async () => {
  await runnerA.close();
  await runnerB.close();
  await db.drop();
  await stores.remove();
});

describe('two projects of one organization in one schema', () => {
  it('live: each project gets every merged ID, although both stage them under the same batch ids', async () => {
    const clock = manualClock('2024-05-01T23:30:00Z');
    await runBatcher({ landing: stores.landing, staging: stores.staging, settings: settingsA, clock });
    await runBatcher({ landing: stores.landing, staging: stagingB, settings: settingsB, clock });
    const loadedA = await runLoader({ store: stores.staging, runner: runnerA, settings: settingsA, clock });
    const loadedB = await runLoader({ store: stagingB, runner: runnerB, settings: settingsB, clock });

    expect(await keyCounts(runnerA, 'merge_ids', PROJECT_ID)).toEqual(eachOnce(sample.uniqueMergePairs));
    expect(await keyCounts(runnerB, 'merge_ids', OTHER_PROJECT)).toEqual(eachOnce(sample.uniqueMergePairs));
    expect(await count(runnerA, `events_${PROJECT_ID}`)).toBe(sample.uniqueEvents);
    // The batches really were the same: same ids in both stacks, both loaded (not "already loaded").
    const mergeBatches = (summary: typeof loadedA) =>
      summary.feeds.find((feed) => feed.feed === 'merge_ids')?.loads.flatMap((load) => load.batchIds) ?? [];
    expect(mergeBatches(loadedB).sort()).toEqual(mergeBatches(loadedA).sort());
    expect(loadedB.feeds.find((feed) => feed.feed === 'merge_ids')?.batchesAlreadyLoaded).toBe(0);

    // Replays of either stack change nothing.
    await runBatcher({ landing: stores.landing, staging: stagingB, settings: settingsB, clock });
    await runLoader({ store: stagingB, runner: runnerB, settings: settingsB, clock });
    expect(await count(runnerB, `merge_ids_${OTHER_PROJECT}`)).toBe(sample.uniqueMergePairs);
  });

  it('backfill: each project gets every merged ID of the range', async () => {
    const range = { start: '2024-05-01', end: '2024-05-01' };
    const first = await backfill(stores, runnerA, settingsA, range);
    const second = await backfill({ landing: stores.landing, staging: stagingB }, runnerB, settingsB, range);

    expect(first.status).toBe('SUCCEEDED');
    expect(second.status).toBe('SUCCEEDED');
    expect(second.report?.chunks.find((chunk) => chunk.feed === 'merge_ids')?.status).toBe('loaded');
    expect(await keyCounts(runnerA, 'merge_ids', PROJECT_ID)).toEqual(eachOnce(sample.uniqueMergePairs));
    expect(await keyCounts(runnerB, 'merge_ids', OTHER_PROJECT)).toEqual(eachOnce(sample.uniqueMergePairs));
    const again = await backfill({ landing: stores.landing, staging: stagingB }, runnerB, settingsB, range);
    expect(again.report?.totals).toMatchObject({ rowsLoaded: 0 });
  });
});
