import type { Feed } from '../schema/columns.ts';

/** One entry of a Redshift COPY manifest. */
export interface ManifestEntry {
  readonly url: string;
  readonly mandatory: true;
  /** `content_length` is the object's size in bytes (required by Redshift for some sources, checked by us). */
  readonly meta: { readonly content_length: number };
}

/** Exactly what Redshift's `COPY ... MANIFEST` reads: nothing else is written into it. */
export interface CopyManifest {
  readonly entries: readonly ManifestEntry[];
}

export type BatchSource = 'live' | 'backfill';

/**
 * What the batcher writes to `manifests/pending/<feed>/<batchId>.json`: the COPY entries of
 * the batch's parts plus the batch's own figures. The loader combines the `entries` of
 * several batches into one `CopyManifest`.
 */
export interface BatchManifest extends CopyManifest {
  readonly batch: BatchMetadata;
}

export interface BatchMetadata {
  readonly batchId: string;
  readonly feed: Feed;
  readonly projectId: string;
  readonly source: BatchSource;
  /** ISO-8601 time the batch was written. */
  readonly createdAt: string;
  /** Landing keys whose lines are in this batch (whole files only). */
  readonly sourceKeys: readonly string[];
  /** Input lines read (every line ends as a row, a quarantine record or a duplicate). */
  readonly lines: number;
  /** Rows staged in the parts. */
  readonly rowCount: number;
  /** Lines dropped because an earlier line of the same batch had the same key. */
  readonly duplicatesInBatch: number;
  /** Quarantined lines by reason. */
  readonly quarantined: Readonly<Record<string, number>>;
  /** `quarantine/<feed>/<batchId>.jsonl.gz`, when anything was quarantined. */
  readonly quarantineKey?: string;
  /** Values changed on the way (e.g. truncated, NUL removed), by kind. */
  readonly adjusted: Readonly<Record<string, number>>;
  /** Compressed bytes read from landing. */
  readonly bytesIn: number;
  /** Compressed bytes written to the parts. */
  readonly bytesOut: number;
  /** Range of the table's time column (event_time / merge_event_time) in the batch, `YYYY-MM-DD HH:MM:SS.ffffff`. */
  readonly minTime?: string;
  readonly maxTime?: string;
  /** Range of server_upload_time (events) / merge_server_time (merged IDs). */
  readonly minUploadTime?: string;
  readonly maxUploadTime?: string;
}
