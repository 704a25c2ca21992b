import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackfillChunk, BackfillPlan } from '#shared/pipeline/backfill/plan.ts';
import {
  type BackfillReport,
  type ChunkOutcome,
  summarizeBackfill,
} from '#shared/pipeline/backfill/summarize.ts';
import { manualClock, settingsFor, type TempStores, tempStores } from '../batcher/support.ts';
import { warehouseFor } from './support.ts';

let stores: TempStores;
let warehouse: Awaited<ReturnType<typeof warehouseFor>>;

beforeAll(async () => {
  stores = await tempStores('summarize');
  warehouse = await warehouseFor('summarize', stores.staging, settingsFor());
  await warehouse.runner.transaction([
    `INSERT INTO amplitude.export_loads (batch_id, feed, rows_loaded, duplicates_skipped, quarantined, rows_erased, load_id, source)
     VALUES ('bf-ev-a', 'events', 120, 3, 2, 4, 'bf-run2-ev-a1', 'backfill'),
            ('bf-mi-a', 'merge_ids', 9, 0, 0, 1, 'bf-run1-mi-a1', 'backfill')`,
  ]);
});

afterAll(async () => {
  await warehouse.close();
  await stores.remove();
});

function chunk(feed: 'events' | 'merge_ids', day: string): BackfillChunk {
  const compact = day.replaceAll('-', '');
  return {
    runId: 'run2',
    chunkId: `${feed}-${compact}00-${compact}23`,
    feed,
    startHour: `${day}T00`,
    endHour: `${day}T23`,
  };
}

function outcome(of: BackfillChunk, fields: Partial<ChunkOutcome>): ChunkOutcome {
  return {
    chunkId: of.chunkId,
    feed: of.feed,
    startHour: of.startHour,
    endHour: of.endHour,
    status: 'loaded',
    ...fields,
  };
}

function succeeded(of: BackfillChunk, result: ChunkOutcome) {
  return {
    Input: JSON.stringify(of),
    Output: JSON.stringify(result),
    Status: 'SUCCEEDED',
    StartDate: '2026-01-01T00:00:00.000Z',
    StopDate: '2026-01-01T00:00:42.500Z',
  };
}

it('reports every chunk with its ledger figures or its failure, and names the failed ones', async () => {
  const loaded = chunk('events', '2024-05-01');
  const earlier = chunk('merge_ids', '2024-05-01');
  const failedLoad = chunk('events', '2024-05-02');
  const crashed = chunk('merge_ids', '2024-05-02');
  const neverRan = chunk('events', '2024-05-03');
  const empty = chunk('merge_ids', '2024-05-03');
  const chunks = [loaded, earlier, failedLoad, crashed, neverRan, empty];
  const plan: BackfillPlan = {
    runId: 'run2',
    start: '2024-05-01T00',
    end: '2024-05-03T23',
    feeds: ['events', 'merge_ids'],
    chunkHours: 24,
    chunkCount: chunks.length,
    chunksKey: 'backfill/runs/run2/chunks.json',
  };
  await stores.staging.put(plan.chunksKey, JSON.stringify(chunks));
  await stores.staging.put(
    'backfill/map-results/m1/SUCCEEDED_0.json',
    JSON.stringify([
      succeeded(
        loaded,
        outcome(loaded, { batchIds: ['bf-ev-a'], loadId: 'bf-run2-ev-a1', files: 24, attempts: 1 }),
      ),
      succeeded(
        earlier,
        outcome(earlier, { batchIds: ['bf-mi-a'], loadId: 'bf-run2-mi-a1', files: 24, attempts: 1 }),
      ),
      succeeded(
        failedLoad,
        outcome(failedLoad, {
          status: 'failed',
          error: 'LoadFailed',
          cause: 'permission denied for table events_187520',
        }),
      ),
      succeeded(empty, outcome(empty, { status: 'empty', files: 0, batchIds: [] })),
    ]),
  );
  await stores.staging.put(
    'backfill/map-results/m1/FAILED_0.json',
    JSON.stringify([
      {
        Input: JSON.stringify(crashed),
        Status: 'FAILED',
        Error: 'States.Runtime',
        Cause: 'Path $.Error not found',
      },
    ]),
  );
  await stores.staging.put(
    'backfill/map-results/m1/manifest.json',
    JSON.stringify({
      DestinationBucket: 'staging',
      MapRunArn: 'arn:aws:states:us-east-1:123456789012:mapRun:x/y:m1',
      ResultFiles: {
        SUCCEEDED: [{ Key: 'backfill/map-results/m1/SUCCEEDED_0.json', Size: 1 }],
        FAILED: [{ Key: 'backfill/map-results/m1/FAILED_0.json', Size: 1 }],
        PENDING: [],
      },
    }),
  );

  const summary = await summarizeBackfill(
    {
      store: stores.staging,
      runner: warehouse.runner,
      schema: 'amplitude',
      projectId: settingsFor().projectId,
      clock: manualClock('2026-01-01T01:00:00Z'),
    },
    { plan, resultsManifestKey: 'backfill/map-results/m1/manifest.json' },
  );

  expect(summary).toMatchObject({
    runId: 'run2',
    reportKey: 'backfill/runs/run2/report.json',
    chunks: 6,
    loaded: 1,
    alreadyLoaded: 1,
    empty: 1,
    failed: 3,
    rowsLoaded: 120,
    duplicatesSkipped: 3,
    quarantined: 2,
    // Only what this run's own loads dropped: the earlier run's erased row is not counted again.
    rowsErased: 4,
    failedChunks: [failedLoad.chunkId, crashed.chunkId, neverRan.chunkId],
  });
  expect(summary.message).toMatch(
    /^3 of 6 chunks failed: events-2024050200-2024050223 \(LoadFailed: permission denied for table events_187520\); merge_ids-2024050200-2024050223 \(States\.Runtime: Path \$\.Error not found\); events-2024050300-2024050323 \(NoOutcome: .*\)\. The other chunks loaded 120 rows\. Report: file:\/\/.*\/backfill\/runs\/run2\/report\.json\. Fix the cause and start the same range again/,
  );
  expect(summary.byFeed).toEqual({
    events: expect.objectContaining({ chunks: 3, loaded: 1, failed: 2, rowsLoaded: 120 }),
    merge_ids: expect.objectContaining({ chunks: 3, alreadyLoaded: 1, empty: 1, failed: 1, rowsLoaded: 0 }),
  });

  const report = JSON.parse((await stores.staging.getBytes(summary.reportKey)).toString()) as BackfillReport;
  expect(report.createdAt).toBe('2026-01-01T01:00:00.000Z');
  expect(report.chunks).toEqual([
    expect.objectContaining({
      chunkId: loaded.chunkId,
      status: 'loaded',
      rowsLoaded: 120,
      duplicatesSkipped: 3,
      quarantined: 2,
      rowsErased: 4,
      durationMs: 42_500,
      files: 24,
    }),
    expect.objectContaining({
      chunkId: earlier.chunkId,
      status: 'already_loaded',
      rowsLoaded: 0,
      rowsErased: 0,
      loadedBy: 'bf-run1-mi-a1',
      loadedEarlier: { rowsLoaded: 9, duplicatesSkipped: 0, quarantined: 0 },
    }),
    expect.objectContaining({ chunkId: failedLoad.chunkId, status: 'failed', error: 'LoadFailed' }),
    expect.objectContaining({ chunkId: crashed.chunkId, status: 'failed', error: 'States.Runtime' }),
    expect.objectContaining({ chunkId: neverRan.chunkId, status: 'failed', error: 'NoOutcome' }),
    expect.objectContaining({ chunkId: empty.chunkId, status: 'empty', rowsLoaded: 0 }),
  ]);
});

describe('a loaded chunk without its ledger row', () => {
  it('counts as failed, since its rows cannot be accounted for', async () => {
    const lost = chunk('events', '2024-06-01');
    const plan: BackfillPlan = {
      runId: 'run3',
      start: lost.startHour,
      end: lost.endHour,
      feeds: ['events'],
      chunkHours: 24,
      chunkCount: 1,
      chunksKey: 'backfill/runs/run3/chunks.json',
    };
    await stores.staging.put(plan.chunksKey, JSON.stringify([lost]));
    await stores.staging.put(
      'backfill/map-results/m3/SUCCEEDED_0.json',
      JSON.stringify([
        succeeded(lost, outcome(lost, { batchIds: ['bf-ev-missing'], loadId: 'bf-run3-ev-a1' })),
      ]),
    );
    await stores.staging.put(
      'backfill/map-results/m3/manifest.json',
      JSON.stringify({ ResultFiles: { SUCCEEDED: [{ Key: 'backfill/map-results/m3/SUCCEEDED_0.json' }] } }),
    );

    const summary = await summarizeBackfill(
      {
        store: stores.staging,
        runner: warehouse.runner,
        schema: 'amplitude',
        projectId: settingsFor().projectId,
        clock: manualClock('2026-01-01T00:00:00Z'),
      },
      { plan, resultsManifestKey: 'backfill/map-results/m3/manifest.json' },
    );

    expect(summary).toMatchObject({ failed: 1, failedChunks: [lost.chunkId] });
    expect(summary.message).toContain('LedgerRowMissing');
  });
});
