import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PipelineSettings } from '#shared/config/pipeline.ts';
import { runBatcher } from '#shared/pipeline/batcher/batcher.ts';
import { runLoader } from '#shared/pipeline/loader/loader.ts';
import { generateSample, type SampleManifest } from '#shared/sample/generate.ts';
import { PostgresRunner } from '#shared/warehouse/postgres.ts';
import type { SqlRunner, StatementDescription } from '#shared/warehouse/sql-runner.ts';
import { manualClock, PROJECT_ID, settingsFor, type TempStores, tempStores } from '../batcher/support.ts';
import {
  backfill,
  chunkOf,
  count,
  distinctKeys,
  eachOnce,
  failingReads,
  keyCounts,
  type LandingLine,
  landingLines,
  warehouseFor,
} from './support.ts';

const EVENTS = `events_${PROJECT_ID}`;
const MERGE_IDS = `merge_ids_${PROJECT_ID}`;

let stores: TempStores;
let settings: PipelineSettings;
let sample: SampleManifest;
let lines: LandingLine[];
let warehouse: Awaited<ReturnType<typeof warehouseFor>>;
let runner: PostgresRunner;

beforeEach(async () => {
  stores = await tempStores('backfill');
  settings = settingsFor();
  sample = await generateSample(stores.landing, { start: '2024-05-01', days: 2, eventsPerHour: 8, seed: 7 });
  lines = await landingLines(stores.landing);
  warehouse = await warehouseFor('backfill', stores.staging, settings);
  runner = warehouse.runner;
});

afterEach(async () => {
  await warehouse.close();
  await stores.remove();
});

async function ledger(): Promise<{ batch_id: string; source: string; rows_loaded: number }[]> {
  return await runner.query(
    'SELECT batch_id, source, rows_loaded FROM amplitude.export_loads ORDER BY batch_id',
  );
}

describe('backfill through the synthesized state machine', () => {
  it('loads a multi-day range into exactly the expected rows, one chunk per feed and day', async () => {
    const result = await backfill(stores, runner, settings, { start: '2024-05-01', end: '2024-05-02' });

    expect(result.status).toBe('SUCCEEDED');
    expect(await keyCounts(runner, 'events', PROJECT_ID)).toEqual(eachOnce(sample.uniqueEvents));
    expect(await keyCounts(runner, 'merge_ids', PROJECT_ID)).toEqual(eachOnce(sample.uniqueMergePairs));
    expect(result.report?.chunks.map((chunk) => [chunk.chunkId, chunk.status])).toEqual([
      ['events-2024050100-2024050123', 'loaded'],
      ['merge_ids-2024050100-2024050123', 'loaded'],
      ['events-2024050200-2024050223', 'loaded'],
      ['merge_ids-2024050200-2024050223', 'loaded'],
    ]);
    expect(result.report?.totals).toMatchObject({
      chunks: 4,
      loaded: 4,
      failed: 0,
      rowsLoaded: sample.uniqueEvents + sample.uniqueMergePairs,
      duplicatesSkipped: sample.duplicateEvents + sample.duplicateMergeRows,
      quarantined: 0,
    });
    expect(result.output).toMatchObject({
      failed: 0,
      rowsLoaded: sample.uniqueEvents + sample.uniqueMergePairs,
    });
    const rows = await ledger();
    expect(rows.map((row) => row.source)).toEqual(['backfill', 'backfill', 'backfill', 'backfill']);
    expect(rows.map((row) => row.batch_id)).toEqual(
      result.report?.chunks.flatMap((chunk) => chunk.batchIds).sort(),
    );
  });

  it('keeps its manifests out of the live queue: nothing appears under manifests/pending/', async () => {
    await backfill(stores, runner, settings, { start: '2024-05-01', end: '2024-05-01' });

    const pending: string[] = [];
    for await (const object of stores.staging.list('manifests/pending/')) pending.push(object.key);
    const backfillManifests: string[] = [];
    for await (const object of stores.staging.list('backfill/manifests/')) backfillManifests.push(object.key);
    expect(pending).toEqual([]);
    expect(backfillManifests).toEqual([
      expect.stringMatching(/^backfill\/manifests\/events\/bf-ev-2024050100-2024050123-[0-9a-f]{16}\.json$/),
      expect.stringMatching(
        /^backfill\/manifests\/merge_ids\/bf-mi-2024050100-2024050123-[0-9a-f]{16}\.json$/,
      ),
    ]);
  });

  it('adds nothing when the same range runs again: every chunk is already loaded', async () => {
    const first = await backfill(stores, runner, settings, { start: '2024-05-01', end: '2024-05-02' });
    const second = await backfill(stores, runner, settings, { start: '2024-05-01', end: '2024-05-02' });

    expect(second.status).toBe('SUCCEEDED');
    expect(second.report?.chunks.map((chunk) => chunk.status)).toEqual([
      'already_loaded',
      'already_loaded',
      'already_loaded',
      'already_loaded',
    ]);
    expect(second.report?.chunks[0]?.loadedBy).toBe(first.report?.chunks[0]?.loadId);
    expect(second.report?.totals).toMatchObject({ alreadyLoaded: 4, rowsLoaded: 0, duplicatesSkipped: 0 });
    expect(await count(runner, EVENTS)).toBe(sample.uniqueEvents);
    expect(await count(runner, MERGE_IDS)).toBe(sample.uniqueMergePairs);
    expect(await ledger()).toHaveLength(4);
  });

  it('adds no duplicates over rows the live batcher and loader already loaded', async () => {
    const clock = manualClock('2024-05-01T23:30:00Z');
    const liveSettings = { ...settings, lookbackDays: 0 };
    await runBatcher({ landing: stores.landing, staging: stores.staging, settings: liveSettings, clock });
    await runLoader({ store: stores.staging, runner, settings: liveSettings, clock });
    const liveEvents = await count(runner, EVENTS);
    expect(liveEvents).toBe(distinctKeys(lines, 'events', (line) => line.day === '2024-05-01'));

    const result = await backfill(stores, runner, settings, { start: '2024-05-01', end: '2024-05-02' });

    expect(result.status).toBe('SUCCEEDED');
    expect(await keyCounts(runner, 'events', PROJECT_ID)).toEqual(eachOnce(sample.uniqueEvents));
    expect(await keyCounts(runner, 'merge_ids', PROJECT_ID)).toEqual(eachOnce(sample.uniqueMergePairs));
    // Day one's files form new (backfill) batches; every row of them was already in the table.
    const dayOne = chunkOf(result.report, 'events-2024050100-2024050123');
    expect(dayOne).toMatchObject({ status: 'loaded', rowsLoaded: 0 });
    expect(dayOne.duplicatesSkipped).toBe(
      lines.filter((line) => line.feed === 'events' && line.day === '2024-05-01').length,
    );
    expect(result.report?.byFeed.events?.rowsLoaded).toBe(sample.uniqueEvents - liveEvents);
  });

  it('loads every row once when two overlapping backfills run at the same time', async () => {
    const [wide, narrow] = await Promise.all([
      backfill(stores, runner, settings, { start: '2024-05-01', end: '2024-05-02' }),
      backfill(stores, runner, settings, { start: '2024-05-01T12', end: '2024-05-02T05', chunkHours: 6 }),
    ]);

    expect(wide.status).toBe('SUCCEEDED');
    expect(narrow.status).toBe('SUCCEEDED');
    expect(await keyCounts(runner, 'events', PROJECT_ID)).toEqual(eachOnce(sample.uniqueEvents));
    expect(await keyCounts(runner, 'merge_ids', PROJECT_ID)).toEqual(eachOnce(sample.uniqueMergePairs));
    const loaded = (wide.report?.totals.rowsLoaded ?? 0) + (narrow.report?.totals.rowsLoaded ?? 0);
    expect(loaded).toBe(sample.uniqueEvents + sample.uniqueMergePairs);
  });

  it('loads only the files whose file-name hour is in an hour range', async () => {
    const result = await backfill(stores, runner, settings, {
      start: '2024-05-01T05',
      end: '2024-05-01T06',
      feeds: ['events'],
    });

    expect(result.status).toBe('SUCCEEDED');
    expect(result.report?.chunks.map((chunk) => chunk.chunkId)).toEqual(['events-2024050105-2024050106']);
    const inRange = (line: LandingLine) => line.day === '2024-05-01' && line.hour >= 5 && line.hour <= 6;
    expect(await count(runner, EVENTS)).toBe(distinctKeys(lines, 'events', inRange));
    expect(await count(runner, MERGE_IDS)).toBe(0);
  });

  it('ends chunks without files as empty, loading nothing and skipping the load', async () => {
    const started: string[] = [];
    const result = await backfill(stores, watching(runner, started), settings, {
      start: '2024-05-03',
      end: '2024-05-03',
    });

    expect(result.status).toBe('SUCCEEDED');
    expect(result.report?.chunks.map((chunk) => [chunk.chunkId, chunk.status, chunk.files])).toEqual([
      ['events-2024050300-2024050323', 'empty', 0],
      ['merge_ids-2024050300-2024050323', 'empty', 0],
    ]);
    expect(started).toEqual([]);
    expect(await ledger()).toEqual([]);
  });

  it('fails the execution naming the chunk whose COPY failed, loads the others, and a rerun completes it', async () => {
    const copyCannotRead = failingReads(stores.staging, 'staging/events/2024-05-02/');
    const broken = await warehouseFor('backfill_broken', copyCannotRead, settings);
    try {
      const result = await backfill(stores, broken.runner, settings, {
        start: '2024-05-01',
        end: '2024-05-02',
      });

      expect(result.status).toBe('FAILED');
      expect(result.error).toBe('BackfillChunksFailed');
      expect(result.cause).toMatch(
        /^1 of 4 chunks failed: events-2024050200-2024050223 \(LoadFailed: .*Access Denied/,
      );
      expect(result.cause).toContain('start the same range again');
      const failed = chunkOf(result.report, 'events-2024050200-2024050223');
      expect(failed).toMatchObject({ status: 'failed', error: 'LoadFailed', attempts: 1, rowsLoaded: 0 });
      expect(result.report?.totals).toMatchObject({ loaded: 3, failed: 1 });
      expect(await count(broken.runner, EVENTS)).toBe(
        distinctKeys(lines, 'events', (line) => line.day === '2024-05-01'),
      );
      expect(await count(broken.runner, MERGE_IDS)).toBe(sample.uniqueMergePairs);

      const fixed = new PostgresRunner({ connectionString: broken.url, store: stores.staging });
      try {
        const rerun = await backfill(stores, fixed, settings, { start: '2024-05-01', end: '2024-05-02' });
        expect(rerun.status).toBe('SUCCEEDED');
        expect(rerun.report?.chunks.map((chunk) => chunk.status)).toEqual([
          'already_loaded',
          'already_loaded',
          'loaded',
          'already_loaded',
        ]);
        expect(await keyCounts(fixed, 'events', PROJECT_ID)).toEqual(eachOnce(sample.uniqueEvents));
      } finally {
        await fixed.close();
      }
    } finally {
      await broken.close();
    }
  });

  it('retries a load that lost a serialization conflict with a new load id, and loads it', async () => {
    const tokens: string[] = [];
    const conflicted = conflicting(runner, (token) => /-ev-2024050100-a1$/.test(token), tokens);
    const result = await backfill(stores, conflicted, settings, { start: '2024-05-01', end: '2024-05-01' });

    expect(result.status).toBe('SUCCEEDED');
    expect(chunkOf(result.report, 'events-2024050100-2024050123')).toMatchObject({
      status: 'loaded',
      attempts: 2,
    });
    expect(tokens.filter((token) => token.includes('-ev-'))).toEqual([
      expect.stringMatching(/-ev-2024050100-a1$/),
      expect.stringMatching(/-ev-2024050100-a2$/),
    ]);
    expect(await count(runner, EVENTS)).toBe(
      distinctKeys(lines, 'events', (line) => line.day === '2024-05-01'),
    );
  });

  it('gives up after four conflicting attempts and reports the conflict', async () => {
    const conflicted = conflicting(runner, (token) => token.includes('-ev-'), []);
    const result = await backfill(stores, conflicted, settings, { start: '2024-05-01', end: '2024-05-01' });

    expect(result.status).toBe('FAILED');
    expect(chunkOf(result.report, 'events-2024050100-2024050123')).toMatchObject({
      status: 'failed',
      error: 'LoadFailed',
      attempts: 4,
      cause: expect.stringContaining('could not serialize access'),
    });
    expect(chunkOf(result.report, 'merge_ids-2024050100-2024050123').status).toBe('loaded');
    expect(await count(runner, EVENTS)).toBe(0);
  });

  it.each([
    [{ start: '2024-05-02', end: '2024-05-01' }, /^end 2024-05-01T23 is before start 2024-05-02T00/],
    [{ start: '2024-05-01', end: '2024-05-01', feeds: ['sessions'] }, /^Unknown feed "sessions"/],
    [{ start: '2023-01-01', end: '2024-05-01' }, /covers 487 days; one backfill covers at most 366 days/],
    [{ start: '2024-5-1', end: '2024-05-01' }, /^start "2024-5-1" is not a valid date/],
    [{ start: '2024-05-01', end: '2024-05-01', chunkHours: 0 }, /^chunkHours must be a whole number/],
    [{ begin: '2024-05-01' }, /^Unknown input field "begin"/],
  ])('ends at once with BackfillInputError and a clear cause for %j', async (input, cause) => {
    const result = await backfill(stores, runner, settings, input);

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('BackfillInputError');
    expect(result.cause).toMatch(cause);
    expect(result.report).toBeUndefined();
    const written: string[] = [];
    for await (const object of stores.staging.list('')) written.push(object.key);
    expect(written).toEqual([]);
  });
});

/** Records the ClientToken of every transaction started. */
function watching(runner: SqlRunner, tokens: string[]): SqlRunner {
  return conflicting(runner, () => false, tokens);
}

/**
 * A runner whose transactions for matching client tokens end FAILED with PostgreSQL's
 * serialization failure, as if a concurrent load had won; the others run for real.
 */
function conflicting(runner: SqlRunner, conflicts: (token: string) => boolean, tokens: string[]): SqlRunner {
  let lost = 0;
  return {
    dialect: runner.dialect,
    transaction: (statements, options) => runner.transaction(statements, options),
    loadErrorDetails: (failed) => runner.loadErrorDetails(failed),
    startTransaction: async (statements, options) => {
      const token = options?.clientToken ?? '';
      tokens.push(token);
      if (conflicts(token)) return { statementId: `conflict-${++lost}` };
      return await runner.startTransaction(statements, options);
    },
    describe: async (statementId): Promise<StatementDescription> =>
      statementId.startsWith('conflict-')
        ? {
            statementId,
            status: 'FAILED',
            error: `Statement 6 of 9 in transaction ${statementId} failed in PostgreSQL [SQLSTATE 40001]: could not serialize access due to read/write dependencies among transactions.`,
          }
        : await runner.describe(statementId),
    query: (sql) => runner.query(sql),
    close: () => runner.close(),
  };
}
