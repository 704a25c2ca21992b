import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackfillInputError } from '#shared/base/hours.ts';
import { pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { type BackfillChunk, chunksOf, parseBackfillRequest } from '#shared/pipeline/backfill/plan.ts';
import { prepareChunk } from '#shared/pipeline/backfill/prepare.ts';
import { generateSample } from '#shared/sample/generate.ts';
import {
  ExportApiNotConfiguredError,
  parseBackfillSource,
  pullChunkHours,
} from '#shared/sources/amplitude-export-api/backfill.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import { hourIndex } from './fake-export-api.ts';
import { Harness, PROJECT_ID } from './support.ts';

const settings = pipelineSettingsFrom({ PROJECT_ID, FEEDS: 'events' });
const chunk: BackfillChunk & { source: 'export-api' } = {
  runId: 'run-1',
  chunkId: 'events-2024050100-2024050123',
  feed: 'events',
  startHour: '2024-05-01T00',
  endHour: '2024-05-01T23',
  source: 'export-api',
};

let h: Harness;
beforeEach(async () => {
  h = await new Harness().setUp();
});
afterEach(async () => {
  await h.tearDown();
});

describe('parseBackfillSource', () => {
  it('defaults to landing and accepts export-api', () => {
    expect(parseBackfillSource(undefined)).toBe('landing');
    expect(parseBackfillSource('export-api')).toBe('export-api');
  });

  it('refuses anything else with the input error the state machine reports', () => {
    expect(() => parseBackfillSource('s3')).toThrow(BackfillInputError);
    expect(() => parseBackfillSource('s3')).toThrow(/source must be "landing" or "export-api"/);
  });
});

describe('the backfill request', () => {
  it('carries "source": "export-api" into every chunk, and nothing for the default', () => {
    const pulled = chunksOf(
      'r',
      parseBackfillRequest({ start: '2024-05-01', end: '2024-05-02', source: 'export-api' }, ['events']),
    );
    expect(pulled.map((item) => [item.chunkId, item.source])).toEqual([
      ['events-2024050100-2024050123', 'export-api'],
      ['events-2024050200-2024050223', 'export-api'],
    ]);
    const landing = chunksOf(
      'r',
      parseBackfillRequest({ start: '2024-05-01', end: '2024-05-01', source: 'landing' }, ['events']),
    );
    expect(landing.map((item) => 'source' in item)).toEqual([false]);
    expect(() =>
      parseBackfillRequest({ start: '2024-05-01', end: '2024-05-01', source: 'api' }, ['events']),
    ).toThrow(/source must be "landing" or "export-api"/);
  });
});

describe('pullChunkHours', () => {
  it('stages a pulled chunk exactly as the same files written by the S3 export: same batch, same rows', async () => {
    // The files Amplitude's S3 export would have written for that day ...
    const exported = new FileSystemObjectStore(join(h.root, 'exported'));
    const sample = await generateSample(exported, {
      start: '2024-05-01',
      days: 1,
      eventsPerHour: 30,
      seed: 7,
    });
    // ... are what the Export API answers for those hours.
    const eventFiles = sample.files.filter((file) => file.feed === 'events');
    for (const file of eventFiles) {
      const hour = hourIndex(`${file.day}T${String(file.hour).padStart(2, '0')}`);
      const parts = h.api.hours.get(hour) ?? [];
      parts[file.part] = await exported.getBytes(file.key);
      h.api.hours.set(hour, parts);
    }

    const prepare = (landing: FileSystemObjectStore, folder: string, source: 'landing' | 'export-api') =>
      prepareChunk(
        {
          landing,
          staging: new FileSystemObjectStore(join(h.root, folder)),
          settings,
          dialect: 'postgres',
          clock: () => new Date('2024-05-02T00:00:00Z'),
          ...(source === 'export-api' ? { exportApi: h.client() } : {}),
        },
        { chunk: source === 'export-api' ? chunk : { ...chunk, source: undefined }, attempt: 1 },
      );
    const fromExport = await prepare(exported, 'staging-exported', 'landing');
    expect(h.api.requests).toEqual([]);
    // The prepare step pulls the chunk's hours into the empty landing, then stages them.
    const fromPull = await prepare(h.landing, 'staging-pulled', 'export-api');
    expect(h.api.requests.map((request) => [request.start, request.end])).toEqual([
      ['20240501T00', '20240501T23'],
    ]);
    expect(fromPull.files).toBe(eventFiles.length);
    expect(fromPull.rowsStaged).toBeGreaterThan(0);
    expect({ ...fromPull, statements: undefined }).toEqual({ ...fromExport, statements: undefined });
  });

  it('pulls the hours of an export-api events chunk into landing and reports them', async () => {
    h.api.setHour(hourIndex('2024-05-01T03'), [['{"uuid":"a"}']]);
    const report = await pullChunkHours({ exportApi: h.client(), landing: h.landing, settings, chunk });
    expect(report?.hours).toHaveLength(24);
    expect([...(await h.landingFiles()).keys()]).toEqual(['187520_2024-05-01_3#0.json.gz']);
  });

  it('pulls nothing for landing chunks and merged-ID chunks', async () => {
    const client = h.client();
    expect(
      await pullChunkHours({
        exportApi: client,
        landing: h.landing,
        settings,
        chunk: { ...chunk, source: 'landing' },
      }),
    ).toBeUndefined();
    expect(
      await pullChunkHours({
        exportApi: client,
        landing: h.landing,
        settings,
        chunk: { ...chunk, feed: 'merge_ids' },
      }),
    ).toBeUndefined();
    expect(h.api.requests).toEqual([]);
  });

  it('says how to switch the connector on when an export-api chunk runs without it', async () => {
    await expect(
      pullChunkHours({ exportApi: undefined, landing: h.landing, settings, chunk }),
    ).rejects.toThrow(ExportApiNotConfiguredError);
    await expect(
      pullChunkHours({ exportApi: undefined, landing: h.landing, settings, chunk }),
    ).rejects.toThrow(
      /Chunk events-2024050100-2024050123 asks for "source": "export-api".*-c exportApiSecretArn=/,
    );
  });
});
