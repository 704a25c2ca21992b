import { afterEach, describe, expect, it } from 'vitest';
import { DIMENSIONS, METRIC_NAMESPACE, METRICS, SERVICES } from '#shared/observability/metric-names.ts';
import { createMetrics } from '#shared/observability/powertools.ts';
import { recordBackfillRun, recordBatcherRun, recordLoaderRun } from '#shared/observability/run-metrics.ts';
import { type BatcherSummary, emptyFeedSummary, type FeedSummary } from '#shared/pipeline/batcher/batcher.ts';
import {
  emptyFeedLoadSummary,
  type FeedLoadSummary,
  type LoaderSummary,
} from '#shared/pipeline/loader/summary.ts';
import type { Feed } from '#shared/schema/columns.ts';
import { type Captured, captureOutput, type EmfDocument, valuesFor } from './capture.ts';
import { backfillTotals } from './fixtures.ts';

let output: Captured | undefined;
afterEach(() => {
  output?.restore();
  output = undefined;
});

function capture(): Captured {
  output = captureOutput();
  return output;
}

function batcherFeed(overrides: Partial<FeedSummary>): FeedSummary {
  return { ...emptyFeedSummary(), ...overrides };
}

const BATCHER_RUN: BatcherSummary = {
  runId: 'batcher-run-1',
  startedAt: '2026-03-01T10:00:00.000Z',
  durationMs: 1200,
  budgetMs: 600_000,
  stoppedForBudget: true,
  feeds: {
    events: batcherFeed({
      files: 3,
      filesLeft: 2,
      lines: 115,
      rows: 100,
      duplicatesInBatch: 4,
      quarantined: { malformed_json: 2, invalid_type: 1, made_up_reason: 5, missing_required: 0 },
      bytesIn: 5000,
      bytesOut: 3000,
      batches: ['ev-b1', 'ev-b2'],
    }),
    merge_ids: batcherFeed({ files: 1, lines: 10, rows: 10, bytesIn: 100, bytesOut: 80, batches: ['mi-b1'] }),
  },
};

function loaderFeed(feed: Feed, overrides: Partial<FeedLoadSummary>): FeedLoadSummary {
  return { ...emptyFeedLoadSummary(feed), ...overrides };
}

const LOADER_RUN: LoaderSummary = {
  runId: 'load-20260301t100000-abcdef',
  feeds: [
    loaderFeed('events', {
      rowsLoaded: 950,
      duplicatesSkipped: 50,
      quarantined: 3,
      rowsErased: 7,
      batchesLoaded: 2,
      batchesPending: 4,
      freshnessSeconds: 420,
      landingToCommitSeconds: [390, 510],
      loads: [
        {
          loadId: 'l-e1',
          statementId: 's-1',
          batchIds: ['ev-b1'],
          rowsLoaded: 500,
          durationMs: 8000,
          hoursRead: 3,
          hoursSpan: 3,
          secondsRead: 1800,
        },
        {
          loadId: 'l-e2',
          statementId: 's-2',
          batchIds: ['ev-b2'],
          rowsLoaded: 450,
          durationMs: 6500,
          hoursRead: 4,
          hoursSpan: 241,
        },
      ],
    }),
    loaderFeed('merge_ids', { batchesPending: 1, batchesFailed: 1, failedBatchIds: ['mi-b9'] }),
  ],
  errors: [
    {
      feed: 'events',
      batchIds: ['ev-b3'],
      kind: 'retryable',
      name: 'RetryableWarehouseError',
      message: 'busy',
    },
    {
      feed: 'merge_ids',
      batchIds: ['mi-b9'],
      kind: 'batch',
      name: 'PermanentWarehouseError',
      message: 'bad',
    },
    { feed: 'merge_ids', batchIds: ['mi-b8'], kind: 'manifest', name: 'Error', message: 'unreadable' },
  ],
  needsAttention: true,
  freshnessSeconds: 420,
  durationMs: 16_000,
};

const PENDING = {
  events: { count: 2, oldestAgeSeconds: 900, oldestBatchId: 'ev-b3' },
  merge_ids: { count: 0 },
} as const;

const BACKFILL_RUN = {
  byFeed: {
    events: backfillTotals({
      chunks: 10,
      loaded: 6,
      alreadyLoaded: 1,
      empty: 1,
      failed: 2,
      rowsLoaded: 12_000,
      duplicatesSkipped: 30,
      quarantined: 7,
      rowsErased: 5,
    }),
    merge_ids: backfillTotals({ chunks: 10, loaded: 10, rowsLoaded: 400 }),
  },
};

function dimensionSets(docs: readonly EmfDocument[]): string[] {
  return [
    ...new Set(
      docs.flatMap((doc) =>
        doc._aws.CloudWatchMetrics.flatMap((directive) => directive.Dimensions.map((set) => set.join(','))),
      ),
    ),
  ].sort();
}

describe('recordBatcherRun', () => {
  it('emits the batcher figures per feed with the service and Feed dimensions, and quarantine by reason', () => {
    const captured = capture();
    recordBatcherRun(createMetrics(SERVICES.batcher), BATCHER_RUN);
    const docs = captured.emf();

    expect(docs.every((doc) => doc._aws.CloudWatchMetrics[0]?.Namespace === METRIC_NAMESPACE)).toBe(true);
    expect(dimensionSets(docs)).toEqual(['service,Feed', 'service,Feed,Reason']);
    expect(valuesFor(docs, { service: 'batcher', Feed: 'events' })).toEqual({
      [METRICS.filesDiscovered]: 5,
      [METRICS.eventsBatched]: 100,
      [METRICS.bytesIn]: 5000,
      [METRICS.bytesOut]: 3000,
      [METRICS.duplicatesDropped]: 4,
      [METRICS.rowsQuarantined]: 8,
    });
    expect(valuesFor(docs, { service: 'batcher', Feed: 'merge_ids' })).toMatchObject({
      [METRICS.filesDiscovered]: 1,
      [METRICS.eventsBatched]: 10,
      [METRICS.rowsQuarantined]: 0,
    });
    expect(valuesFor(docs, { service: 'batcher', Feed: 'events', Reason: 'malformed_json' })).toEqual({
      [METRICS.rowsQuarantined]: 2,
    });
    expect(valuesFor(docs, { service: 'batcher', Feed: 'events', Reason: 'invalid_type' })).toEqual({
      [METRICS.rowsQuarantined]: 1,
    });
    // An unknown reason must not become a new dimension value; a zero count is not emitted.
    expect(valuesFor(docs, { service: 'batcher', Feed: 'events', Reason: 'other' })).toEqual({
      [METRICS.rowsQuarantined]: 5,
    });
    expect(valuesFor(docs, { service: 'batcher', Feed: 'events', Reason: 'missing_required' })).toEqual({});
  });

  it('gives the byte metrics the Bytes unit and the counts the Count unit', () => {
    const captured = capture();
    recordBatcherRun(createMetrics(SERVICES.batcher), BATCHER_RUN);
    const units = new Map(
      captured
        .emf()
        .flatMap((doc) => doc._aws.CloudWatchMetrics[0]?.Metrics.map((m) => [m.Name, m.Unit] as const) ?? []),
    );
    expect(units.get(METRICS.bytesIn)).toBe('Bytes');
    expect(units.get(METRICS.bytesOut)).toBe('Bytes');
    expect(units.get(METRICS.eventsBatched)).toBe('Count');
  });

  it('emits nothing for a run that found the lease held', () => {
    const captured = capture();
    recordBatcherRun(createMetrics(SERVICES.batcher), {
      ...BATCHER_RUN,
      skipped: { reason: 'lease-held', heldBy: 'batcher:other', expiresAt: '2026-03-01T10:20:00.000Z' },
      feeds: {},
    });
    expect(captured.emf()).toEqual([]);
  });
});

describe('recordLoaderRun', () => {
  it('emits rows, duplicates, durations, freshness, landing-to-commit delays, hours read, failures that need a person, and the backlog', () => {
    const captured = capture();
    recordLoaderRun(createMetrics(SERVICES.loader), LOADER_RUN, PENDING);
    const docs = captured.emf();

    expect(dimensionSets(docs)).toEqual(['service,Feed']);
    expect(valuesFor(docs, { service: 'loader', Feed: 'events' })).toEqual({
      [METRICS.batchesPending]: 2,
      [METRICS.oldestPendingBatchAgeSeconds]: 900,
      [METRICS.rowsLoaded]: 950,
      [METRICS.duplicatesSkipped]: 50,
      [METRICS.rowsErased]: 7,
      [METRICS.loadFailures]: 0,
      [METRICS.loadDurationMs]: [8000, 6500],
      [METRICS.freshnessSeconds]: 420,
      [METRICS.landingToCommitSeconds]: [390, 510],
      [METRICS.loadHoursRead]: [3, 4],
      [METRICS.loadHoursSpan]: [3, 241],
      // Only the load that knows it (the second stands for one from before seconds were counted).
      [METRICS.loadSecondsRead]: 1800,
    });
    expect(valuesFor(docs, { service: 'loader', Feed: 'merge_ids' })).toEqual({
      [METRICS.batchesPending]: 0,
      [METRICS.oldestPendingBatchAgeSeconds]: 0,
      [METRICS.rowsLoaded]: 0,
      [METRICS.duplicatesSkipped]: 0,
      [METRICS.rowsErased]: 0,
      [METRICS.loadFailures]: 2,
    });
  });

  it("falls back to the run's own pending count when no listing was made", () => {
    const captured = capture();
    recordLoaderRun(createMetrics(SERVICES.loader), LOADER_RUN);
    const events = valuesFor(captured.emf(), { service: 'loader', Feed: 'events' });
    expect(events[METRICS.batchesPending]).toBe(4);
    expect(events[METRICS.oldestPendingBatchAgeSeconds]).toBeUndefined();
  });

  it('still reports the backlog when another run held the lease, and nothing else', () => {
    const captured = capture();
    recordLoaderRun(
      createMetrics(SERVICES.loader),
      {
        ...LOADER_RUN,
        skipped: { reason: 'lease-held', heldBy: 'loader:x', expiresAt: '2026-03-01T10:15:00.000Z' },
      },
      PENDING,
    );
    expect(valuesFor(captured.emf(), { service: 'loader', Feed: 'events' })).toEqual({
      [METRICS.batchesPending]: 2,
      [METRICS.oldestPendingBatchAgeSeconds]: 900,
    });
  });

  it('splits more than 100 durations over several documents, each keeping its Feed dimension', () => {
    const captured = capture();
    const loads = Array.from({ length: 150 }, (_, index) => ({
      loadId: `l-${index}`,
      statementId: `s-${index}`,
      batchIds: [`b-${index}`],
      rowsLoaded: 1,
      durationMs: index,
    }));
    recordLoaderRun(createMetrics(SERVICES.loader), {
      ...LOADER_RUN,
      feeds: [loaderFeed('events', { loads })],
      errors: [],
    });
    const docs = captured.emf().filter((doc) => doc[METRICS.loadDurationMs] !== undefined);
    expect(docs).toHaveLength(2);
    expect(docs.every((doc) => doc.Feed === 'events' && doc.service === 'loader')).toBe(true);
    const values = docs.flatMap((doc) => doc[METRICS.loadDurationMs] as number[]);
    expect(values).toHaveLength(150);
    expect(Math.max(...docs.map((doc) => (doc[METRICS.loadDurationMs] as number[]).length))).toBe(100);
  });
});

describe('recordBackfillRun', () => {
  it('emits chunks succeeded and failed, rows, duplicates, erased rows and quarantine per feed under the backfill service', () => {
    const captured = capture();
    recordBackfillRun(createMetrics(SERVICES.backfill), BACKFILL_RUN, {
      events: { invalid_timestamp: 4, malformed_json: 3 },
    });
    const docs = captured.emf();
    expect(valuesFor(docs, { service: 'backfill', Feed: 'events' })).toEqual({
      [METRICS.backfillChunksSucceeded]: 8,
      [METRICS.backfillChunksFailed]: 2,
      [METRICS.rowsLoaded]: 12_000,
      [METRICS.duplicatesSkipped]: 30,
      [METRICS.rowsErased]: 5,
      [METRICS.rowsQuarantined]: 7,
    });
    expect(valuesFor(docs, { service: 'backfill', Feed: 'events', Reason: 'invalid_timestamp' })).toEqual({
      [METRICS.rowsQuarantined]: 4,
    });
    expect(valuesFor(docs, { service: 'backfill', Feed: 'merge_ids' })).toMatchObject({
      [METRICS.backfillChunksSucceeded]: 10,
      [METRICS.backfillChunksFailed]: 0,
      [METRICS.rowsLoaded]: 400,
    });
  });
});

describe('the recorders and metric-names.ts', () => {
  it('together emit every pipeline metric name of metric-names.ts, and no other name or dimension', () => {
    const captured = capture();
    recordBatcherRun(createMetrics(SERVICES.batcher), BATCHER_RUN);
    recordLoaderRun(createMetrics(SERVICES.loader), LOADER_RUN, PENDING);
    recordBackfillRun(createMetrics(SERVICES.backfill), BACKFILL_RUN, { events: { malformed_json: 7 } });
    const docs = captured.emf();

    const emitted = new Set(
      docs.flatMap((doc) => doc._aws.CloudWatchMetrics.flatMap((d) => d.Metrics.map((m) => m.Name))),
    );
    // The Export API pull emits its own names (shared/sources/amplitude-export-api/metrics.ts).
    const pipelineNames = Object.entries(METRICS)
      .filter(([key]) => !key.startsWith('exportApi'))
      .map(([, name]) => name);
    expect(pipelineNames.length).toBeGreaterThanOrEqual(15);
    expect([...emitted].sort()).toEqual(pipelineNames.sort());

    const dimensionNames = new Set(
      docs.flatMap((doc) => doc._aws.CloudWatchMetrics.flatMap((d) => d.Dimensions.flat())),
    );
    expect([...dimensionNames].sort()).toEqual(Object.values(DIMENSIONS).sort());
    expect(new Set(docs.map((doc) => doc._aws.CloudWatchMetrics[0]?.Namespace))).toEqual(
      new Set([METRIC_NAMESPACE]),
    );
  });
});
