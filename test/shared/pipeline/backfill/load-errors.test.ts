import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backfillManifestKey, manifestKey } from '#shared/base/staging-keys.ts';
import type { PipelineSettings } from '#shared/config/pipeline.ts';
import type { BackfillPlan } from '#shared/pipeline/backfill/plan.ts';
import { summarizeBackfill } from '#shared/pipeline/backfill/summarize.ts';
import { generateSample } from '#shared/sample/generate.ts';
import { columnsOf } from '#shared/schema/columns.ts';
import type { ObjectStore } from '#shared/storage/object-store.ts';
import { isCopyStatement, parseRedshiftCopy } from '#shared/warehouse/redshift-copy.ts';
import type { SqlRunner } from '#shared/warehouse/sql-runner.ts';
import { COPY_REJECTED, fakeDataApi, mock, SECRET, sysRows } from '../../warehouse/fake-data-api.ts';
import { settingsFor, type TempStores, tempStores } from '../batcher/support.ts';
import { eventRow, stageBatch } from '../loader/fixtures.ts';
import { backfill, chunkOf, warehouseFor } from './support.ts';

/**
 * A backfill chunk whose COPY rejects a row reports the row's file, line and column, with the
 * code and reason, as the live loader does, and never the value: through the synthesized state
 * machine (aws-local-stepfunctions) on real PostgreSQL.
 */

const BAD_VALUE = 'amp-9c1d-payload-secret';
const AMPLITUDE_ID = columnsOf('events').findIndex((column) => column.name === 'amplitude_id');

let stores: TempStores;
let settings: PipelineSettings;
let warehouse: Awaited<ReturnType<typeof warehouseFor>>;

beforeEach(async () => {
  stores = await tempStores('backfill-load-errors');
  settings = settingsFor();
  await generateSample(stores.landing, { start: '2024-05-01', days: 1, eventsPerHour: 4, seed: 11 });
  warehouse = await warehouseFor('backfill_load_errors', stores.staging, settings);
});

afterEach(async () => {
  await warehouse.close();
  await stores.remove();
});

/** Start and end of CSV field `index` in `line` (quotes respected). */
function fieldBounds(line: string, index: number): [number, number] {
  let field = 0;
  let start = 0;
  let quoted = false;
  for (let at = 0; at <= line.length; at++) {
    const c = line[at];
    if (c === '"') quoted = !quoted;
    else if ((c === ',' && !quoted) || at === line.length) {
      if (field === index) return [start, at];
      field++;
      start = at + 1;
    }
  }
  throw new Error(`No field ${index} in a staged line.`);
}

/**
 * The warehouse, except that just before the events chunk's load starts, line 2 of its first
 * staged part is edited to hold a malformed amplitude_id (and the COPY manifest's
 * content_length follows, as a part rewritten in S3 with a matching manifest would).
 */
function corruptingFirstEventsLoad(
  runner: SqlRunner,
  staging: ObjectStore,
  edited: { file?: string },
): SqlRunner {
  return {
    dialect: runner.dialect,
    transaction: (statements, options) => runner.transaction(statements, options),
    startTransaction: async (statements, options) => {
      const copy = statements.find(isCopyStatement);
      if (copy && !edited.file && statements.some((sql) => sql.includes('events_'))) {
        const manifestKey = staging.keyOf(parseRedshiftCopy(copy).manifestUrl);
        const manifest = JSON.parse((await staging.getBytes(manifestKey)).toString('utf8'));
        const entry = manifest.entries[0];
        const lines = gunzipSync(await staging.getBytes(staging.keyOf(entry.url)))
          .toString('utf8')
          .split('\n');
        const [start, end] = fieldBounds(lines[1]!, AMPLITUDE_ID);
        lines[1] = `${lines[1]!.slice(0, start)}${BAD_VALUE}${lines[1]!.slice(end)}`;
        const body = gzipSync(Buffer.from(lines.join('\n'), 'utf8'));
        await staging.put(staging.keyOf(entry.url), body);
        entry.meta.content_length = body.length;
        await staging.put(manifestKey, JSON.stringify(manifest));
        edited.file = entry.url;
      }
      return await runner.startTransaction(statements, options);
    },
    describe: (id) => runner.describe(id),
    loadErrorDetails: (failed) => runner.loadErrorDetails(failed),
    query: (sql) => runner.query(sql),
    close: () => runner.close(),
  };
}

describe('load error details of a backfill chunk', () => {
  it('names the file, line and column the chunk COPY rejected, without the value', async () => {
    const edited: { file?: string } = {};
    const runner = corruptingFirstEventsLoad(warehouse.runner, stores.staging, edited);

    const result = await backfill(stores, runner, settings, { start: '2024-05-01', end: '2024-05-01' });

    expect(result.status).toBe('FAILED');
    expect(edited.file).toBeDefined();
    const chunk = chunkOf(result.report, 'events-2024050100-2024050123');
    expect(chunk).toMatchObject({ status: 'failed', error: 'LoadFailed' });
    expect(chunk?.loadErrors).toEqual({
      source: 'postgresql',
      details: [
        {
          file: edited.file,
          line: 2,
          column: 'amplitude_id',
          code: '22P02',
          reason: 'invalid input syntax for type bigint: (value withheld)',
        },
      ],
    });
    // The merged-ID chunk loaded; the failure names the row in the execution's cause too.
    expect(chunkOf(result.report, 'merge_ids-2024050100-2024050123')?.status).toBe('loaded');
    expect(result.cause).toContain(`first rejected row: ${edited.file} line 2, column amplitude_id [22P02]`);

    // Nothing the run left behind carries the value: report, execution output, map results.
    const written: string[] = [JSON.stringify(result)];
    for await (const object of stores.staging.list('backfill/')) {
      written.push((await stores.staging.getBytes(object.key)).toString('utf8'));
    }
    for (const text of written) expect(text).not.toContain(BAD_VALUE);
  });
});

describe('load error details of a backfill chunk on Redshift', () => {
  it('the summary step reads them through the Data API for the chunk batch files', async () => {
    mock.reset();
    // The chunk's batch as prepare leaves it: parts under staging/, its manifest under backfill/.
    const staged = await stageBatch(stores.staging, {
      batchId: 'bf-ev-2024050100-2024050123-0123456789abcdef',
      feed: 'events',
      rows: [eventRow('u-1')],
    });
    await stores.staging.copy(
      manifestKey('pending', 'events', staged.batch.batchId),
      backfillManifestKey('events', staged.batch.batchId),
    );
    const part = staged.entries[0]!.url;
    const chunk = {
      runId: 'run-rs',
      chunkId: 'events-2024050100-2024050123',
      feed: 'events' as const,
      startHour: '2024-05-01T00',
      endHour: '2024-05-01T23',
    };
    const plan: BackfillPlan = {
      runId: 'run-rs',
      start: '2024-05-01T00',
      end: '2024-05-01T23',
      feeds: ['events'],
      chunkHours: 24,
      chunkCount: 1,
      chunksKey: 'backfill/runs/run-rs/chunks.json',
    };
    await stores.staging.put(plan.chunksKey, JSON.stringify([chunk]));
    // What the chunk's Pass state "Chunk load failed" outputs: the FAILED statement's text.
    const outcome = {
      ...chunk,
      status: 'failed',
      attempts: 1,
      files: 1,
      batchIds: [staged.batch.batchId],
      loadId: 'bf-run-rs-ev-a1',
      statementId: 'd9b6c0c9-0747-4bf4-b142-e8883122f766',
      error: 'LoadFailed',
      cause: COPY_REJECTED,
    };
    await stores.staging.put(
      'backfill/map-results/m-rs/SUCCEEDED_0.json',
      JSON.stringify([
        { Input: JSON.stringify(chunk), Output: JSON.stringify(outcome), Status: 'SUCCEEDED' },
      ]),
    );
    await stores.staging.put(
      'backfill/map-results/m-rs/manifest.json',
      JSON.stringify({ ResultFiles: { SUCCEEDED: [{ Key: 'backfill/map-results/m-rs/SUCCEEDED_0.json' }] } }),
    );
    const { runner, sent } = fakeDataApi({ sys: [{ ...sysRows[0]!, file_name: part, line_number: 4 }] });

    const summary = await summarizeBackfill(
      {
        store: stores.staging,
        runner,
        schema: 'amplitude',
        projectId: settings.projectId,
        clock: () => new Date(),
      },
      { plan, resultsManifestKey: 'backfill/map-results/m-rs/manifest.json' },
    );

    const report = JSON.parse((await stores.staging.getBytes(summary.reportKey)).toString('utf8'));
    const detail = {
      file: part,
      line: 4,
      column: 'amplitude_id',
      code: '1207',
      reason: 'Invalid digit, Value (value withheld), Pos 0, Type: Long',
    };
    expect(report.chunks[0]).toMatchObject({
      status: 'failed',
      statementId: outcome.statementId,
      loadErrors: { source: 'sys_load_error_detail', details: [detail] },
    });
    expect(sent.filter((sql) => sql.includes('sys_load_error_detail'))).toHaveLength(1);
    expect(summary.message).toContain(`first rejected row: ${part} line 4, column amplitude_id [1207]`);
    expect(JSON.stringify([report, summary])).not.toContain(SECRET);
  });
});
