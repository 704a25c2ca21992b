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
  /** Staged rows of people on the erasure list (`forget`) that a load dropped. Unit: Count. */
  rowsErased: 'RowsErased',
  /** Duration of one load transaction. Unit: Milliseconds. */
  loadDurationMs: 'LoadDurationMs',
  /** Now minus the newest upload time loaded. Unit: Seconds. */
  freshnessSeconds: 'FreshnessSeconds',
  /**
   * Per live batch committed: from its oldest file landing to the commit (the freshness goal:
   * p99 at most 15 minutes). Unit: Seconds.
   */
  landingToCommitSeconds: 'LandingToCommitSeconds',
  /** Per load: hours of the target its de-duplication read (late rows add theirs). Unit: Count. */
  loadHoursRead: 'LoadHoursRead',
  /** Per load: hours from the first read to the last, both included. Unit: Count. */
  loadHoursSpan: 'LoadHoursSpan',
  /** Per load: seconds of the target's time its de-duplication read (its time ranges). Unit: Seconds. */
  loadSecondsRead: 'LoadSecondsRead',
  /** Load transactions that failed. Unit: Count. */
  loadFailures: 'LoadFailures',
  /** Backfill chunks loaded. Unit: Count. */
  backfillChunksSucceeded: 'BackfillChunksSucceeded',
  /** Backfill chunks that failed. Unit: Count. */
  backfillChunksFailed: 'BackfillChunksFailed',
} as const;

export type MetricName = (typeof METRICS)[keyof typeof METRICS];

/**
 * Metrics of the Export API pull (service `export-api`, `Feed: events`). Apart from `METRICS`
 * because the function exists only when the connector is on (`exportApiSecretArn`), so the
 * dashboard and alarms read them only then.
 */
export const EXPORT_API_METRICS = {
  /** Hours pulled completely in the run (with or without data). Unit: Count. */
  hoursPulled: 'ExportApiHoursPulled',
  /** Files written to landing (new or changed). Unit: Count. */
  filesWritten: 'ExportApiFilesWritten',
  /** Bytes of the zip answers. Unit: Bytes. */
  bytesDownloaded: 'ExportApiBytesDownloaded',
  /** Requests that failed after their retries. Unit: Count. */
  failedRequests: 'ExportApiFailedRequests',
  /** Due hours still not pulled after the run. Unit: Count. */
  gapHours: 'ExportApiGapHours',
  /** How long the oldest missing hour has been due, 0 without gaps (alarm). Unit: Seconds. */
  oldestGapAgeSeconds: 'ExportApiOldestGapAgeSeconds',
  /** Gaps that left the look-back window in the run (backfill them). Unit: Count. */
  abandonedHours: 'ExportApiAbandonedHours',
} as const;

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
  exportApi: 'export-api',
} as const;
