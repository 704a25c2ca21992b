import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventFileName } from '#shared/base/export-files.ts';
import type { PipelineSettings } from '#shared/config/pipeline.ts';
import { runBatcher } from '#shared/pipeline/batcher/batcher.ts';
import { runLoader } from '#shared/pipeline/loader/loader.ts';
import { generateSample } from '#shared/sample/generate.ts';
import type { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import type { SqlRunner } from '#shared/warehouse/sql-runner.ts';
import { manualClock, PROJECT_ID, settingsFor, type TempStores, tempStores } from '../batcher/support.ts';
import { backfill, warehouseFor } from './support.ts';

let stores: TempStores;
let liveStaging: FileSystemObjectStore;
let settings: PipelineSettings;
let live: Awaited<ReturnType<typeof warehouseFor>>;
let backfilled: Awaited<ReturnType<typeof warehouseFor>>;

beforeAll(async () => {
  stores = await tempStores('equivalence');
  liveStaging = stores.another('live-staging');
  settings = settingsFor({ LOOKBACK_DAYS: '3' });
  await generateSample(stores.landing, { start: '2024-05-01', days: 3, eventsPerHour: 12, seed: 11 });
  // Lines the transform quarantines (no uuid, not JSON) and one it adjusts, next to a good one.
  const good = {
    uuid: '7f1c2a9e-0000-4000-8000-00000000beef',
    event_type: 'Odd but fine',
    amplitude_id: 42,
    event_time: '2024-05-02 10:00:00.000000',
    server_upload_time: '2024-05-02 10:00:05.000000',
    user_id: 'x'.repeat(5000),
  };
  const bad = [JSON.stringify({ ...good, uuid: undefined }), '{"not json', JSON.stringify(good)].join('\n');
  await stores.landing.put(eventFileName(PROJECT_ID, '2024-05-02', 10, 5), gzipSync(`${bad}\n`));

  live = await warehouseFor('equivalence_live', liveStaging, settings);
  backfilled = await warehouseFor('equivalence_backfill', stores.staging, settings);
});

afterAll(async () => {
  await live.close();
  await backfilled.close();
  await stores.remove();
});

async function rows(runner: SqlRunner, table: string, orderBy: string): Promise<unknown[]> {
  return await runner.query(`SELECT * FROM amplitude.${table} ORDER BY ${orderBy}`);
}

async function ledgerTotals(runner: SqlRunner) {
  return await runner.query(
    'SELECT feed, sum(rows_loaded)::bigint AS rows_loaded, sum(duplicates_skipped)::bigint AS duplicates_skipped, sum(quarantined)::bigint AS quarantined FROM amplitude.export_loads GROUP BY feed ORDER BY feed',
  );
}

it('gives exactly the same tables as loading the landing folder through the live batcher and loader', async () => {
  const clock = manualClock('2024-05-03T23:59:00Z');
  for (let cycle = 0; cycle < 5; cycle++) {
    await runBatcher({
      landing: stores.landing,
      staging: liveStaging,
      settings,
      clock,
      maxFilesPerBatch: 20,
    });
    await runLoader({ store: liveStaging, runner: live.runner, settings, clock });
    clock.advance(10 * 60_000);
  }
  const pending: string[] = [];
  for await (const object of liveStaging.list('manifests/pending/')) pending.push(object.key);
  expect(pending).toEqual([]);

  const result = await backfill(stores, backfilled.runner, settings, {
    start: '2024-05-01',
    end: '2024-05-03',
    chunkHours: 7,
  });
  expect(result.status).toBe('SUCCEEDED');

  const liveEvents = await rows(live.runner, `events_${PROJECT_ID}`, 'uuid');
  expect(liveEvents.length).toBeGreaterThan(700);
  expect(await rows(backfilled.runner, `events_${PROJECT_ID}`, 'uuid')).toEqual(liveEvents);
  const liveMergeIds = await rows(
    live.runner,
    `merge_ids_${PROJECT_ID}`,
    'amplitude_id, merged_amplitude_id',
  );
  expect(liveMergeIds.length).toBeGreaterThan(20);
  expect(
    await rows(backfilled.runner, `merge_ids_${PROJECT_ID}`, 'amplitude_id, merged_amplitude_id'),
  ).toEqual(liveMergeIds);
  const totals = await ledgerTotals(live.runner);
  expect(totals).toEqual([
    expect.objectContaining({ feed: 'events', quarantined: 2 }),
    expect.objectContaining({ feed: 'merge_ids', quarantined: 0 }),
  ]);
  expect(await ledgerTotals(backfilled.runner)).toEqual(totals);
  expect(result.report?.totals).toMatchObject({
    rowsLoaded: liveEvents.length + liveMergeIds.length,
    quarantined: 2,
  });
});
