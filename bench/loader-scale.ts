/**
 * Load time against the size of the target table: the case `npm run bench -- loader` adds for
 * issue 13. Redshift skips the blocks of a table whose zone maps (min/max per 1 MB block of the
 * sort key) lie outside a query's range; PostgreSQL's nearest thing is a BRIN index, which keeps
 * min/max per range of pages. So the target here has a BRIN index on its time column instead of
 * the key index the local runner creates, and rows in time order, as a table loaded over time
 * has them. Then the same staged batch is loaded against a target of BENCH_LOADER_SCALE_ROWS
 * rows (default 1,000,000 and 10,000,000) spread over 30 days, with and without late rows (a
 * second file of BENCH_LOADER_SCALE_LATE events 10 days older than the rest), in rounds that
 * alternate between the tables. When a load reads
 * only the hours its rows belong to, its time does not depend on the table's size: the goal is
 * a ratio (largest / smallest table) of at most 1.3.
 *
 * The tables are filled with generate_series in SQL (narrow rows: the required columns and a
 * device id), not through the pipeline, so the 10M case takes about a minute to build on a
 * 2-core machine. Between rounds the loaded rows and their ledger rows are deleted and the
 * table vacuumed, so every round loads into the same table.
 */

import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import pg from 'pg';
import { eventFileName } from '#shared/base/export-files.ts';
import { manifestKey } from '#shared/base/staging-keys.ts';
import { type PipelineSettings, pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { parseBatchManifest } from '#shared/format/manifest.ts';
import { batchIdFor, defaultWorkerCount, writeBatch } from '#shared/pipeline/batcher/batcher.ts';
import { prepareLoadTransaction } from '#shared/pipeline/loader/load-transaction.ts';
import { runLoader } from '#shared/pipeline/loader/loader.ts';
import type { LoadRecord } from '#shared/pipeline/loader/summary.ts';
import { writeEventStream } from '#shared/sample/generate.ts';
import { tableName } from '#shared/schema/columns.ts';
import { ledgerTable, targetTable } from '#shared/sql/ddl.ts';
import { ensureWarehouseObjects } from '#shared/sql/ensure.ts';
import { quoteIdent } from '#shared/sql/identifiers.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import { copyFromManifest } from '#shared/warehouse/manifest-copy.ts';
import { PostgresRunner } from '#shared/warehouse/postgres.ts';
import { isCopyStatement, parseRedshiftCopy } from '#shared/warehouse/redshift-copy.ts';
import { round2 } from './benchmark.ts';

const PROJECT_ID = '187520';
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** The batch's file is for this hour; its events happened up to a few hours before. */
const BATCH_DAY = '2024-05-31';
const BATCH_HOUR = 12;
const LATE_BY_MS = 10 * DAY_MS;
const TABLE_DAYS = 30;
const CLOCK = () => new Date('2024-05-31T14:00:00Z');

interface Variant {
  readonly name: 'on-time' | 'late';
  /** Pending manifests of the variant's batch, by batch id. */
  readonly manifests: ReadonlyMap<string, Buffer>;
  readonly rows: number;
  /** Distinct hours of the batch's rows (event_time). */
  readonly hours: number;
}

export interface ScaleOptions {
  readonly admin: pg.Client;
  readonly url: string;
  readonly dir: string;
  readonly rounds: number;
}

/** One JSON record per (table size, variant), then one ratio record per variant. */
export async function* scaleCases(options: ScaleOptions): AsyncGenerator<Record<string, unknown>> {
  const sizes = (process.env.BENCH_LOADER_SCALE_ROWS ?? '1000000,10000000').split(',').map(Number);
  if (sizes.some((size) => !Number.isSafeInteger(size) || size < 1000) || sizes.length < 2) {
    throw new Error(
      `BENCH_LOADER_SCALE_ROWS must list at least two table sizes of 1000 rows or more, got ${process.env.BENCH_LOADER_SCALE_ROWS}.`,
    );
  }
  const batchEvents = Number(process.env.BENCH_LOADER_SCALE_BATCH ?? '20000');
  const lateEvents = Number(process.env.BENCH_LOADER_SCALE_LATE ?? '20');
  const { admin, url, rounds } = options;
  const store = new FileSystemObjectStore(join(options.dir, 'scale-staging'));
  const settings = pipelineSettingsFrom({ PROJECT_ID, FEEDS: 'events', WAREHOUSE_SCHEMA: 'bench_scale' });
  process.stderr.write(`  scale: staging a batch of ${batchEvents} events (+${lateEvents} late) ...\n`);
  const variants = await stageVariants(options.dir, store, settings, batchEvents, lateEvents);

  // Every table is built first, each in its own schema, and the rounds alternate between them
  // (smaller first in odd rounds, larger first in even ones): on a shared machine the load
  // around the bench changes by the minute, and a ratio of times taken minutes apart would
  // measure that instead of the table size.
  const targets: { size: number; settings: PipelineSettings; buildMs: number }[] = [];
  for (const [index, size] of sizes.entries()) {
    process.stderr.write(`  scale: building a target of ${size} rows over ${TABLE_DAYS} days ...\n`);
    const ofSize = pipelineSettingsFrom({
      PROJECT_ID,
      FEEDS: 'events',
      WAREHOUSE_SCHEMA: `${settings.schema}_${index}`,
    });
    targets.push({ size, settings: ofSize, buildMs: await buildTarget(admin, url, store, ofSize, size) });
  }
  const bySize = new Map<string, Map<number, number>>();
  for (const variant of variants) {
    const runs = new Map(targets.map((target) => [target.size, [] as number[]]));
    const reads = new Map<number, Pick<LoadRecord, 'hoursRead' | 'secondsRead'>>();
    for (let round = 1; round <= rounds; round++) {
      for (const target of round % 2 === 1 ? targets : [...targets].reverse()) {
        process.stderr.write(`  scale: ${target.size} rows, ${variant.name}, round ${round}/${rounds} ...\n`);
        const load = await timedLoad(admin, url, store, target.settings, variant);
        runs.get(target.size)!.push(load.ms);
        reads.set(target.size, load.read);
      }
    }
    for (const target of targets) {
      if (process.env.BENCH_LOADER_SCALE_EXPLAIN) {
        yield await explainLoad(admin, url, store, target.settings, variant, target.size);
      }
      const ofTarget = runs.get(target.size)!;
      const best = Math.min(...ofTarget);
      const ofVariant = bySize.get(variant.name) ?? new Map<number, number>();
      ofVariant.set(target.size, best);
      bySize.set(variant.name, ofVariant);
      const read = reads.get(target.size)!;
      yield {
        name: 'loader-scale',
        variant: variant.name,
        targetRows: target.size,
        targetDays: TABLE_DAYS,
        index: 'BRIN (event_time)',
        batchRows: variant.rows,
        batchHours: variant.hours,
        // What the de-duplication read of the target: hours touched, seconds of time covered.
        hoursRead: read.hoursRead,
        secondsRead: read.secondsRead,
        bestMs: Math.round(best),
        runsMs: ofTarget.map(Math.round),
        buildTargetMs: Math.round(target.buildMs),
      };
    }
  }
  const smallest = Math.min(...sizes);
  const largest = Math.max(...sizes);
  for (const [variant, times] of bySize) {
    yield {
      name: 'loader-scale-ratio',
      variant,
      sizes: [smallest, largest],
      ratio: round2(times.get(largest)! / times.get(smallest)!),
      goal: '<= 1.3',
    };
  }
  for (const target of targets) {
    await admin.query(`DROP SCHEMA IF EXISTS ${quoteIdent(target.settings.schema)} CASCADE`);
  }
  await rm(join(options.dir, 'scale-staging'), { recursive: true, force: true });
}

/**
 * The on-time batch is one landing file of generated events for BATCH_HOUR; the late batch is
 * the same file plus a second one with `lateEvents` of its events (new uuids) 10 days older.
 */
async function stageVariants(
  dir: string,
  store: FileSystemObjectStore,
  settings: PipelineSettings,
  batchEvents: number,
  lateEvents: number,
): Promise<Variant[]> {
  const landingDir = join(dir, 'scale-landing');
  const landing = new FileSystemObjectStore(landingDir);
  // writeEventStream numbers files by hour from `start`; take its first file as BATCH_HOUR's.
  const written = await writeEventStream(landingDir, {
    events: batchEvents,
    eventsPerFile: batchEvents,
    start: BATCH_DAY,
    seed: 7,
    duplicateRate: 0,
  });
  const generatedKey = written.keys[0]!;
  const onTimeKey = eventFileName(PROJECT_ID, BATCH_DAY, BATCH_HOUR, 0);
  const lines = gunzipSync(await readFile(join(landingDir, generatedKey)))
    .toString('utf8')
    .split('\n')
    .filter((line) => line !== '');
  await rm(join(landingDir, generatedKey));
  const shifted = lines.map((line) => shiftEvent(line, BATCH_HOUR * HOUR_MS, ''));
  await landing.put(onTimeKey, gzipSync(`${shifted.join('\n')}\n`));
  const lateKey = eventFileName(PROJECT_ID, BATCH_DAY, BATCH_HOUR, 1);
  const late = lines
    .filter((line) => (JSON.parse(line) as { event_time?: unknown }).event_time)
    .slice(0, lateEvents)
    .map((line) => shiftEvent(line, BATCH_HOUR * HOUR_MS - LATE_BY_MS, '-late'));
  await landing.put(lateKey, gzipSync(`${late.join('\n')}\n`));

  const variants: Variant[] = [];
  for (const [name, keys] of [
    ['on-time', [onTimeKey]],
    ['late', [onTimeKey, lateKey]],
  ] as const) {
    const files = await Promise.all(
      keys.map(async (key) => ({ key, day: BATCH_DAY, etag: (await landing.head(key))!.etag })),
    );
    const batchId = batchIdFor('events', files);
    const batch = await writeBatch({
      landing,
      staging: store,
      feed: 'events',
      projectId: PROJECT_ID,
      files,
      batchId,
      source: 'live',
      clock: CLOCK,
      partTargetBytes: settings.partTargetBytes,
      manifestKey: `bench/scale/${batchId}.json`,
      workers: defaultWorkerCount(),
    });
    const hours = new Set<string>();
    for (const line of name === 'late' ? [...shifted, ...late] : shifted) {
      const time = (JSON.parse(line) as { event_time?: string }).event_time;
      if (time) hours.add(time.slice(0, 13));
    }
    variants.push({
      name,
      manifests: new Map([[batchId, await store.getBytes(batch.manifestKey)]]),
      rows: parseBatchManifest(await store.getBytes(batch.manifestKey)).batch.rowCount,
      hours: hours.size,
    });
  }
  return variants;
}

/** Moves an event's times by `offsetMs` and gives it a new uuid when `suffix` is set. */
function shiftEvent(line: string, offsetMs: number, suffix: string): string {
  const event = JSON.parse(line) as Record<string, unknown>;
  for (const field of [
    'event_time',
    'client_event_time',
    'client_upload_time',
    'server_received_time',
    'server_upload_time',
    'processed_time',
  ]) {
    const value = event[field];
    if (typeof value !== 'string') continue;
    const ms = Date.parse(`${value.slice(0, 10)}T${value.slice(11, 19)}Z`) + offsetMs;
    event[field] = `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}${value.slice(19)}`;
  }
  if (suffix) event.uuid = `${String(event.uuid)}${suffix}`;
  return JSON.stringify(event);
}

/**
 * A fresh target of `rows` rows in time order over the TABLE_DAYS days up to the batch's hour,
 * a BRIN index on event_time instead of the key index, and an empty ledger.
 */
async function buildTarget(
  admin: pg.Client,
  url: string,
  store: FileSystemObjectStore,
  settings: PipelineSettings,
  rows: number,
): Promise<number> {
  const started = performance.now();
  await admin.query(`DROP SCHEMA IF EXISTS ${quoteIdent(settings.schema)} CASCADE`);
  const runner = new PostgresRunner({ connectionString: url, store });
  try {
    await ensureWarehouseObjects(runner, {
      schema: settings.schema,
      projectId: PROJECT_ID,
      feeds: ['events'],
    });
  } finally {
    await runner.close();
  }
  const table = targetTable(settings.schema, 'events', PROJECT_ID);
  const keyIndex = quoteIdent(`${tableName('events', PROJECT_ID)}_key_idx`);
  await admin.query(`DROP INDEX ${quoteIdent(settings.schema)}.${keyIndex}`);
  const end = Date.parse(`${BATCH_DAY}T00:00:00Z`) + (BATCH_HOUR + 1) * HOUR_MS;
  const start = new Date(end - TABLE_DAYS * DAY_MS).toISOString().slice(0, 19).replace('T', ' ');
  const stepMicros = Math.floor((TABLE_DAYS * DAY_MS * 1000) / rows);
  await admin.query(
    `INSERT INTO ${table} (uuid, event_type, amplitude_id, event_time, server_upload_time, device_id)
     SELECT 'fill-' || i, 'fill_event', i % 100000,
       TIMESTAMP '${start}' + i * INTERVAL '${stepMicros} microseconds',
       TIMESTAMP '${start}' + i * INTERVAL '${stepMicros} microseconds' + INTERVAL '1 minute',
       md5(i::text)
     FROM generate_series(0, ${rows - 1}) AS i`,
  );
  await admin.query(
    `CREATE INDEX ${quoteIdent(`${tableName('events', PROJECT_ID)}_time_brin`)} ON ${table} USING brin (event_time)`,
  );
  await admin.query(`VACUUM ANALYZE ${table}`);
  return performance.now() - started;
}

async function timedLoad(
  admin: pg.Client,
  url: string,
  store: FileSystemObjectStore,
  settings: PipelineSettings,
  variant: Variant,
): Promise<{ ms: number; read: Pick<LoadRecord, 'hoursRead' | 'secondsRead'> }> {
  for (const [batchId, bytes] of variant.manifests) {
    await store.delete(manifestKey('loaded', 'events', batchId));
    await store.put(manifestKey('pending', 'events', batchId), bytes);
  }
  const table = targetTable(settings.schema, 'events', PROJECT_ID);
  const runner = new PostgresRunner({ connectionString: url, store });
  try {
    await admin.query('CHECKPOINT');
    const started = performance.now();
    const summary = await runLoader({ store, runner, settings, clock: () => new Date() });
    const ms = performance.now() - started;
    if (summary.errors.length > 0) {
      throw new Error(`scale load failed: ${summary.errors.map((error) => error.message).join('; ')}`);
    }
    const loaded = summary.feeds[0]!.rowsLoaded;
    if (loaded !== variant.rows) {
      throw new Error(`the ${variant.name} load added ${loaded} rows, the batch stages ${variant.rows}`);
    }
    const { hoursRead, secondsRead } = summary.feeds[0]!.loads[0]!;
    return { ms, read: { hoursRead, secondsRead } };
  } finally {
    await runner.close();
    // The next round loads the same rows into the same table again.
    await admin.query(`DELETE FROM ${table} WHERE uuid NOT LIKE 'fill-%'`);
    await admin.query(`DELETE FROM ${ledgerTable(settings.schema)}`);
    await admin.query(`VACUUM ${table}`);
  }
}

/**
 * BENCH_LOADER_SCALE_EXPLAIN=1: the variant's load transaction run statement by statement on
 * one connection, each timed, the de-duplication DELETE with EXPLAIN ANALYZE (plan on stderr),
 * then rolled back: to see which statement grows with the table.
 */
async function explainLoad(
  admin: pg.Client,
  url: string,
  store: FileSystemObjectStore,
  settings: PipelineSettings,
  variant: Variant,
  size: number,
): Promise<Record<string, unknown>> {
  // The loader's own transaction for this batch (its COPY manifest written as the loader writes it).
  const { statements } = await prepareLoadTransaction(store, {
    dialect: 'postgres',
    target: { schema: settings.schema, projectId: PROJECT_ID, feed: 'events' },
    manifests: [...variant.manifests.values()].map((bytes) => parseBatchManifest(bytes)),
    loadId: `bench-scale-${variant.name}`,
  });
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const client = await pool.connect();
  const timings: Array<{ statement: string; ms: number }> = [];
  let targetRowsRead: number | undefined;
  try {
    await admin.query('CHECKPOINT');
    await client.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
    for (const sql of statements) {
      const label = sql.split('\n')[0]!.slice(0, 70);
      const started = performance.now();
      if (isCopyStatement(sql)) await copyFromManifest(client, store, parseRedshiftCopy(sql));
      else if (sql.startsWith('DELETE FROM "amplitude_export_stage_unique"')) {
        const plan = await client.query(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`);
        const lines: string[] = plan.rows.map((row: Record<string, string>) => row['QUERY PLAN'] ?? '');
        process.stderr.write(`\n-- ${size} rows, ${variant.name}\n${lines.join('\n')}\n`);
        // The rows the scan of the target returned: what the time restriction let through.
        const scan = lines.find((line) => / Scan on events_/.test(line));
        const rows = scan === undefined ? undefined : /actual time=[^)]*rows=(\d+)/.exec(scan)?.[1];
        if (rows !== undefined) targetRowsRead = Number(rows);
      } else await client.query(sql);
      timings.push({ statement: label, ms: Math.round(performance.now() - started) });
    }
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
    await pool.end();
  }
  return {
    name: 'loader-scale-profile',
    variant: variant.name,
    targetRows: size,
    dedupTargetRowsRead: targetRowsRead,
    statements: timings,
  };
}
