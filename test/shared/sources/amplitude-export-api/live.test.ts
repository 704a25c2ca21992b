import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExportApiCredentials } from '#shared/sources/amplitude-export-api/credentials.ts';
import { type LivePullSettings, runLivePull } from '#shared/sources/amplitude-export-api/live.ts';
import { type LivePullState, liveStateKey } from '#shared/sources/amplitude-export-api/live-state.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import { acquireLease } from '#shared/storage/lease.ts';
import { hourIndex } from './fake-export-api.ts';
import { API_KEY, Harness, PROJECT_ID } from './support.ts';

const HOUR = 3_600_000;
const settings: LivePullSettings = {
  projectId: PROJECT_ID,
  landingPrefix: '',
  delayHours: 3,
  lookbackDays: 7,
  batcherLookbackDays: 1,
  maxHoursPerRequest: 24,
};

let h: Harness;
let staging: FileSystemObjectStore;
let now: Date;
const clock = () => now;

beforeEach(async () => {
  h = await new Harness().setUp();
  staging = new FileSystemObjectStore(join(h.root, 'staging'));
  // Hour 2024-05-03T06 ended at 07:00 and is due at 10:00; 07 is not due until 11:00.
  now = new Date('2024-05-03T10:30:00Z');
  h.api.setHour(hourIndex('2024-05-02T03'), [['{"uuid":"a"}'], ['{"uuid":"b"}']]);
  h.api.setHour(hourIndex('2024-05-03T06'), [['{"uuid":"c"}']]);
  h.api.setHour(hourIndex('2024-05-03T07'), [['{"uuid":"d"}']]);
});
afterEach(async () => {
  await h.tearDown();
});

const run = (overrides: Partial<Parameters<typeof runLivePull>[0]> = {}) =>
  runLivePull({
    api: h.client({ maxAttempts: 2 }),
    landing: h.landing,
    staging,
    settings,
    clock,
    budgetMs: 60_000,
    runId: 'test',
    ...overrides,
  });

async function state(): Promise<LivePullState> {
  return JSON.parse((await staging.getBytes(liveStateKey(PROJECT_ID))).toString('utf8')) as LivePullState;
}

const ranges = () => h.api.requests.map((request) => `${request.start}-${request.end}`);

describe('runLivePull', () => {
  it("pulls every due hour from the start of the batcher's window, remembers them, and pulls only new ones later", async () => {
    const first = await run();

    expect(ranges()).toEqual(['20240502T00-20240502T23', '20240503T00-20240503T06']);
    expect([...(await h.landingFiles()).keys()]).toEqual([
      '187520_2024-05-02_3#0.json.gz',
      '187520_2024-05-02_3#1.json.gz',
      '187520_2024-05-03_6#0.json.gz',
    ]);
    expect(first).toMatchObject({
      skipped: false,
      windowStart: '2024-05-02T00',
      windowEnd: '2024-05-03T06',
      dueHours: 31,
      hoursPulled: 31,
      hoursWithData: 2,
      filesWritten: 3,
      events: 3,
      gapHours: 0,
      oldestGapAgeSeconds: 0,
      failures: [],
      abandonedHours: [],
      hoursNeedingBackfill: [],
    });
    const record = await state();
    expect(record).toMatchObject({ version: 1, projectId: PROJECT_ID, since: '2024-05-02T00', gaps: {} });
    expect(Object.keys(record.pulled)).toHaveLength(31);
    expect(record.pulled['2024-05-02T03']).toEqual({ at: '2024-05-03T10:30:00.000Z', files: 2 });

    const again = await run();
    expect(again.dueHours).toBe(0);
    expect(h.api.requests).toHaveLength(2);

    now = new Date(now.getTime() + HOUR);
    const next = await run();
    expect(ranges().slice(2)).toEqual(['20240503T07-20240503T07']);
    expect(next).toMatchObject({ dueHours: 1, hoursPulled: 1, filesWritten: 1, gapHours: 0 });
    expect(await h.landing.head('187520_2024-05-03_7#0.json.gz')).toBeDefined();
  });

  it('records failed hours as gaps with their age, and fills them on a later run', async () => {
    h.api.alwaysFault = { kind: 'status', status: 500 };

    const failed = await run();

    // The first range failed after its retries; the second was not tried against a failing API.
    expect(ranges()).toEqual(['20240502T00-20240502T23', '20240502T00-20240502T23']);
    expect(failed).toMatchObject({
      hoursPulled: 0,
      gapHours: 31,
      oldestGapHour: '2024-05-02T00',
      // Due since 2024-05-02T04:00 (end of hour 00 plus 3 hours): 30.5 hours.
      oldestGapAgeSeconds: 30.5 * 3600,
    });
    expect(failed.failures).toEqual([
      expect.objectContaining({
        startHour: '2024-05-02T00',
        endHour: '2024-05-02T23',
        kind: 'unavailable',
        status: 500,
      }),
    ]);
    const gaps = (await state()).gaps;
    expect(gaps['2024-05-02T05']).toEqual({ attempts: 1, lastError: expect.stringContaining('HTTP 500') });
    expect(gaps['2024-05-03T01']).toEqual({ attempts: 0 });
    expect(await h.landingFiles()).toEqual(new Map());

    h.api.alwaysFault = undefined;
    now = new Date(now.getTime() + HOUR);
    const filled = await run();
    expect(filled).toMatchObject({ dueHours: 32, hoursPulled: 32, gapHours: 0, oldestGapAgeSeconds: 0 });
    expect((await state()).gaps).toEqual({});
    expect((await h.landingFiles()).size).toBe(4);
  });

  it('keeps retrying a failing hour within the look-back window, then reports it abandoned', async () => {
    h.api.hugeHours.add(hourIndex('2024-05-03T02'));
    const lookback = { ...settings, lookbackDays: 1 };

    const first = await run({ settings: lookback });
    expect(first).toMatchObject({
      windowStart: '2024-05-02T07',
      gapHours: 1,
      oldestGapHour: '2024-05-03T02',
    });
    expect(first.failures.map((failure) => [failure.startHour, failure.kind])).toEqual([
      ['2024-05-03T02', 'too-large'],
    ]);

    now = new Date(now.getTime() + HOUR);
    const second = await run({ settings: lookback });
    expect(second.dueHours).toBe(2);
    expect((await state()).gaps['2024-05-03T02']).toMatchObject({ attempts: 2 });

    now = new Date('2024-05-04T11:30:00Z');
    const later = await run({ settings: lookback });
    expect(later).toMatchObject({
      windowStart: '2024-05-03T08',
      abandonedHours: ['2024-05-03T02'],
      gapHours: 0,
    });
    expect((await state()).gaps).toEqual({});
    expect(Object.keys((await state()).pulled).every((hour) => hour >= '2024-05-03T08')).toBe(true);
  });

  it('names pulled hours the scheduled batcher no longer reads, so a backfill loads them', async () => {
    const summary = await run({
      settings: { ...settings, batcherLookbackDays: 0, firstHour: '2024-05-02T01' },
    });
    expect(summary.windowStart).toBe('2024-05-02T01');
    expect(summary.hoursNeedingBackfill).toEqual(['2024-05-02T03']);
  });

  it('does nothing while another run holds the lease', async () => {
    await acquireLease(staging, 'export-api-pull', { owner: 'other', ttlMs: HOUR, clock });
    const summary = await run();
    expect(summary).toMatchObject({ skipped: true, heldBy: 'other', requests: 0 });
    expect(h.api.requests).toEqual([]);
    expect(await staging.head(liveStateKey(PROJECT_ID))).toBeUndefined();
  });

  it('starts no request once the time budget is spent, leaving the hours as gaps', async () => {
    const summary = await run({ budgetMs: 0 });
    expect(h.api.requests).toEqual([]);
    expect(summary).toMatchObject({ requests: 0, gapHours: 31 });
  });

  it('reports refused credentials as fatal after recording the gaps', async () => {
    const summary = await run({
      api: h.client({ credentials: new ExportApiCredentials(API_KEY, 'revoked') }),
    });
    expect(summary.fatal).toMatchObject({ kind: 'rejected', status: 401 });
    expect(summary.gapHours).toBe(31);
    expect((await state()).gaps['2024-05-02T00']).toEqual({
      attempts: 1,
      lastError: expect.stringContaining('refused the credentials'),
    });
  });
});
