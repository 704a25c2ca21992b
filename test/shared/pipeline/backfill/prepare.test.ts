import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventFileName } from '#shared/base/export-files.ts';
import { REDSHIFT_COPY_FORMAT_OPTIONS } from '#shared/format/csv.ts';
import type { BatchManifest, CopyManifest } from '#shared/format/manifest.ts';
import type { BackfillChunk } from '#shared/pipeline/backfill/plan.ts';
import { backfillLoadId, type PrepareDeps, prepareChunk } from '#shared/pipeline/backfill/prepare.ts';
import { generateSample } from '#shared/sample/generate.ts';
import { buildLoadStatements } from '#shared/sql/load.ts';
import { timeRangesOfBatch } from '#shared/sql/time-read.ts';
import { manualClock, PROJECT_ID, settingsFor, type TempStores, tempStores } from '../batcher/support.ts';

const CHUNK: BackfillChunk = {
  runId: 'run-a',
  chunkId: 'events-2024050100-2024050123',
  feed: 'events',
  startHour: '2024-05-01T00',
  endHour: '2024-05-01T23',
};

let stores: TempStores;
let deps: PrepareDeps;

beforeEach(async () => {
  stores = await tempStores('prepare');
  await generateSample(stores.landing, { start: '2024-05-01', days: 2, eventsPerHour: 5, seed: 3 });
  deps = {
    landing: stores.landing,
    staging: stores.staging,
    settings: settingsFor({ COPY_ROLE_ARN: 'arn:aws:iam::123456789012:role/copy' }),
    dialect: 'redshift',
    clock: manualClock('2026-01-01T00:00:00Z'),
  };
});

afterEach(async () => {
  await stores.remove();
});

async function keys(prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const object of stores.staging.list(prefix)) found.push(object.key);
  return found;
}

async function json<T>(key: string): Promise<T> {
  return JSON.parse((await stores.staging.getBytes(key)).toString('utf8')) as T;
}

describe('prepareChunk', () => {
  it("stages the chunk's files as one backfill batch and returns the live loader's transaction for it", async () => {
    const prepared = await prepareChunk(deps, { chunk: CHUNK, attempt: 1 });

    const [batchId] = prepared.batchIds;
    expect(batchId).toMatch(/^bf-ev-2024050100-2024050123-[0-9a-f]{16}$/);
    expect(prepared).toMatchObject({ chunkId: CHUNK.chunkId, empty: false, reused: false, quarantined: 0 });
    expect(prepared.loadId).toBe(backfillLoadId(CHUNK, 1));
    expect(prepared.loadId).toMatch(/^bf-[0-9a-f]{8}-ev-2024050100-a1$/);
    const manifest = await json<BatchManifest>(`backfill/manifests/events/${batchId}.json`);
    expect(manifest.batch).toMatchObject({
      batchId,
      feed: 'events',
      source: 'backfill',
      rowCount: prepared.rowsStaged,
    });
    expect(manifest.batch.sourceKeys).toHaveLength(prepared.files);
    expect(manifest.batch.sourceKeys.every((key) => key.startsWith(`${PROJECT_ID}_2024-05-01_`))).toBe(true);
    expect(await keys('manifests/pending/')).toEqual([]);

    const copyManifest = await json<CopyManifest>(`manifests/copy/${prepared.loadId}.json`);
    expect(copyManifest).toEqual({ entries: manifest.entries });
    expect(prepared.statements).toEqual(
      buildLoadStatements({
        dialect: 'redshift',
        schema: 'amplitude',
        projectId: PROJECT_ID,
        feed: 'events',
        batches: [
          {
            batchId: batchId!,
            source: 'backfill',
            duplicatesInBatch: manifest.batch.duplicatesInBatch,
            quarantined: 0,
            timeRanges: timeRangesOfBatch(manifest.batch),
            ...(manifest.batch.oldestLandedAt ? { landedAt: manifest.batch.oldestLandedAt } : {}),
          },
        ],
        copyManifestUrl: stores.staging.url(`manifests/copy/${prepared.loadId}.json`),
        copyRoleArn: 'arn:aws:iam::123456789012:role/copy',
        loadId: prepared.loadId!,
        formatOptions: REDSHIFT_COPY_FORMAT_OPTIONS,
      }),
    );
  });

  it('reuses the staged batch when the same chunk is prepared again, without rewriting its parts', async () => {
    const first = await prepareChunk(deps, { chunk: CHUNK, attempt: 1 });
    const parts = await Promise.all((await keys('staging/')).map(async (key) => stores.staging.head(key)));

    const again = await prepareChunk(deps, { chunk: { ...CHUNK, runId: 'run-b' }, attempt: 1 });

    expect(again.batchIds).toEqual(first.batchIds);
    expect(again.reused).toBe(true);
    expect(again.loadId).not.toBe(first.loadId);
    expect(await Promise.all((await keys('staging/')).map(async (key) => stores.staging.head(key)))).toEqual(
      parts,
    );
    expect(await prepareChunk(deps, { chunk: CHUNK, attempt: 1 })).toEqual({ ...first, reused: true });
  });

  it('gives each load attempt its own load id and COPY manifest over the same batch', async () => {
    const first = await prepareChunk(deps, { chunk: CHUNK, attempt: 1 });
    const second = await prepareChunk(deps, { chunk: CHUNK, attempt: 2 });

    expect(second.batchIds).toEqual(first.batchIds);
    expect(second.loadId).toMatch(/-a2$/);
    expect(await keys('manifests/copy/')).toEqual([
      `manifests/copy/${first.loadId}.json`,
      `manifests/copy/${second.loadId}.json`,
    ]);
    expect(second.statements.join('\n')).toContain(`manifests/copy/${second.loadId}.json`);
  });

  it('stages the batch again when its parts have expired', async () => {
    const first = await prepareChunk(deps, { chunk: CHUNK, attempt: 1 });
    for (const key of await keys('staging/')) await stores.staging.delete(key);

    const again = await prepareChunk(deps, { chunk: CHUNK, attempt: 1 });

    expect(again.reused).toBe(false);
    expect(again.batchIds).toEqual(first.batchIds);
    const manifest = await json<BatchManifest>(`backfill/manifests/events/${first.batchIds[0]}.json`);
    for (const entry of manifest.entries) {
      expect((await stores.staging.head(stores.staging.keyOf(entry.url)))?.size).toBe(
        entry.meta.content_length,
      );
    }
  });

  it('makes a new batch when a file of the chunk changes or arrives late', async () => {
    const first = await prepareChunk(deps, { chunk: CHUNK, attempt: 1 });
    const line = JSON.stringify({
      uuid: '00000000-0000-4000-8000-000000000001',
      event_type: 'Late',
      amplitude_id: 1,
      event_time: '2024-05-01 09:00:00.000000',
      server_upload_time: '2024-05-01 09:00:01.000000',
    });
    await stores.landing.put(eventFileName(PROJECT_ID, '2024-05-01', 9, 9), gzipSync(`${line}\n`));

    const again = await prepareChunk(deps, { chunk: CHUNK, attempt: 1 });

    expect(again.batchIds).not.toEqual(first.batchIds);
    expect(again.files).toBe(first.files + 1);
    expect(again.rowsStaged).toBe(first.rowsStaged + 1);
  });

  it('returns an empty chunk, with no statements, when no file-name hour is in it', async () => {
    const prepared = await prepareChunk(deps, {
      chunk: {
        ...CHUNK,
        chunkId: 'events-2024050300-2024050323',
        startHour: '2024-05-03T00',
        endHour: '2024-05-03T23',
      },
      attempt: 1,
    });

    expect(prepared).toEqual({
      chunkId: 'events-2024050300-2024050323',
      empty: true,
      files: 0,
      batchIds: [],
      loadId: null,
      statements: [],
      rowsStaged: 0,
      quarantined: 0,
      reused: false,
    });
    expect(await keys('')).toEqual([]);
  });

  it('refuses a payload that is not a chunk, saying what it expects', async () => {
    await expect(
      prepareChunk(deps, { chunk: { ...CHUNK, feed: 'clicks' as never }, attempt: 1 }),
    ).rejects.toThrow(
      /^The prepare step needs \{chunk: \{runId, chunkId, feed, startHour, endHour\}, attempt >= 1\}/,
    );
    await expect(prepareChunk(deps, { chunk: CHUNK, attempt: 0 })).rejects.toThrow(/attempt >= 1/);
  });
});
