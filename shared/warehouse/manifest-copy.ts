import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { ObjectNotFoundError, type ObjectStore } from '../storage/object-store.ts';
import { postgresLoadErrorDetail } from './load-errors.ts';
import { sqlStateOf } from './pg-errors.ts';
import { postgresCopyFromStdin, type RedshiftCopy } from './redshift-copy.ts';
import { type LoadErrorDetail, PermanentWarehouseError, RetryableWarehouseError } from './sql-runner.ts';

interface Entry {
  readonly url: string;
  readonly mandatory: boolean;
  readonly contentLength?: number;
}

async function readManifest(store: ObjectStore, url: string): Promise<Entry[]> {
  const key = keyIn(store, url, 'manifest');
  let bytes: Buffer;
  try {
    bytes = await store.getBytes(key);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) {
      // As Redshift's "Problem reading manifest file": the next load writes a new manifest.
      throw new RetryableWarehouseError(
        `COPY manifest ${url} does not exist. The load names a manifest that was never written or was already removed; run the load again from its pending batches.`,
        'CopyManifestMissing',
        { cause: error },
      );
    }
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new PermanentWarehouseError(`COPY manifest ${url} is not valid JSON.`, 'CopyManifestInvalid', {
      cause: error,
    });
  }
  const entries = (parsed as { entries?: unknown } | null)?.entries;
  if (!Array.isArray(entries)) {
    throw new PermanentWarehouseError(
      `COPY manifest ${url} has no "entries" array; expected {"entries": [{"url": ..., "mandatory": true, "meta": {"content_length": ...}}]}.`,
      'CopyManifestInvalid',
    );
  }
  return entries.map((raw: unknown, index) => {
    const entry = raw as { url?: unknown; mandatory?: unknown; meta?: { content_length?: unknown } } | null;
    const length = entry?.meta?.content_length;
    if (
      typeof entry?.url !== 'string' ||
      (entry.mandatory !== undefined && typeof entry.mandatory !== 'boolean') ||
      (length !== undefined && !(Number.isSafeInteger(length) && (length as number) >= 0))
    ) {
      throw new PermanentWarehouseError(
        `COPY manifest ${url}: entry ${index + 1} is malformed; expected a "url" string, an optional boolean "mandatory" and an optional whole-number "meta.content_length".`,
        'CopyManifestInvalid',
      );
    }
    return {
      url: entry.url,
      mandatory: entry.mandatory === true,
      ...(length !== undefined ? { contentLength: length as number } : {}),
    };
  });
}

function keyIn(store: ObjectStore, url: string, what: string): string {
  try {
    return store.keyOf(url);
  } catch (error) {
    throw new PermanentWarehouseError(
      `COPY ${what} ${url} is not in the staging store ${store.root}; the local runner reads only from that store.`,
      'CopySourceOutsideStore',
      { cause: error },
    );
  }
}

/**
 * Carries out a Redshift manifest COPY on a PostgreSQL connection inside the caller's
 * transaction: every file the manifest lists is checked as Redshift checks it (mandatory
 * entries must exist; `content_length` must match) and streamed into `COPY ... FROM STDIN`.
 * Returns the number of rows loaded.
 */
export async function copyFromManifest(
  client: pg.PoolClient,
  store: ObjectStore,
  copy: RedshiftCopy,
): Promise<number> {
  const entries = await readManifest(store, copy.manifestUrl);
  // Check every file before loading any, as Redshift does before it starts the load.
  const present: Entry[] = [];
  for (const entry of entries) {
    const key = keyIn(store, entry.url, 'file');
    const head = await store.head(key);
    if (!head) {
      if (entry.mandatory) {
        throw new PermanentWarehouseError(
          `COPY failed: mandatory file ${entry.url} listed in manifest ${copy.manifestUrl} does not exist. Staged files must stay until their batch is loaded; check lifecycle rules and whether the batch was already loaded.`,
          'CopyFileMissing',
          { blame: 'batch' },
        );
      }
      continue;
    }
    if (entry.contentLength !== undefined && head.size !== entry.contentLength) {
      throw new PermanentWarehouseError(
        `COPY failed: file ${entry.url} is ${head.size} bytes but manifest ${copy.manifestUrl} says content_length ${entry.contentLength}. The file changed after the batch was written; re-stage the batch.`,
        'CopyContentLengthMismatch',
        { blame: 'batch' },
      );
    }
    present.push(entry);
  }

  const sql = postgresCopyFromStdin(copy);
  let rows = 0;
  for (const entry of present) {
    const key = store.keyOf(entry.url);
    let source: Readable;
    try {
      source = await store.getStream(key);
    } catch (error) {
      if (error instanceof ObjectNotFoundError) {
        throw new PermanentWarehouseError(
          `COPY failed: file ${entry.url} disappeared while it was being loaded.`,
          'CopyFileMissing',
          { cause: error, blame: 'batch' },
        );
      }
      throw error;
    }
    const sink = client.query(copyFrom(sql));
    try {
      if (copy.gzip) await pipeline(source, createGunzip(), sink);
      else await pipeline(source, sink);
    } catch (error) {
      throw copyError(error, entry.url);
    }
    rows += sink.rowCount;
  }
  return rows;
}

const LOAD_ERROR_DETAIL = Symbol('loadErrorDetail');

/** The rejected row's file, line and column that a COPY error of this module carries, if any. */
export function loadErrorDetailOf(error: unknown): LoadErrorDetail | undefined {
  for (let current = error, depth = 0; current && depth < 10; depth++) {
    const detail = (current as { [LOAD_ERROR_DETAIL]?: LoadErrorDetail })[LOAD_ERROR_DETAIL];
    if (detail) return detail;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function copyError(error: unknown, url: string): Error {
  // PostgreSQL's own errors keep their SQLSTATE for the caller to classify; the file is added,
  // and the line and column (without the value) are kept for the failure report.
  const state = sqlStateOf(error);
  if (state && error instanceof Error) {
    return Object.assign(new Error(`loading ${url}: ${error.message}`, { cause: error }), {
      code: state,
      where: (error as { where?: unknown }).where,
      [LOAD_ERROR_DETAIL]: postgresLoadErrorDetail(url, error as { code?: unknown; where?: unknown }),
    });
  }
  const code = (error as { code?: unknown }).code;
  const text = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return new PermanentWarehouseError(
      `COPY failed: ${url} is not valid gzip (${text}), although the statement says GZIP. Re-stage the batch.`,
      'CopyFileCorrupt',
      { cause: error, blame: 'batch' },
    );
  }
  return new RetryableWarehouseError(`COPY failed while reading ${url}: ${text}`, 'CopyReadFailed', {
    cause: error,
  });
}
