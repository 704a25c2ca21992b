import { gunzipSync } from 'node:zlib';
import { parseLandingKey } from '#shared/base/export-files.ts';
import type { PipelineSettings } from '#shared/config/pipeline.ts';
import type { BackfillReport } from '#shared/pipeline/backfill/summarize.ts';
import type { Feed } from '#shared/schema/columns.ts';
import { ensureWarehouseObjects } from '#shared/sql/ensure.ts';
import type { ObjectStore } from '#shared/storage/object-store.ts';
import { PostgresRunner } from '#shared/warehouse/postgres.ts';
import type { SqlRunner } from '#shared/warehouse/sql-runner.ts';
import { backfillMachine, type LocalBackfillOptions, runBackfillLocally } from '#test/support/local-sfn.ts';
import { createTestDatabase } from '#test/support/postgres.ts';

/** A fresh database with the export's tables, and a runner that reads COPY files from `store`. */
export async function warehouseFor(
  label: string,
  store: ObjectStore,
  settings: PipelineSettings,
): Promise<{ runner: PostgresRunner; url: string; close(): Promise<void> }> {
  const db = await createTestDatabase(label);
  const runner = new PostgresRunner({ connectionString: db.url, store });
  await ensureWarehouseObjects(runner, settings);
  return {
    runner,
    url: db.url,
    async close() {
      await runner.close();
      await db.drop();
    },
  };
}

export interface Stores {
  readonly landing: ObjectStore;
  readonly staging: ObjectStore;
}

/** Runs one execution of the synthesized state machine with short waits. */
export function backfill(
  stores: Stores,
  runner: SqlRunner,
  settings: PipelineSettings,
  input: unknown,
  extra: Partial<LocalBackfillOptions> = {},
) {
  return runBackfillLocally({
    machine: backfillMachine(settings),
    landing: stores.landing,
    staging: stores.staging,
    runner,
    settings,
    input,
    waitMs: 5,
    retryMs: 1,
    ...extra,
  });
}

export async function count(runner: SqlRunner, table: string): Promise<number> {
  const [row] = await runner.query<{ n: number }>(`SELECT count(*) AS n FROM amplitude.${table}`);
  return Number(row?.n);
}

/** Distinct keys and rows of a table: equal numbers mean no duplicates. */
export async function keyCounts(
  runner: SqlRunner,
  feed: Feed,
  projectId: string,
): Promise<{ rows: number; keys: number }> {
  const table = `amplitude.${feed}_${projectId}`;
  const key = feed === 'events' ? 'uuid' : "amplitude_id::text || ':' || merged_amplitude_id::text";
  const [row] = await runner.query<{ rows: number; keys: number }>(
    `SELECT count(*) AS rows, count(DISTINCT ${key}) AS keys FROM ${table}`,
  );
  return { rows: Number(row?.rows), keys: Number(row?.keys) };
}

/** What `keyCounts` gives for a table holding `count` keys, each exactly once. */
export function eachOnce(count: number): { rows: number; keys: number } {
  return { rows: count, keys: count };
}

export interface LandingLine {
  readonly feed: Feed;
  readonly day: string;
  readonly hour: number;
  /** `uuid` of an event, `amplitude_id:merged_amplitude_id` of a merged-ID row. */
  readonly key: string;
}

/** Every record of the landing folder, read independently of the pipeline's own code paths. */
export async function landingLines(landing: ObjectStore): Promise<LandingLine[]> {
  const lines: LandingLine[] = [];
  for await (const object of landing.list('')) {
    const file = parseLandingKey(object, '');
    if (!file) continue;
    const bytes = await landing.getBytes(object.key);
    const text = (file.gzip ? gunzipSync(bytes) : bytes).toString('utf8');
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const record = JSON.parse(line) as Record<string, unknown>;
      const key =
        file.feed === 'events'
          ? String(record.uuid)
          : `${String(record.amplitude_id)}:${String(record.merged_amplitude_id)}`;
      lines.push({ feed: file.feed, day: file.day, hour: file.hour, key });
    }
  }
  return lines;
}

/** Distinct keys of one feed among the lines that pass `where`. */
export function distinctKeys(
  lines: readonly LandingLine[],
  feed: Feed,
  where: (line: LandingLine) => boolean = () => true,
) {
  return new Set(lines.filter((line) => line.feed === feed && where(line)).map((line) => line.key)).size;
}

export function chunkOf(report: BackfillReport | undefined, chunkId: string) {
  const chunk = report?.chunks.find((candidate) => candidate.chunkId === chunkId);
  if (!chunk) throw new Error(`No chunk ${chunkId} in the report`);
  return chunk;
}

/** The staging store as Redshift's COPY role would see it with no read access below `prefix`. */
export function failingReads(store: ObjectStore, prefix: string): ObjectStore {
  const denied = (key: string) => {
    if (key.startsWith(prefix)) throw new Error(`S3ServiceException: Access Denied reading ${key}`);
  };
  return {
    root: store.root,
    list: (listPrefix, options) => store.list(listPrefix, options),
    head: (key) => store.head(key),
    getStream: async (key) => {
      denied(key);
      return await store.getStream(key);
    },
    getBytes: async (key) => {
      denied(key);
      return await store.getBytes(key);
    },
    put: (key, body, options) => store.put(key, body, options),
    copy: (from, to) => store.copy(from, to),
    delete: (key, options) => store.delete(key, options),
    url: (key) => store.url(key),
    keyOf: (url) => store.keyOf(url),
  };
}
