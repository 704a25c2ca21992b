/**
 * Loader throughput on an embedded PostgreSQL against a plain COPY of the same staged rows.
 *
 * Prepared once (not timed): BENCH_LOADER_EVENTS generated events (default 200000) in hourly
 * landing files, one batcher run (BENCH_LOADER_FILES_PER_BATCH files per batch, default 2, so
 * ~10 batches), and a second staging of the same files under new batch ids (the replay).
 * Then, BENCH_LOADER_ROUNDS times (default 3), each on a freshly dropped and recreated schema
 * and after a CHECKPOINT, so no run pays for the previous one's dirty pages:
 *   baseline:   per staged part, gunzip -> `COPY t (...) FROM STDIN` into an empty table with
 *               the target's columns + _batch_id, one connection, autocommit;
 *   loader:     runLoader of the pending batches into the empty target table;
 *   duplicates: the target holds the batches already (loaded untimed), runLoader of the
 *               replay: every staged row is a duplicate of a row in the table.
 * Best and median of the rounds are reported. BENCH_LOADER_PROFILE=1 adds one load of each
 * kind with its statements run one by one and timed (=explain: with EXPLAIN ANALYZE plans on
 * stderr), to see where a load spends its time. BENCH_LOADER_WORK_MEM (e.g. 256MB) sets the
 * benchmark database's work_mem, to see what the sort and hash steps gain from memory.
 * Afterwards the load time against the target's size (`./loader-scale.ts`); BENCH_LOADER_SCALE
 * =off skips it, =only runs nothing else.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { type LocalPostgres, startLocalPostgres } from '#cli/local/embedded-postgres.ts';
import { manifestKey } from '#shared/base/staging-keys.ts';
import { type PipelineSettings, pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { POSTGRES_COPY_OPTIONS } from '#shared/format/csv.ts';
import { type BatchManifest, parseBatchManifest } from '#shared/format/manifest.ts';
import { defaultWorkerCount, runBatcher, writeBatch } from '#shared/pipeline/batcher/batcher.ts';
import { prepareLoadTransaction } from '#shared/pipeline/loader/load-transaction.ts';
import { runLoader } from '#shared/pipeline/loader/loader.ts';
import type { FeedLoadSummary } from '#shared/pipeline/loader/summary.ts';
import { writeEventStream } from '#shared/sample/generate.ts';
import { BATCH_ID_COLUMN, columnsOf, tableName } from '#shared/schema/columns.ts';
import { createTargetTableSql, targetTable } from '#shared/sql/ddl.ts';
import { ensureWarehouseObjects } from '#shared/sql/ensure.ts';
import { quoteIdent } from '#shared/sql/identifiers.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import { copyFromManifest } from '#shared/warehouse/manifest-copy.ts';
import { PostgresRunner } from '#shared/warehouse/postgres.ts';
import { isCopyStatement, parseRedshiftCopy } from '#shared/warehouse/redshift-copy.ts';
import { type Benchmark, round2 } from './benchmark.ts';
import { scaleCases } from './loader-scale.ts';

const EVENTS_PER_FILE = 10_000;
const PROJECT_ID = '187520';
const BASELINE_SCHEMA = 'bench_baseline';
const DATABASE = 'bench_loader';
// The generated files start on 2024-05-01; a month's look-back covers any size we generate.
const BATCHER_CLOCK = () => new Date('2024-05-20T00:00:00Z');

interface Staged {
  readonly store: FileSystemObjectStore;
  readonly settings: PipelineSettings;
  /** Pending manifests as the batcher wrote them, restored before every load. */
  readonly originals: ReadonlyMap<string, Buffer>;
  /** The same landing files staged again under other batch ids. */
  readonly replays: ReadonlyMap<string, Buffer>;
  readonly stagedRows: number;
  readonly replayRows: number;
  readonly parts: number;
}

interface Run {
  readonly ms: number;
  readonly rowsPerSec: number;
}

export const benchmark: Benchmark = {
  name: 'loader',
  description:
    'runLoader rows/sec into embedded PostgreSQL (new rows; all duplicates) vs plain COPY FROM STDIN of the same staged parts',
  async *run() {
    const events = positiveInteger('BENCH_LOADER_EVENTS', '200000');
    const rounds = positiveInteger('BENCH_LOADER_ROUNDS', '3');
    const filesPerBatch = positiveInteger('BENCH_LOADER_FILES_PER_BATCH', '2');
    const profile = process.env.BENCH_LOADER_PROFILE;
    const dir = await mkdtemp(join(tmpdir(), 'bench-loader-'));
    const loadBefore = loadavg();
    // A folder of its own, which startLocalPostgres opens to the postgres user when run as root.
    const pgDir = await mkdtemp(join(tmpdir(), 'bench-loader-pg-'));
    let server: LocalPostgres | undefined;
    let admin: pg.Client | undefined;
    try {
      server = await startLocalPostgres({ dataDir: join(pgDir, 'data'), persistent: false, fast: true });
      const url = await server.createDatabase(DATABASE);
      admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const workMem = process.env.BENCH_LOADER_WORK_MEM;
      if (workMem) {
        if (!/^\d+(kB|MB|GB)$/.test(workMem)) throw new Error(`BENCH_LOADER_WORK_MEM: bad value ${workMem}`);
        // New connections (every run's) get it; the server's own default stays as it is.
        await admin.query(`ALTER DATABASE ${quoteIdent(DATABASE)} SET work_mem = '${workMem}'`);
      }
      const scale = process.env.BENCH_LOADER_SCALE ?? 'on';
      if (!['on', 'off', 'only'].includes(scale)) {
        throw new Error(`BENCH_LOADER_SCALE must be on, off or only, got ${scale}.`);
      }
      if (scale === 'only') {
        yield* scaleCases({ admin, url, dir, rounds });
        return;
      }
      process.stderr.write(`  generating ${events} events and staging them ...\n`);
      const { staged, rawBytes, batcherEvents } = await prepare(dir, events, filesPerBatch);
      const baselines: Run[] = [];
      const loads: Array<Run & { transactions: number }> = [];
      const replays: Array<Run & { transactions: number }> = [];
      let loaded: FeedLoadSummary | undefined;
      let replayed: FeedLoadSummary | undefined;
      for (let round = 1; round <= rounds; round++) {
        process.stderr.write(`  round ${round}/${rounds}: baseline COPY ...\n`);
        baselines.push(await baselineRun(admin, url, staged));
        process.stderr.write(`  round ${round}/${rounds}: loader ...\n`);
        const load = await loaderRun(admin, url, staged, 'new');
        loads.push(load.run);
        loaded = load.feed;
        process.stderr.write(`  round ${round}/${rounds}: loader, all duplicates ...\n`);
        const replay = await loaderRun(admin, url, staged, 'duplicates');
        replays.push(replay.run);
        replayed = replay.feed;
      }
      const loadAfter = loadavg();
      const common = {
        events: batcherEvents,
        avgEventBytes: Math.round(rawBytes / events),
        batches: staged.originals.size,
        parts: staged.parts,
        maxBatchesPerLoad: staged.settings.maxBatchesPerLoad,
        maxBatchesPerLoadSource: 'default (MAX_BATCHES_PER_LOAD unset)',
        rounds,
        loadAverage1mBeforeAfter: [round2(loadBefore[0]!), round2(loadAfter[0]!)],
      };
      const baselineBest = Math.max(...baselines.map((run) => run.rowsPerSec));
      const baselineMedian = median(baselines.map((run) => run.rowsPerSec));
      for (const [name, runs, feed, rows] of [
        ['loader', loads, loaded!, loaded!.rowsLoaded],
        ['loader-duplicates', replays, replayed!, staged.replayRows],
      ] as const) {
        const best = Math.max(...runs.map((run) => run.rowsPerSec));
        const mid = median(runs.map((run) => run.rowsPerSec));
        yield {
          name,
          rows,
          rowsLoaded: feed.rowsLoaded,
          duplicatesSkipped: feed.duplicatesSkipped,
          stagedRows: name === 'loader' ? staged.stagedRows : staged.replayRows,
          rowsPerSec: best,
          medianRowsPerSec: mid,
          baselineRowsPerSec: baselineBest,
          baselineMedianRowsPerSec: baselineMedian,
          ratio: round3(best / baselineBest),
          medianRatio: round3(mid / baselineMedian),
          loadTransactions: runs[0]!.transactions,
          runs: runs.map((run) => ({ ms: Math.round(run.ms), rowsPerSec: run.rowsPerSec })),
          baselineRuns: baselines.map((run) => ({ ms: Math.round(run.ms), rowsPerSec: run.rowsPerSec })),
          ...common,
        };
      }
      if (profile) {
        for (const kind of ['new', 'duplicates'] as const) {
          process.stderr.write(`  profile: ${kind} ...\n`);
          yield await profileRun(admin, url, staged, kind, profile === 'explain');
        }
      }
      if (scale === 'on') yield* scaleCases({ admin, url, dir, rounds });
    } finally {
      await admin?.end().catch(() => undefined);
      await server?.stop().catch(() => undefined);
      await rm(pgDir, { recursive: true, force: true });
      await rm(dir, { recursive: true, force: true });
    }
  },
};

async function prepare(
  dir: string,
  events: number,
  filesPerBatch: number,
): Promise<{ staged: Staged; rawBytes: number; batcherEvents: number }> {
  const landing = new FileSystemObjectStore(join(dir, 'landing'));
  const store = new FileSystemObjectStore(join(dir, 'staging'));
  const written = await writeEventStream(join(dir, 'landing'), {
    events,
    eventsPerFile: EVENTS_PER_FILE,
    seed: 1,
  });
  const settings = pipelineSettingsFrom({ PROJECT_ID, FEEDS: 'events', LOOKBACK_DAYS: '30' });
  const summary = await runBatcher({
    landing,
    staging: store,
    settings,
    clock: BATCHER_CLOCK,
    budgetMs: 24 * 3_600_000,
    maxFilesPerBatch: filesPerBatch,
  });
  const batcherEvents = summary.feeds.events!.lines;
  if (batcherEvents !== events)
    throw new Error(`generated ${events} events, the batcher read ${batcherEvents}`);

  const originals = new Map<string, Buffer>();
  const replays = new Map<string, Buffer>();
  let stagedRows = 0;
  let replayRows = 0;
  let parts = 0;
  for (const [index, batchId] of summary.feeds.events!.batches.entries()) {
    const bytes = await store.getBytes(manifestKey('pending', 'events', batchId));
    const manifest = parseBatchManifest(bytes, batchId);
    originals.set(batchId, bytes);
    stagedRows += manifest.batch.rowCount;
    parts += manifest.entries.length;
    // Its manifest goes outside the pending queue: the replay waits until a run queues it.
    const replayId = `ev-20240501-replay-${String(index).padStart(3, '0')}`;
    const replay = await writeBatch({
      landing,
      staging: store,
      feed: 'events',
      projectId: PROJECT_ID,
      files: await Promise.all(
        manifest.batch.sourceKeys.map(async (key) => ({
          key,
          day: '2024-05-01',
          etag: (await landing.head(key))!.etag,
        })),
      ),
      batchId: replayId,
      source: 'live',
      clock: BATCHER_CLOCK,
      partTargetBytes: settings.partTargetBytes,
      manifestKey: `bench/replay/${replayId}.json`,
      workers: defaultWorkerCount(),
    });
    replays.set(replayId, await store.getBytes(replay.manifestKey));
    replayRows += replay.manifest.batch.rowCount;
  }
  return {
    staged: { store, settings, originals, replays, stagedRows, replayRows, parts },
    rawBytes: written.rawBytes,
    batcherEvents,
  };
}

/** Drops what earlier runs created, so every run starts from an empty table. */
async function reset(admin: pg.Client, settings: PipelineSettings): Promise<void> {
  await admin.query(`DROP SCHEMA IF EXISTS ${quoteIdent(settings.schema)} CASCADE`);
  await admin.query(`DROP SCHEMA IF EXISTS ${quoteIdent(BASELINE_SCHEMA)} CASCADE`);
}

/** Puts these manifests (back) in the pending queue. */
async function queue(staged: Staged, manifests: ReadonlyMap<string, Buffer>): Promise<void> {
  for (const [batchId, bytes] of manifests) {
    await staged.store.delete(manifestKey('loaded', 'events', batchId));
    await staged.store.put(manifestKey('pending', 'events', batchId), bytes);
  }
}

async function count(admin: pg.Client, table: string): Promise<number> {
  const result = await admin.query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${table}`);
  return Number(result.rows[0]!.n);
}

async function baselineRun(admin: pg.Client, url: string, staged: Staged): Promise<Run> {
  await reset(admin, staged.settings);
  await admin.query(`CREATE SCHEMA ${quoteIdent(BASELINE_SCHEMA)}`);
  await admin.query(createTargetTableSql('postgres', BASELINE_SCHEMA, 'events', PROJECT_ID));
  const table = targetTable(BASELINE_SCHEMA, 'events', PROJECT_ID);
  await admin.query(`ALTER TABLE ${table} ADD COLUMN ${quoteIdent(BATCH_ID_COLUMN)} character varying(128)`);
  const columns = [...columnsOf('events').map((column) => column.name), BATCH_ID_COLUMN].map((name) =>
    quoteIdent(name),
  );
  const sql = `COPY ${table} (${columns.join(', ')}) FROM STDIN WITH ${POSTGRES_COPY_OPTIONS}`;
  const keys = [...staged.originals.values()].flatMap((bytes) =>
    parseBatchManifest(bytes, 'baseline').entries.map((entry) => staged.store.keyOf(entry.url)),
  );
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await admin.query('CHECKPOINT');
    let rows = 0;
    const started = performance.now();
    for (const key of keys) {
      const sink = client.query(copyFrom(sql));
      await pipeline(await staged.store.getStream(key), createGunzip(), sink);
      rows += sink.rowCount;
    }
    const ms = performance.now() - started;
    if (rows !== staged.stagedRows || (await count(admin, table)) !== rows) {
      throw new Error(`baseline COPY loaded ${rows} rows, the manifests list ${staged.stagedRows}`);
    }
    return { ms, rowsPerSec: Math.round(rows / (ms / 1000)) };
  } finally {
    await client.end();
  }
}

async function loaderRun(
  admin: pg.Client,
  url: string,
  staged: Staged,
  kind: 'new' | 'duplicates',
): Promise<{ run: Run & { transactions: number }; feed: FeedLoadSummary }> {
  const { store, settings } = staged;
  await reset(admin, settings);
  const runner = new PostgresRunner({ connectionString: url, store });
  try {
    await ensureWarehouseObjects(runner, {
      schema: settings.schema,
      projectId: PROJECT_ID,
      feeds: ['events'],
    });
    await queue(staged, staged.originals);
    if (kind === 'duplicates') {
      const first = await runLoader({ store, runner, settings, clock: () => new Date() });
      expectClean(first.errors, 'loading the original batches');
      await queue(staged, staged.replays);
    }
    const table = targetTable(settings.schema, 'events', PROJECT_ID);
    const before = await count(admin, table);
    await admin.query('CHECKPOINT');
    const started = performance.now();
    const summary = await runLoader({ store, runner, settings, clock: () => new Date() });
    const ms = performance.now() - started;
    expectClean(summary.errors, 'the timed load');
    const feed = summary.feeds[0]!;
    const after = await count(admin, table);
    const batches = kind === 'new' ? staged.originals.size : staged.replays.size;
    if (feed.batchesLoaded !== batches || after - before !== feed.rowsLoaded) {
      throw new Error(
        `the ${kind} load committed ${feed.batchesLoaded} of ${batches} batches and added ${after - before} rows, reporting ${feed.rowsLoaded}`,
      );
    }
    if (kind === 'duplicates' && feed.rowsLoaded !== 0) {
      throw new Error(`the replay loaded ${feed.rowsLoaded} rows; every row was a duplicate`);
    }
    const rows = kind === 'new' ? feed.rowsLoaded : staged.replayRows;
    return {
      run: { ms, rowsPerSec: Math.round(rows / (ms / 1000)), transactions: feed.loads.length },
      feed,
    };
  } finally {
    await runner.close();
  }
}

function expectClean(errors: readonly { message: string }[], what: string): void {
  if (errors.length > 0)
    throw new Error(`${what} failed: ${errors.map((error) => error.message).join('; ')}`);
}

/**
 * The load transaction the loader would run, statement by statement on one connection with
 * each timed, in the same isolation level as PostgresRunner. Not how the loader runs it, so
 * only the shares of the statements matter, not the total.
 */
async function profileRun(
  admin: pg.Client,
  url: string,
  staged: Staged,
  kind: 'new' | 'duplicates',
  explain: boolean,
): Promise<Record<string, unknown>> {
  const { store, settings } = staged;
  await reset(admin, settings);
  const runner = new PostgresRunner({ connectionString: url, store });
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    await ensureWarehouseObjects(runner, {
      schema: settings.schema,
      projectId: PROJECT_ID,
      feeds: ['events'],
    });
    let manifests = staged.originals;
    if (kind === 'duplicates') {
      await queue(staged, staged.originals);
      expectClean(
        (await runLoader({ store, runner, settings, clock: () => new Date() })).errors,
        'loading the original batches',
      );
      manifests = staged.replays;
    }
    const batches: BatchManifest[] = [...manifests.values()].map((bytes) =>
      parseBatchManifest(bytes, 'profile'),
    );
    // The loader's own transaction for these batches (its COPY manifest written as the loader writes it).
    const { statements } = await prepareLoadTransaction(store, {
      dialect: 'postgres',
      target: { schema: settings.schema, projectId: PROJECT_ID, feed: 'events' },
      manifests: batches,
      loadId: `bench-profile-${kind}`,
    });
    await admin.query('CHECKPOINT');
    const client = await pool.connect();
    const timings: Array<{ statement: string; ms: number; rows: number }> = [];
    let serverSettings: Record<string, string> = {};
    try {
      const shown = await client.query<{ name: string; setting: string; unit: string | null }>(
        "SELECT name, setting, unit FROM pg_settings WHERE name IN ('work_mem', 'shared_buffers', 'temp_buffers', 'max_wal_size')",
      );
      serverSettings = Object.fromEntries(
        shown.rows.map((row) => [row.name, `${row.setting}${row.unit ? ` ${row.unit}` : ''}`]),
      );
      await client.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
      for (const sql of statements) {
        const label = sql.split('\n')[0]!.slice(0, 90);
        const explainable = explain && /^(DELETE|INSERT|CREATE TEMPORARY TABLE \S+ AS)/.test(sql);
        const started = performance.now();
        let rows: number;
        if (isCopyStatement(sql)) {
          rows = await copyFromManifest(client, store, parseRedshiftCopy(sql));
        } else if (explainable) {
          const plan = await client.query(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`);
          const text = plan.rows.map((row: Record<string, string>) => row['QUERY PLAN']).join('\n');
          process.stderr.write(`\n-- ${label}\n${text}\n`);
          rows = -1;
        } else {
          rows = (await client.query(sql)).rowCount ?? 0;
        }
        timings.push({ statement: label, ms: Math.round(performance.now() - started), rows });
      }
      const started = performance.now();
      await client.query('COMMIT');
      timings.push({ statement: 'COMMIT', ms: Math.round(performance.now() - started), rows: 0 });
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    const totalMs = timings.reduce((sum, timing) => sum + timing.ms, 0);
    return {
      name: kind === 'new' ? 'loader-profile' : 'loader-duplicates-profile',
      explain,
      totalMs,
      targetRows: await count(admin, targetTable(settings.schema, 'events', PROJECT_ID)),
      table: tableName('events', PROJECT_ID),
      statements: timings.map((timing) => ({ ...timing, share: round2(timing.ms / totalMs) })),
      serverSettings,
    };
  } finally {
    await pool.end();
    await runner.close();
  }
}

function positiveInteger(name: string, fallback: string): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(`${name} must be a whole number of at least 1, got ${process.env[name]}.`);
  }
  return value;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : Math.round((sorted[middle - 1]! + sorted[middle]!) / 2);
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
