import { createHash } from 'node:crypto';
import type { Clock } from '../../base/clock.ts';
import type { LandingFile } from '../../base/export-files.ts';
import { compactHour, dateOfHour, hourIndexOf } from '../../base/hours.ts';
import { assertBatchId, backfillManifestKey, shortHash } from '../../base/staging-keys.ts';
import type { PipelineSettings } from '../../config/pipeline.ts';
import type { BatchManifest } from '../../format/manifest.ts';
import { FEEDS, type Feed } from '../../schema/columns.ts';
import { BACKFILL_SOURCES, pullChunkHours } from '../../sources/amplitude-export-api/backfill.ts';
import type { ExportApi } from '../../sources/amplitude-export-api/client.ts';
import type { Dialect } from '../../sql/dialect.ts';
import { ObjectNotFoundError, type ObjectStore } from '../../storage/object-store.ts';
import { writeBatch } from '../batcher/batcher.ts';
import { discoverRange } from '../batcher/discover.ts';
import { loadBatchOf, parseBatchManifestFor, prepareLoadTransaction } from '../loader/load-transaction.ts';
import type { BackfillChunk } from './plan.ts';

/** Payload of the prepare Lambda: the map item and the load attempt (1, 2, ...). */
export interface PrepareEvent {
  readonly chunk: BackfillChunk;
  readonly attempt: number;
}

/** What the prepare step returns to the state machine. */
export interface PreparedChunk {
  readonly chunkId: string;
  /** No landing file has a file-name hour in the chunk: nothing to load. */
  readonly empty: boolean;
  /** Landing files in the chunk. */
  readonly files: number;
  /** The chunk's batch (one per chunk), or none when empty. */
  readonly batchIds: readonly string[];
  /** Id of this load attempt: the Data API ClientToken, the ledger's load_id and the COPY manifest's name. */
  readonly loadId: string | null;
  /** The load transaction, exactly as the live loader builds it (source 'backfill'). */
  readonly statements: readonly string[];
  readonly rowsStaged: number;
  readonly quarantined: number;
  /** The batch was staged by an earlier attempt or run and is loaded from those files. */
  readonly reused: boolean;
}

export interface PrepareDeps {
  readonly landing: ObjectStore;
  /** The staging store. */
  readonly staging: ObjectStore;
  readonly settings: PipelineSettings;
  readonly dialect: Dialect;
  readonly clock: Clock;
  /**
   * Amplitude's Export API, for chunks of a backfill started with `"source": "export-api"`:
   * their hours are pulled into landing before they are staged.
   * @default - none: such chunks fail with `ExportApiNotConfiguredError`
   */
  readonly exportApi?: ExportApi;
}

const FEED_SHORT: Readonly<Record<Feed, string>> = { events: 'ev', merge_ids: 'mi' };

/**
 * `bf-<ev|mi>-<first hour>-<last hour>-<16 hex>`: the hash covers the chunk and every file's
 * key and etag, so the same chunk over the same files gives the same batch (a rerun is
 * recognised by the ledger and adds nothing), and a rewritten file gives a new batch (whose
 * rows already loaded are then skipped by key).
 */
export function backfillBatchId(
  chunk: BackfillChunk,
  files: readonly Pick<LandingFile, 'key' | 'etag'>[],
): string {
  const listed = files.map((file) => `${file.key}\t${file.etag}`).sort();
  const hash = createHash('sha256')
    .update(`${chunk.chunkId}\n${listed.join('\n')}`)
    .digest('hex')
    .slice(0, 16);
  const start = compactHour(hourIndexOf(chunk.startHour));
  const end = compactHour(hourIndexOf(chunk.endHour));
  return assertBatchId(`bf-${FEED_SHORT[chunk.feed]}-${start}-${end}-${hash}`);
}

/**
 * `bf-<8 hex of the run>-<ev|mi>-<first hour>-a<attempt>`: unique per run, chunk and attempt.
 * A new attempt needs a new id: the Data API returns the first statement again for a
 * ClientToken it has seen, which would hand back the failed transaction instead of a new one.
 */
export function backfillLoadId(chunk: BackfillChunk, attempt: number): string {
  return `bf-${shortHash(chunk.runId, 8)}-${FEED_SHORT[chunk.feed]}-${compactHour(hourIndexOf(chunk.startHour))}-a${attempt}`;
}

/**
 * Prepares one chunk: stages the landing files whose file-name hour is in the chunk as one
 * batch (unless an earlier attempt or run already staged the same files), writes the COPY
 * manifest of this attempt and returns the load transaction. Calling it again for the same
 * chunk and attempt returns the same statements.
 */
export async function prepareChunk(deps: PrepareDeps, event: PrepareEvent): Promise<PreparedChunk> {
  const { chunk, attempt } = parseEvent(event);
  const { settings } = deps;
  await pullChunkHours({ exportApi: deps.exportApi, landing: deps.landing, settings, chunk });
  const files = await discoverRange(
    deps.landing,
    settings,
    chunk.feed,
    dateOfHour(hourIndexOf(chunk.startHour)),
    dateOfHour(hourIndexOf(chunk.endHour)),
  );
  if (files.length === 0) {
    return {
      chunkId: chunk.chunkId,
      empty: true,
      files: 0,
      batchIds: [],
      loadId: null,
      statements: [],
      rowsStaged: 0,
      quarantined: 0,
      reused: false,
    };
  }

  const batchId = backfillBatchId(chunk, files);
  const manifestKey = backfillManifestKey(chunk.feed, batchId);
  const previous = await readManifest(deps.staging, manifestKey, {
    batchId,
    feed: chunk.feed,
    projectId: settings.projectId,
  });
  const reused = previous !== undefined && (await partsExist(deps.staging, previous));
  const manifest = reused
    ? previous
    : (
        await writeBatch({
          landing: deps.landing,
          staging: deps.staging,
          feed: chunk.feed,
          projectId: settings.projectId,
          files,
          batchId,
          source: 'backfill',
          clock: deps.clock,
          partTargetBytes: settings.partTargetBytes,
          manifestKey,
          ...(previous ? { createdAt: previous.batch.createdAt } : {}),
        })
      ).manifest;

  const loadId = backfillLoadId(chunk, attempt);
  const { statements } = await prepareLoadTransaction(deps.staging, {
    dialect: deps.dialect,
    target: {
      schema: settings.schema,
      projectId: settings.projectId,
      feed: chunk.feed,
      ...(settings.copyRoleArn ? { copyRoleArn: settings.copyRoleArn } : {}),
    },
    manifests: [manifest],
    loadId,
  });
  const quarantined = loadBatchOf(manifest).quarantined;
  return {
    chunkId: chunk.chunkId,
    empty: false,
    files: files.length,
    batchIds: [batchId],
    loadId,
    statements,
    rowsStaged: manifest.batch.rowCount,
    quarantined,
    reused,
  };
}

function parseEvent(event: PrepareEvent): PrepareEvent {
  const chunk = event?.chunk as Partial<BackfillChunk> | undefined;
  const valid =
    chunk !== undefined &&
    typeof chunk.runId === 'string' &&
    typeof chunk.chunkId === 'string' &&
    (FEEDS as readonly unknown[]).includes(chunk.feed) &&
    typeof chunk.startHour === 'string' &&
    typeof chunk.endHour === 'string' &&
    (chunk.source === undefined || (BACKFILL_SOURCES as readonly string[]).includes(chunk.source)) &&
    Number.isInteger(event.attempt) &&
    event.attempt >= 1;
  if (!valid) {
    throw new Error(
      `The prepare step needs {chunk: {runId, chunkId, feed, startHour, endHour}, attempt >= 1}, got ${JSON.stringify(event).slice(0, 300)}. Check the state machine definition.`,
    );
  }
  return event;
}

/**
 * The batch manifest an earlier attempt or run wrote, checked like the live loader checks
 * its manifests. One that is unreadable or not this batch's is staged again from the landing
 * files (the batch is a function of them), never loaded.
 */
async function readManifest(
  store: ObjectStore,
  key: string,
  expected: Parameters<typeof parseBatchManifestFor>[2],
): Promise<BatchManifest | undefined> {
  let bytes: Buffer;
  try {
    bytes = await store.getBytes(key);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return undefined;
    throw error;
  }
  try {
    return parseBatchManifestFor(bytes, key, expected);
  } catch {
    return undefined;
  }
}

/** Staged parts expire by lifecycle rule; a manifest whose parts are gone is staged again. */
async function partsExist(store: ObjectStore, manifest: BatchManifest): Promise<boolean> {
  for (const entry of manifest.entries) {
    const object = await store.head(store.keyOf(entry.url));
    if (object?.size !== entry.meta.content_length) return false;
  }
  return true;
}
