import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { manifestKey, quarantineKey, stagingPrefix } from '#shared/base/staging-keys.ts';
import type { PipelineSettings } from '#shared/config/pipeline.ts';
import { type BatchManifest, type BatchSource, entriesFromParts } from '#shared/format/manifest.ts';
import { PartWriter } from '#shared/format/parts.ts';
import { TimeTally } from '#shared/format/time-ranges.ts';
import { columnsOf, type Feed, timeColumnOf } from '#shared/schema/columns.ts';
import { ensureWarehouseObjects } from '#shared/sql/ensure.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import type { ObjectStore } from '#shared/storage/object-store.ts';
import { PostgresRunner } from '#shared/warehouse/postgres.ts';
import type { SqlRunner } from '#shared/warehouse/sql-runner.ts';
import { createTestDatabase } from '#test/support/postgres.ts';

export const PROJECT_ID = '777';

export type Row = Readonly<Record<string, string | null>>;

/** An event row: the required columns, plus whatever the test sets. */
export function eventRow(uuid: string, overrides: Row = {}): Row {
  return {
    uuid,
    event_type: 'open_app',
    amplitude_id: '1001',
    event_time: '2024-03-01 10:00:00.000000',
    server_upload_time: '2024-03-01 10:00:05.000000',
    ...overrides,
  };
}

export function mergeRow(amplitudeId: string, mergedId: string, overrides: Row = {}): Row {
  return {
    amplitude_id: amplitudeId,
    merged_amplitude_id: mergedId,
    merge_event_time: '2024-03-01 09:00:00.000000',
    merge_server_time: '2024-03-01 09:00:01.000000',
    ...overrides,
  };
}

export interface StageBatchInput {
  readonly batchId: string;
  readonly feed: Feed;
  readonly rows: readonly Row[];
  readonly source?: BatchSource;
  readonly duplicatesInBatch?: number;
  readonly quarantined?: Readonly<Record<string, number>>;
  /** Small targets split a batch into several parts. @default 1 MiB */
  readonly partTargetBytes?: number;
  /** Replace the parts with one gzip file of this text (a batch COPY cannot read). */
  readonly corruptCsv?: string;
  /** ISO time the batch's oldest landing file landed. @default - unknown */
  readonly oldestLandedAt?: string;
  /**
   * Which time fields the manifest has: the batcher's today (`ranges`: time ranges, hours and
   * min/max), or those of older batchers (`hours`: hours and min/max; `min-max` only).
   * @default 'ranges'
   */
  readonly timeFields?: 'ranges' | 'hours' | 'min-max';
}

function uploadTimeColumn(feed: Feed): string {
  return feed === 'events' ? 'server_upload_time' : 'merge_server_time';
}

const range = (values: readonly (string | null | undefined)[]) => {
  const present = values.filter((value): value is string => typeof value === 'string').sort();
  return present.length ? { min: present[0]!, max: present.at(-1)! } : undefined;
};

/**
 * Stages a batch the way the batcher does: gzip CSV parts (schema columns + batch id) and a
 * pending manifest whose figures add up.
 */
export async function stageBatch(store: ObjectStore, input: StageBatchInput): Promise<BatchManifest> {
  const { batchId, feed, rows } = input;
  const prefix = stagingPrefix(feed, '2024-03-01', batchId);
  let entries: BatchManifest['entries'];
  if (input.corruptCsv !== undefined) {
    const body = gzipSync(Buffer.from(input.corruptCsv, 'utf8'));
    const key = `${prefix}part-00000.csv.gz`;
    await store.put(key, body);
    entries = entriesFromParts([{ url: store.url(key), contentLength: body.length }]);
  } else {
    const writer = new PartWriter({
      store,
      prefix,
      partTargetBytes: input.partTargetBytes ?? 1024 * 1024,
      gzipLevel: 1,
    });
    for (const row of rows) {
      await writer.writeRow([...columnsOf(feed).map((column) => row[column.name] ?? null), batchId]);
    }
    entries = entriesFromParts(await writer.close());
  }
  const quarantined = input.quarantined ?? {};
  const quarantinedTotal = Object.values(quarantined).reduce((sum, n) => sum + n, 0);
  const duplicatesInBatch = input.duplicatesInBatch ?? 0;
  // As the batcher records them, with its own tally.
  const tally = new TimeTally();
  for (const row of rows) {
    const time = row[timeColumnOf(feed)];
    if (typeof time === 'string') tally.add(time);
  }
  const timeFields = input.timeFields ?? 'ranges';
  const timeRanges = tally.isEmpty ? undefined : tally.ranges();
  const uploads = range(rows.map((row) => row[uploadTimeColumn(feed)]));
  const manifest: BatchManifest = {
    entries,
    batch: {
      batchId,
      feed,
      projectId: PROJECT_ID,
      source: input.source ?? 'live',
      createdAt: '2024-03-01T10:05:00.000Z',
      sourceKeys: [`landing/${batchId}.json.gz`],
      lines: rows.length + duplicatesInBatch + quarantinedTotal,
      rowCount: rows.length,
      duplicatesInBatch,
      quarantined,
      ...(quarantinedTotal > 0 ? { quarantineKey: quarantineKey(feed, batchId) } : {}),
      adjusted: {},
      bytesIn: 1000,
      bytesOut: entries.reduce((sum, entry) => sum + entry.meta.content_length, 0),
      ...(timeRanges ? { minTime: timeRanges[0]!.min, maxTime: timeRanges.at(-1)!.max } : {}),
      ...(timeRanges && timeFields !== 'min-max' ? { hours: tally.hours() } : {}),
      ...(timeRanges && timeFields === 'ranges' ? { timeRanges } : {}),
      ...(uploads ? { minUploadTime: uploads.min, maxUploadTime: uploads.max } : {}),
      ...(input.oldestLandedAt ? { oldestLandedAt: input.oldestLandedAt } : {}),
    },
  };
  await store.put(manifestKey('pending', feed, batchId), JSON.stringify(manifest));
  return manifest;
}

export function settingsFor(schema: string, overrides: Partial<PipelineSettings> = {}): PipelineSettings {
  return {
    projectId: PROJECT_ID,
    feeds: ['events', 'merge_ids'],
    schema,
    landingPrefix: '',
    lookbackDays: 2,
    partTargetBytes: 1024 * 1024,
    maxBatchesPerLoad: 30,
    maxLoadAttempts: 3,
    ...overrides,
  };
}

export async function tempStoreDir(): Promise<{
  dir: string;
  store: FileSystemObjectStore;
  remove: () => Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'loader-test-'));
  return {
    dir,
    store: new FileSystemObjectStore(dir),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

export async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of store.list(prefix)) keys.push(object.key);
  return keys;
}

/** Reads the warehouse directly (not through the runner under test). */
export async function selectRows(url: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

/** The ledger without the columns that differ between runs (load id, load time). */
export async function ledgerFigures(url: string, schema: string): Promise<Record<string, unknown>[]> {
  return await selectRows(
    url,
    `SELECT batch_id, feed, rows_loaded::int AS rows, duplicates_skipped::int AS duplicates, quarantined::int AS quarantined,
            source, min_time::text AS min_time, max_time::text AS max_time
     FROM "${schema}".export_loads ORDER BY batch_id`,
  );
}

export async function eventUuids(url: string, schema: string): Promise<string[]> {
  const rows = await selectRows(url, `SELECT uuid FROM "${schema}".events_${PROJECT_ID} ORDER BY uuid`);
  return rows.map((row) => String(row.uuid));
}

export async function mergePairs(url: string, schema: string): Promise<string[]> {
  const rows = await selectRows(
    url,
    `SELECT amplitude_id || '>' || merged_amplitude_id AS pair FROM "${schema}".merge_ids_${PROJECT_ID} ORDER BY 1`,
  );
  return rows.map((row) => String(row.pair));
}

/** Raised by `Steps` to stand for the process dying at that point. */
export class InjectedCrash extends Error {
  override readonly name = 'InjectedCrash';
}

/**
 * Counts every call the loader makes to the store and the warehouse, and can crash at the
 * n-th one: before it runs, or right after it took effect (a commit whose answer is lost).
 * After the crash every call fails too, as nothing runs in a dead process.
 */
export class Steps {
  readonly calls: string[] = [];
  #dead = false;
  constructor(
    private readonly crashAt?: number,
    private readonly when: 'before' | 'after' = 'before',
  ) {}

  get crashed(): boolean {
    return this.#dead;
  }

  async step<T>(name: string, call: () => Promise<T>): Promise<T> {
    if (this.#dead) throw new InjectedCrash(`${name} after the crash`);
    this.calls.push(name);
    const crash = this.calls.length === this.crashAt;
    if (crash && this.when === 'before') {
      this.#dead = true;
      throw new InjectedCrash(`crash before ${name}`);
    }
    const result = await call();
    if (crash) {
      this.#dead = true;
      throw new InjectedCrash(`crash after ${name}`);
    }
    return result;
  }

  count(prefix: string): number {
    return this.calls.filter((name) => name.startsWith(prefix)).length;
  }
}

export function instrumentStore(store: ObjectStore, steps: Steps): ObjectStore {
  return {
    root: store.root,
    url: (key) => store.url(key),
    keyOf: (url) => store.keyOf(url),
    list(prefix, options) {
      return (async function* () {
        yield* await steps.step(`store.list ${prefix}`, async () => {
          const all = [];
          for await (const object of store.list(prefix, options)) all.push(object);
          return all;
        });
      })();
    },
    head: (key) => steps.step(`store.head ${key}`, () => store.head(key)),
    getStream: (key) => steps.step(`store.getStream ${key}`, () => store.getStream(key)),
    getBytes: (key) => steps.step(`store.getBytes ${key}`, () => store.getBytes(key)),
    put: (key, body, options) => steps.step(`store.put ${key}`, () => store.put(key, body, options)),
    copy: (from, to) => steps.step(`store.copy ${from}`, () => store.copy(from, to)),
    delete: (key, options) => steps.step(`store.delete ${key}`, () => store.delete(key, options)),
  };
}

export function instrumentRunner(runner: SqlRunner, steps: Steps): SqlRunner {
  return {
    dialect: runner.dialect,
    transaction: (statements, options) =>
      steps.step('runner.transaction', () => runner.transaction(statements, options)),
    startTransaction: (statements, options) =>
      steps.step('runner.startTransaction', () => runner.startTransaction(statements, options)),
    describe: (statementId) => steps.step('runner.describe', () => runner.describe(statementId)),
    loadErrorDetails: (failed) =>
      steps.step('runner.loadErrorDetails', () => runner.loadErrorDetails(failed)),
    query: <T extends Record<string, unknown>>(sql: string) =>
      steps.step('runner.query', () => runner.query<T>(sql)),
    close: () => runner.close(),
  };
}

/** The local warehouse runner as the local pipeline builds it. */
export function newRunner(databaseUrl: string, store: ObjectStore): PostgresRunner {
  return new PostgresRunner({ connectionString: databaseUrl, store });
}

let worlds = 0;

/** A fresh schema with the export's tables, a fresh staging folder and a runner on both. */
export async function makeWorld(databaseUrl: string, overrides: Partial<PipelineSettings> = {}) {
  worlds++;
  const schema = `loader_${process.pid}_${worlds}`;
  const { dir, store, remove } = await tempStoreDir();
  const runner = newRunner(databaseUrl, store);
  const settings = settingsFor(schema, overrides);
  await ensureWarehouseObjects(runner, settings);
  return {
    schema,
    dir,
    store,
    runner,
    settings,
    async close() {
      await runner.close();
      await remove();
    },
  };
}

/**
 * For a test file: a database of its own (created before its tests, dropped after them), and
 * `world()`s in it that are closed after the test that made them, with anything handed to
 * `afterThisTest`.
 */
export function useWorlds(databaseName: string) {
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  const cleanups: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    db = await createTestDatabase(databaseName);
  });
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });
  afterAll(async () => {
    await db?.drop();
  });
  const database = {
    get url(): string {
      if (!db) throw new Error(`The test database ${databaseName} is used before its beforeAll ran.`);
      return db.url;
    },
    afterThisTest(cleanup: () => Promise<void>): void {
      cleanups.push(cleanup);
    },
    async world(overrides: Partial<PipelineSettings> = {}) {
      const created = await makeWorld(database.url, overrides);
      cleanups.push(() => created.close());
      return created;
    },
  };
  return database;
}
