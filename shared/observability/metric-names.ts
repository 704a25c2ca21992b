/**
 * Every CloudWatch metric the pipeline emits, named once. The handlers emit these (Powertools
 * EMF) and the CDK dashboard and alarms read them, so the two cannot drift apart.
 */
export const METRIC_NAMESPACE = 'AmplitudeRedshiftExport';

export const METRICS = {
  /** Landing files the batcher found that were not batched yet. Unit: Count. */
  filesDiscovered: 'FilesDiscovered',
  /** Lines staged as rows by the batcher. Unit: Count. */
  eventsBatched: 'EventsBatched',
  /** Compressed bytes read from landing. Unit: Bytes. */
  bytesIn: 'BytesIn',
  /** Compressed bytes written to staging. Unit: Bytes. */
  bytesOut: 'BytesOut',
  /** Lines quarantined, with the `Reason` dimension. Unit: Count. */
  rowsQuarantined: 'RowsQuarantined',
  /** Lines dropped by the batcher as duplicates within a batch. Unit: Count. */
  duplicatesDropped: 'DuplicatesDropped',
  /** Batches waiting in `manifests/pending/`. Unit: Count. */
  batchesPending: 'BatchesPending',
  /** Age of the oldest pending batch. Unit: Seconds. */
  oldestPendingBatchAgeSeconds: 'OldestPendingBatchAgeSeconds',
  /** Rows inserted into the warehouse tables. Unit: Count. */
  rowsLoaded: 'RowsLoaded',
  /** Rows the load skipped because the table already had them. Unit: Count. */
  duplicatesSkipped: 'DuplicatesSkipped',
  /** Duration of one load transaction. Unit: Milliseconds. */
  loadDurationMs: 'LoadDurationMs',
  /** Now minus the newest upload time loaded. Unit: Seconds. */
  freshnessSeconds: 'FreshnessSeconds',
  /** Load transactions that failed. Unit: Count. */
  loadFailures: 'LoadFailures',
  /** Backfill chunks loaded. Unit: Count. */
  backfillChunksSucceeded: 'BackfillChunksSucceeded',
  /** Backfill chunks that failed. Unit: Count. */
  backfillChunksFailed: 'BackfillChunksFailed',
} as const;

export type MetricName = (typeof METRICS)[keyof typeof METRICS];

/**
 * Dimension names. Values stay low-cardinality: a service, a feed, a quarantine reason.
 *
 * Dimension sets (what the dashboard and alarms read, so emit exactly these):
 * - every metric: { service, Feed }
 * - `RowsQuarantined` also once more with { service, Feed, Reason } (the dashboard breaks it
 *   down; the alarm reads the per-feed total).
 *
 * `service` is lower case because Powertools Metrics adds it itself from
 * POWERTOOLS_SERVICE_NAME, which the CDK sets to one of `SERVICES`.
 */
export const DIMENSIONS = {
  service: 'service',
  feed: 'Feed',
  reason: 'Reason',
} as const;

/** `Service` dimension values (also the Powertools service names of the Lambdas). */
export const SERVICES = {
  batcher: 'batcher',
  loader: 'loader',
  backfill: 'backfill',
  verify: 'verify',
} as const;
