import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { BackfillSummary, Totals } from '../pipeline/backfill/summarize.ts';
import type { BatcherSummary } from '../pipeline/batcher/batcher.ts';
import type { PendingBatchStats } from '../pipeline/loader/backlog.ts';
import type { LoaderSummary } from '../pipeline/loader/summary.ts';
import type { Feed } from '../schema/columns.ts';
import { QUARANTINE_REASONS } from '../transform/outcome.ts';
import { DIMENSIONS, METRICS, type MetricName } from './metric-names.ts';

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

/**
 * One value to emit. `Feed` is on every point; `Reason` only on the per-reason copy of
 * `RowsQuarantined` (metric-names.ts lists the dimension sets the dashboard reads).
 */
export interface MetricPoint {
  readonly name: MetricName;
  readonly unit: Unit;
  readonly value: number;
  readonly feed: Feed;
  readonly reason?: string;
}

/** Quarantine reasons by count, per feed. */
export type ReasonCounts = Readonly<Record<string, number>>;

/** Values of one metric per EMF document: the EMF limit is 100 per metric. */
const MAX_VALUES_PER_DOCUMENT = 100;

/** Reasons outside the transform's list go to `other`, so the dimension stays low-cardinality. */
export function reasonDimension(reason: string): string {
  return (QUARANTINE_REASONS as readonly string[]).includes(reason) ? reason : 'other';
}

function quarantinePoints(feed: Feed, byReason: ReasonCounts): MetricPoint[] {
  const merged = new Map<string, number>();
  for (const [reason, count] of Object.entries(byReason)) {
    if (count > 0) merged.set(reasonDimension(reason), (merged.get(reasonDimension(reason)) ?? 0) + count);
  }
  const total = [...merged.values()].reduce((sum, count) => sum + count, 0);
  return [
    { name: METRICS.rowsQuarantined, unit: MetricUnit.Count, value: total, feed },
    ...[...merged].map(([reason, value]) => ({
      name: METRICS.rowsQuarantined,
      unit: MetricUnit.Count,
      value,
      feed,
      reason,
    })),
  ];
}

function pendingPoints(feed: Feed, stats: PendingBatchStats | undefined): MetricPoint[] {
  if (!stats) return [];
  return [
    { name: METRICS.batchesPending, unit: MetricUnit.Count, value: stats.count, feed },
    {
      name: METRICS.oldestPendingBatchAgeSeconds,
      unit: MetricUnit.Seconds,
      value: stats.oldestAgeSeconds ?? 0,
      feed,
    },
  ];
}

/**
 * The batcher's figures per feed: files discovered (batched this run plus those left for the
 * next run), rows staged, bytes in and out, quarantined lines (total and by reason) and
 * in-batch duplicates. A run that found the lease held did nothing and emits nothing.
 */
export function batcherMetricPoints(summary: BatcherSummary): MetricPoint[] {
  if (summary.skipped) return [];
  return Object.entries(summary.feeds).flatMap(([feedName, figures]) => {
    if (!figures) return [];
    const feed = feedName as Feed;
    return [
      {
        name: METRICS.filesDiscovered,
        unit: MetricUnit.Count,
        value: figures.files + figures.filesLeft,
        feed,
      },
      { name: METRICS.eventsBatched, unit: MetricUnit.Count, value: figures.rows, feed },
      { name: METRICS.bytesIn, unit: MetricUnit.Bytes, value: figures.bytesIn, feed },
      { name: METRICS.bytesOut, unit: MetricUnit.Bytes, value: figures.bytesOut, feed },
      { name: METRICS.duplicatesDropped, unit: MetricUnit.Count, value: figures.duplicatesInBatch, feed },
      ...quarantinePoints(feed, figures.quarantined),
    ];
  });
}

/**
 * The loader's figures per feed: rows loaded, duplicates skipped, the duration of each load
 * transaction, freshness (now minus the newest upload time loaded, when anything was), the
 * landing-to-commit delay of each live batch, the hours and seconds of the table each load read, and load failures. A failure counts when a person may need to act (a batch failed, or the setup
 * is wrong); retryable errors (throttling, a busy cluster) are retried by the next run and show
 * in the pending-age alarm if they last.
 *
 * `pending` (from `pendingBatchStats`, listed after the run) gives the backlog and its age;
 * it is emitted even when another run held the lease, so the pending-age alarm always has data.
 */
export function loaderMetricPoints(
  summary: LoaderSummary,
  pending?: Readonly<Partial<Record<Feed, PendingBatchStats>>>,
): MetricPoint[] {
  const points: MetricPoint[] = [];
  for (const figures of summary.feeds) {
    const feed = figures.feed;
    points.push(...pendingPoints(feed, pending?.[feed]));
    if (summary.skipped) continue;
    if (!pending?.[feed]) {
      points.push({
        name: METRICS.batchesPending,
        unit: MetricUnit.Count,
        value: figures.batchesPending,
        feed,
      });
    }
    const failures = summary.errors.filter(
      (error) => error.feed === feed && error.kind !== 'retryable',
    ).length;
    points.push(
      { name: METRICS.rowsLoaded, unit: MetricUnit.Count, value: figures.rowsLoaded, feed },
      { name: METRICS.duplicatesSkipped, unit: MetricUnit.Count, value: figures.duplicatesSkipped, feed },
      { name: METRICS.rowsErased, unit: MetricUnit.Count, value: figures.rowsErased, feed },
      { name: METRICS.loadFailures, unit: MetricUnit.Count, value: failures, feed },
      ...figures.loads.map((load) => ({
        name: METRICS.loadDurationMs,
        unit: MetricUnit.Milliseconds,
        value: load.durationMs,
        feed,
      })),
    );
    if (figures.freshnessSeconds !== undefined) {
      points.push({
        name: METRICS.freshnessSeconds,
        unit: MetricUnit.Seconds,
        value: figures.freshnessSeconds,
        feed,
      });
    }
    points.push(
      ...figures.landingToCommitSeconds.map((value) => ({
        name: METRICS.landingToCommitSeconds,
        unit: MetricUnit.Seconds,
        value,
        feed,
      })),
      // What each load read of the table, as far as it knows (nothing when its rows' times were unknown).
      ...figures.loads.flatMap((load) =>
        (
          [
            [METRICS.loadHoursRead, MetricUnit.Count, load.hoursRead],
            [METRICS.loadHoursSpan, MetricUnit.Count, load.hoursSpan],
            [METRICS.loadSecondsRead, MetricUnit.Seconds, load.secondsRead],
          ] as const
        ).flatMap(([name, unit, value]) => (value === undefined ? [] : [{ name, unit, value, feed }])),
      ),
    );
  }
  return points;
}

function backfillTotalsPoints(feed: Feed, totals: Totals, reasons: ReasonCounts | undefined): MetricPoint[] {
  return [
    {
      name: METRICS.backfillChunksSucceeded,
      unit: MetricUnit.Count,
      value: totals.chunks - totals.failed,
      feed,
    },
    { name: METRICS.backfillChunksFailed, unit: MetricUnit.Count, value: totals.failed, feed },
    { name: METRICS.rowsLoaded, unit: MetricUnit.Count, value: totals.rowsLoaded, feed },
    { name: METRICS.duplicatesSkipped, unit: MetricUnit.Count, value: totals.duplicatesSkipped, feed },
    { name: METRICS.rowsErased, unit: MetricUnit.Count, value: totals.rowsErased, feed },
    // The total comes from the ledger; the reasons, when known, from the batch manifests.
    ...(reasons && Object.keys(reasons).length > 0
      ? quarantinePoints(feed, reasons).map((point) =>
          point.reason === undefined ? { ...point, value: totals.quarantined } : point,
        )
      : [{ name: METRICS.rowsQuarantined, unit: MetricUnit.Count, value: totals.quarantined, feed }]),
  ];
}

/**
 * One backfill execution, per feed: chunks that succeeded (loaded, already loaded or empty)
 * and failed, and what the chunks this execution loaded added (rows, duplicates skipped,
 * lines quarantined, rows of erased people dropped). `reasons` (from `backfillQuarantineReasons`) adds the per-reason copy.
 */
export function backfillMetricPoints(
  summary: Pick<BackfillSummary, 'byFeed'>,
  reasons?: Readonly<Partial<Record<Feed, ReasonCounts>>>,
): MetricPoint[] {
  return Object.entries(summary.byFeed).flatMap(([feedName, totals]) =>
    totals ? backfillTotalsPoints(feedName as Feed, totals, reasons?.[feedName as Feed]) : [],
  );
}

function dimensionKey(point: MetricPoint): string {
  return `${point.feed}\u0000${point.reason ?? ''}`;
}

/**
 * Writes the points as EMF documents, one per dimension set (EMF applies a document's
 * dimensions to all its metrics), through Powertools: `service` comes from the Metrics
 * instance, `Feed` and `Reason` from the points.
 */
export function emitMetricPoints(metrics: Metrics, points: readonly MetricPoint[]): void {
  const groups = new Map<string, MetricPoint[]>();
  for (const point of points) {
    const key = dimensionKey(point);
    const group = groups.get(key);
    if (group) group.push(point);
    else groups.set(key, [point]);
  }
  for (const group of groups.values()) {
    const [first] = group;
    if (!first) continue;
    const perName = new Map<MetricName, number>();
    const rounds: MetricPoint[][] = [[]];
    // A metric's 101st value would make Powertools flush mid-group and drop the dimensions.
    for (const point of group) {
      const seen = perName.get(point.name) ?? 0;
      perName.set(point.name, seen + 1);
      const round = Math.floor(seen / MAX_VALUES_PER_DOCUMENT);
      rounds[round] ??= [];
      rounds[round].push(point);
    }
    for (const round of rounds) {
      if (round.length === 0) continue;
      metrics.addDimension(DIMENSIONS.feed, first.feed);
      if (first.reason !== undefined) metrics.addDimension(DIMENSIONS.reason, first.reason);
      for (const point of round) metrics.addMetric(point.name, point.unit, point.value);
      metrics.publishStoredMetrics();
    }
  }
}

export function recordBatcherRun(metrics: Metrics, summary: BatcherSummary): void {
  emitMetricPoints(metrics, batcherMetricPoints(summary));
}

export function recordLoaderRun(
  metrics: Metrics,
  summary: LoaderSummary,
  pending?: Readonly<Partial<Record<Feed, PendingBatchStats>>>,
): void {
  emitMetricPoints(metrics, loaderMetricPoints(summary, pending));
}

export function recordBackfillRun(
  metrics: Metrics,
  summary: Pick<BackfillSummary, 'byFeed'>,
  reasons?: Readonly<Partial<Record<Feed, ReasonCounts>>>,
): void {
  emitMetricPoints(metrics, backfillMetricPoints(summary, reasons));
}
