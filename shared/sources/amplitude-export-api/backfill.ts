import { BackfillInputError } from '../../base/hours.ts';
import type { Feed } from '../../schema/columns.ts';
import type { ObjectStore } from '../../storage/object-store.ts';
import type { ExportApi } from './client.ts';
import { type ExportApiPullSettings, type PullReport, pullHours } from './pull.ts';

/**
 * Where a backfill reads its hours: `landing` (what is in the landing bucket, the default),
 * or `export-api` (each chunk first pulls its hours from Amplitude's Export API into landing).
 */
export const BACKFILL_SOURCES = ['landing', 'export-api'] as const;
export type BackfillSource = (typeof BACKFILL_SOURCES)[number];

/** The execution input's `source`; absent means `landing`. */
export function parseBackfillSource(value: unknown): BackfillSource {
  if (value === undefined || value === null) return 'landing';
  if (typeof value === 'string' && (BACKFILL_SOURCES as readonly string[]).includes(value)) {
    return value as BackfillSource;
  }
  throw new BackfillInputError(
    `source must be ${BACKFILL_SOURCES.map((source) => JSON.stringify(source)).join(' or ')} (pull the hours from Amplitude's Export API first), got ${JSON.stringify(value)?.slice(0, 80) ?? 'nothing'}.`,
  );
}

/** The fields of a backfill chunk this step reads. */
export interface ChunkToPull {
  readonly chunkId: string;
  readonly feed: Feed;
  /** `YYYY-MM-DDTHH`, included. */
  readonly startHour: string;
  readonly endHour: string;
  /** @default 'landing' */
  readonly source?: BackfillSource;
}

export interface PullChunkInput {
  /** The deployment's Export API client; `undefined` when the connector is off. */
  readonly exportApi: ExportApi | undefined;
  readonly landing: ObjectStore;
  readonly settings: ExportApiPullSettings;
  readonly chunk: ChunkToPull;
}

/** Thrown for a chunk that asks for the Export API in a deployment without the connector. */
export class ExportApiNotConfiguredError extends Error {
  override readonly name = 'ExportApiNotConfiguredError';
}

/**
 * What a backfill's prepare step calls first: for an `export-api` chunk of events, pulls the
 * chunk's hours into landing (replacing what an earlier pull wrote) so the chunk is then
 * staged from landing as usual. Merged IDs are not in the Export API, so their chunks read
 * landing as they are. Returns `undefined` when nothing was pulled.
 */
export async function pullChunkHours(input: PullChunkInput): Promise<PullReport | undefined> {
  const { chunk } = input;
  if ((chunk.source ?? 'landing') !== 'export-api' || chunk.feed !== 'events') return undefined;
  if (!input.exportApi) {
    throw new ExportApiNotConfiguredError(
      `Chunk ${chunk.chunkId} asks for "source": "export-api", but this deployment has no Export API connector. ` +
        'Deploy with -c exportApiSecretArn=<ARN of a secret {"apiKey", "secretKey"}> (and -c exportApiRegion=eu for EU projects), ' +
        'or start the backfill without "source" to load what is already in landing.',
    );
  }
  return pullHours({
    api: input.exportApi,
    landing: input.landing,
    settings: input.settings,
    startHour: chunk.startHour,
    endHour: chunk.endHour,
  });
}
