import { afterEach, describe, expect, it } from 'vitest';
import { BackfillInputError, parseHourSpec } from '#shared/base/hours.ts';
import { chunksKey, runIdOf } from '#shared/base/staging-keys.ts';
import {
  type BackfillChunk,
  chunksOf,
  parseBackfillRequest,
  planBackfill,
} from '#shared/pipeline/backfill/plan.ts';
import { settingsFor, type TempStores, tempStores } from '../batcher/support.ts';

const BOTH = ['events', 'merge_ids'] as const;

describe('parseBackfillRequest', () => {
  it('defaults to every deployed feed and 24-hour chunks', () => {
    const request = parseBackfillRequest({ start: '2026-01-01', end: '2026-01-02' }, BOTH);
    expect(request).toEqual({
      range: {
        first: parseHourSpec('2026-01-01', 's', 'start'),
        last: parseHourSpec('2026-01-02', 'e', 'end'),
      },
      feeds: ['events', 'merge_ids'],
      chunkHours: 24,
    });
  });

  it('takes feeds as a list or a comma-separated string, in deployment order, without repeats', () => {
    expect(
      parseBackfillRequest({ start: '2026-01-01', end: '2026-01-01', feeds: ['merge_ids', 'events'] }, BOTH)
        .feeds,
    ).toEqual(['events', 'merge_ids']);
    expect(
      parseBackfillRequest({ start: '2026-01-01', end: '2026-01-01', feeds: 'events, events' }, BOTH).feeds,
    ).toEqual(['events']);
  });

  it('accepts exactly 366 days and refuses one hour more', () => {
    expect(() => parseBackfillRequest({ start: '2024-01-01', end: '2024-12-31' }, BOTH)).not.toThrow();
    expect(() => parseBackfillRequest({ start: '2024-01-01', end: '2025-01-01T00' }, BOTH)).toThrow(
      /covers 367 days; one backfill covers at most 366 days/,
    );
  });

  it.each([
    [{ start: '2026-01-31', end: '2026-01-01' }, /^end 2026-01-01T23 is before start 2026-01-31T00/],
    [
      { start: '2026-01-01', end: '2026-01-01', feeds: ['clicks'] },
      /^Unknown feed "clicks": feeds are "events" and "merge_ids"/,
    ],
    [{ start: '2026-01-01', end: '2026-01-01', feeds: [] }, /^feeds must be a list of feed names/],
    [{ start: '2026-01-01', end: '2026-01-01', feeds: 7 }, /^feeds must be a list of feed names/],
    [
      { start: '2026-01-01', end: '2026-01-01', chunkHours: 0 },
      /^chunkHours must be a whole number of hours from 1 to 168, got 0/,
    ],
    [{ start: '2026-01-01', end: '2026-01-01', chunkHours: 169 }, /from 1 to 168, got 169/],
    [{ start: '2026-01-01', end: '2026-01-01', chunkHours: 1.5 }, /from 1 to 168, got 1.5/],
    [
      { start: '2026-01-01', end: '2026-01-01', chunk_hours: 4 },
      /^Unknown input field "chunk_hours": the input takes start, end, feeds, chunkHours/,
    ],
    [['2026-01-01'], /^The input must be a JSON object such as \{"start"/],
    [null, /^The input must be a JSON object/],
  ])('refuses %j', (input, message) => {
    expect(() => parseBackfillRequest(input, BOTH)).toThrow(BackfillInputError);
    expect(() => parseBackfillRequest(input, BOTH)).toThrow(message);
  });

  it('refuses a feed this deployment does not export, and says how to add it', () => {
    expect(() =>
      parseBackfillRequest({ start: '2026-01-01', end: '2026-01-01', feeds: 'merge_ids' }, ['events']),
    ).toThrow(
      /^Feed "merge_ids" is not exported by this deployment \(its feeds: events\)\. Remove it from feeds, or add it/,
    );
  });
});

describe('chunksOf', () => {
  it('makes one chunk per feed and window, oldest first, the last window cut at the end', () => {
    const request = parseBackfillRequest(
      { start: '2026-01-01T00', end: '2026-01-01T11', chunkHours: 5, feeds: BOTH as unknown as string[] },
      BOTH,
    );
    const chunks = chunksOf('run-1', request);
    expect(chunks.map((chunk) => [chunk.chunkId, chunk.startHour, chunk.endHour])).toEqual([
      ['events-2026010100-2026010104', '2026-01-01T00', '2026-01-01T04'],
      ['merge_ids-2026010100-2026010104', '2026-01-01T00', '2026-01-01T04'],
      ['events-2026010105-2026010109', '2026-01-01T05', '2026-01-01T09'],
      ['merge_ids-2026010105-2026010109', '2026-01-01T05', '2026-01-01T09'],
      ['events-2026010110-2026010111', '2026-01-01T10', '2026-01-01T11'],
      ['merge_ids-2026010110-2026010111', '2026-01-01T10', '2026-01-01T11'],
    ]);
    expect(new Set(chunks.map((chunk) => chunk.runId))).toEqual(new Set(['run-1']));
  });
});

describe('planBackfill', () => {
  let stores: TempStores;
  afterEach(async () => {
    await stores.remove();
  });

  it('writes the chunk list to S3 and returns only a summary of it', async () => {
    stores = await tempStores('plan');
    const plan = await planBackfill(
      { store: stores.staging, settings: settingsFor() },
      { request: { start: '2026-01-01', end: '2026-01-31' }, executionName: 'january' },
    );
    expect(plan).toEqual({
      runId: 'january',
      start: '2026-01-01T00',
      end: '2026-01-31T23',
      feeds: ['events', 'merge_ids'],
      chunkHours: 24,
      chunkCount: 62,
      chunksKey: 'backfill/runs/january/chunks.json',
    });
    const chunks = JSON.parse((await stores.staging.getBytes(plan.chunksKey)).toString()) as BackfillChunk[];
    expect(chunks).toHaveLength(62);
    expect(chunks[61]).toEqual({
      runId: 'january',
      chunkId: 'merge_ids-2026013100-2026013123',
      feed: 'merge_ids',
      startHour: '2026-01-31T00',
      endHour: '2026-01-31T23',
    });
  });

  it('writes nothing for input it refuses', async () => {
    stores = await tempStores('plan');
    await expect(
      planBackfill(
        { store: stores.staging, settings: settingsFor() },
        { request: { start: '2026-01-02', end: '2026-01-01' }, executionName: 'backwards' },
      ),
    ).rejects.toThrow(BackfillInputError);
    expect(await stores.staging.head(chunksKey('backwards'))).toBeUndefined();
  });

  it('keeps execution names that are safe in keys and hashes the others', () => {
    expect(runIdOf('2026-backfill_1.a')).toBe('2026-backfill_1.a');
    expect(runIdOf('a/b')).toMatch(/^run-[0-9a-f]{16}$/);
    expect(runIdOf('..')).toMatch(/^run-[0-9a-f]{16}$/);
    expect(runIdOf('a/b')).toBe(runIdOf('a/b'));
  });
});
