import { describe, expect, it } from 'vitest';
import { copyManifestKey, manifestKey, PREFIXES } from '#shared/base/staging-keys.ts';
import { loadPendingBatches, runLoader } from '#shared/pipeline/loader/loader.ts';
import { ensureWarehouseObjects } from '#shared/sql/ensure.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import { PostgresRunner } from '#shared/warehouse/postgres.ts';
import type { SqlRunner } from '#shared/warehouse/sql-runner.ts';
import {
  eventRow,
  eventUuids,
  instrumentRunner,
  instrumentStore,
  keysUnder,
  ledgerFigures,
  mergePairs,
  mergeRow,
  newRunner,
  PROJECT_ID,
  Steps,
  selectRows,
  stageBatch,
  useWorlds,
} from './fixtures.ts';

const database = useWorlds('loader');

const world = database.world;

/** The runner, recording the statements of every transaction it runs into `transactions`. */
function recordingRunner(runner: SqlRunner, transactions: string[][]): SqlRunner {
  return {
    ...runner,
    dialect: runner.dialect,
    transaction: (statements, options) => {
      transactions.push([...statements]);
      return runner.transaction(statements, options);
    },
    query: (sql) => runner.query(sql),
    startTransaction: (statements, options) => runner.startTransaction(statements, options),
    describe: (id) => runner.describe(id),
    loadErrorDetails: (failed) => runner.loadErrorDetails(failed),
    close: () => runner.close(),
  };
}

const now = new Date('2024-03-02T11:10:02.500Z');
const clock = () => now;

describe('runLoader on PostgreSQL', () => {
  it('loads staged batches with their exact values, ledger rows and figures', async () => {
    const w = await world({ feeds: ['events'] });
    await stageBatch(w.store, {
      batchId: 'ev-a',
      feed: 'events',
      rows: [
        eventRow('u-1', {
          user_id: 'alice, "the" user\nsecond line',
          event_properties: '{"plan": "pro", "n": 1}',
          session_id: '9007199254740993',
          location_lat: '37.7749',
          followed_an_identify: 'true',
          event_time: '2024-03-01 10:00:00.123456',
          app: PROJECT_ID,
        }),
        eventRow('u-2'),
      ],
    });
    await stageBatch(w.store, {
      batchId: 'ev-b',
      feed: 'events',
      source: 'backfill',
      rows: [
        eventRow('u-3', {
          event_time: '2024-03-02 11:00:00.000001',
          server_upload_time: '2024-03-02 11:00:02.500000',
        }),
      ],
      duplicatesInBatch: 2,
      quarantined: { missing_required: 1 },
    });

    const summary = await runLoader({ store: w.store, runner: w.runner, settings: w.settings, clock });

    const rows = await selectRows(
      database.url,
      `SELECT uuid, user_id, event_properties::text AS props, session_id::text AS session, location_lat,
              followed_an_identify AS identify, event_time::text AS event_time, app::text AS app
       FROM "${w.schema}".events_${PROJECT_ID} ORDER BY uuid`,
    );
    expect(rows).toEqual([
      {
        uuid: 'u-1',
        user_id: 'alice, "the" user\nsecond line',
        props: '{"n": 1, "plan": "pro"}',
        session: '9007199254740993',
        location_lat: 37.7749,
        identify: true,
        event_time: '2024-03-01 10:00:00.123456',
        app: PROJECT_ID,
      },
      {
        uuid: 'u-2',
        user_id: null,
        props: null,
        session: null,
        location_lat: null,
        identify: null,
        event_time: '2024-03-01 10:00:00',
        app: null,
      },
      {
        uuid: 'u-3',
        user_id: null,
        props: null,
        session: null,
        location_lat: null,
        identify: null,
        event_time: '2024-03-02 11:00:00.000001',
        app: null,
      },
    ]);
    expect(await ledgerFigures(database.url, w.schema)).toEqual([
      {
        batch_id: 'ev-a',
        feed: 'events',
        rows: 2,
        duplicates: 0,
        quarantined: 0,
        source: 'live',
        min_time: '2024-03-01 10:00:00',
        max_time: '2024-03-01 10:00:00.123456',
      },
      {
        batch_id: 'ev-b',
        feed: 'events',
        rows: 1,
        duplicates: 2,
        quarantined: 1,
        source: 'backfill',
        min_time: '2024-03-02 11:00:00.000001',
        max_time: '2024-03-02 11:00:00.000001',
      },
    ]);

    expect(summary).toMatchObject({
      needsAttention: false,
      errors: [],
      freshnessSeconds: 600,
      feeds: [
        {
          feed: 'events',
          rowsLoaded: 3,
          duplicatesSkipped: 2,
          quarantined: 1,
          batchesLoaded: 2,
          batchesAlreadyLoaded: 0,
          batchesFailed: 0,
          batchesPending: 0,
        },
      ],
    });
    const [load] = summary.feeds[0]!.loads;
    expect(load).toEqual({
      loadId: expect.stringMatching(/^load-20240302t111002z-[0-9a-f]{6}-e1$/),
      statementId: expect.stringMatching(/^pg-/),
      batchIds: ['ev-a', 'ev-b'],
      rowsLoaded: 3,
      durationMs: expect.any(Number),
      // The rows' hours: 2024-03-01T10 and 2024-03-02T11, a day apart; within them only the
      // rows' two instants (2 us, rounded up to a second).
      hoursRead: 2,
      hoursSpan: 26,
      secondsRead: 1,
    });
    const loadIds = await selectRows(database.url, `SELECT DISTINCT load_id FROM "${w.schema}".export_loads`);
    expect(loadIds).toEqual([{ load_id: load!.loadId }]);

    expect(await keysUnder(w.store, PREFIXES.pending)).toEqual([]);
    expect(await keysUnder(w.store, PREFIXES.loaded)).toEqual([
      manifestKey('loaded', 'events', 'ev-a'),
      manifestKey('loaded', 'events', 'ev-b'),
    ]);
    expect(await keysUnder(w.store, PREFIXES.copy)).toEqual([]);
    expect(await keysUnder(w.store, PREFIXES.leases)).toEqual([]);
  });

  it('counts duplicates inside a batch, across batches of one load and across runs', async () => {
    const w = await world();
    await stageBatch(w.store, {
      batchId: 'ev-a',
      feed: 'events',
      rows: [eventRow('u-1'), eventRow('u-2')],
      duplicatesInBatch: 1,
    });
    await stageBatch(w.store, { batchId: 'ev-b', feed: 'events', rows: [eventRow('u-2'), eventRow('u-3')] });
    await stageBatch(w.store, {
      batchId: 'mi-a',
      feed: 'merge_ids',
      rows: [mergeRow('1', '2'), mergeRow('1', '3')],
    });
    await stageBatch(w.store, {
      batchId: 'mi-b',
      feed: 'merge_ids',
      rows: [mergeRow('1', '2', { merge_event_time: '2024-03-01 09:00:00.000000' }), mergeRow('4', '5')],
    });
    const first = await runLoader({ store: w.store, runner: w.runner, settings: w.settings, clock });
    expect(first.feeds.map((feed) => [feed.feed, feed.rowsLoaded, feed.duplicatesSkipped])).toEqual([
      ['events', 3, 2],
      ['merge_ids', 3, 1],
    ]);

    await stageBatch(w.store, { batchId: 'ev-c', feed: 'events', rows: [eventRow('u-3'), eventRow('u-4')] });
    await stageBatch(w.store, {
      batchId: 'mi-c',
      feed: 'merge_ids',
      rows: [mergeRow('4', '5'), mergeRow('6', '7')],
    });
    const second = await runLoader({ store: w.store, runner: w.runner, settings: w.settings, clock });
    expect(second.feeds.map((feed) => [feed.feed, feed.rowsLoaded, feed.duplicatesSkipped])).toEqual([
      ['events', 1, 1],
      ['merge_ids', 1, 1],
    ]);

    expect(await eventUuids(database.url, w.schema)).toEqual(['u-1', 'u-2', 'u-3', 'u-4']);
    expect(await mergePairs(database.url, w.schema)).toEqual(['1>2', '1>3', '4>5', '6>7']);
    expect(
      (await ledgerFigures(database.url, w.schema)).map((row) => [row.batch_id, row.rows, row.duplicates]),
    ).toEqual([
      ['ev-a', 2, 1],
      ['ev-b', 1, 1],
      ['ev-c', 1, 1],
      ['mi-a', 2, 0],
      ['mi-b', 1, 1],
      ['mi-c', 1, 1],
    ]);
  });

  it('reads only the times of the rows, one 10 days late included, and still skips its duplicate', async () => {
    const w = await world({ feeds: ['events'] });
    // 40 rows 45 s apart from 10:45 (every minute to 11:14 has one), and one 10 days late.
    const at = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '000');
    const rows = [
      ...Array.from({ length: 40 }, (_, i) =>
        eventRow(`u-${i}`, { event_time: at(Date.parse('2024-03-01T10:45:00Z') + i * 45_000) }),
      ),
      eventRow('u-late', { event_time: '2024-02-20 07:30:00.000000' }),
    ];
    await stageBatch(w.store, {
      batchId: 'ev-a',
      feed: 'events',
      rows,
      oldestLandedAt: '2024-03-02T11:02:00.000Z',
    });
    // The same rows again under another batch id: every one is a duplicate of a loaded row.
    const replay = { batchId: 'ev-b', feed: 'events' as const, rows };
    const transactions: string[][] = [];
    const runner = recordingRunner(w.runner, transactions);
    const first = await runLoader({ store: w.store, runner, settings: w.settings, clock });
    await stageBatch(w.store, replay);
    const second = await runLoader({ store: w.store, runner, settings: w.settings, clock });

    expect([first.feeds[0]!.rowsLoaded, second.feeds[0]!.rowsLoaded]).toEqual([41, 0]);
    expect(second.feeds[0]!.duplicatesSkipped).toBe(41);
    // Three hours touched, spanning from the late row's hour to the last on-time one; of them
    // only 10:45:00 .. 11:14:15 (1755 s) and the late row's instant are read.
    const span = (Date.parse('2024-03-01T11:00Z') - Date.parse('2024-02-20T07:00Z')) / 3_600_000 + 1;
    expect(first.feeds[0]!.loads.map((load) => [load.hoursRead, load.hoursSpan, load.secondsRead])).toEqual([
      [3, span, 1756],
    ]);
    // Landed 2024-03-02T11:02:00Z, committed at the clock's 11:10:02.5.
    expect(first.feeds[0]!.landingToCommitSeconds).toEqual([483]);
    expect(second.feeds[0]!.landingToCommitSeconds).toEqual([]);
    // The ledger keeps both per batch: landing time and delay, hours read and their span.
    const ledger = await selectRows(
      database.url,
      `SELECT batch_id, to_char(landed_at, 'YYYY-MM-DD"T"HH24:MI:SS') AS landed, landing_delay_seconds::float8 AS delay, hours_read, hours_span, seconds_read::float8 AS seconds_read FROM "${w.schema}".export_loads ORDER BY batch_id`,
    );
    expect(ledger).toEqual([
      {
        batch_id: 'ev-a',
        landed: '2024-03-02T11:02:00',
        delay: expect.any(Number),
        hours_read: 3,
        hours_span: span,
        seconds_read: 1756,
      },
      { batch_id: 'ev-b', landed: null, delay: null, hours_read: 3, hours_span: span, seconds_read: 1756 },
    ]);
    // The database's own clock at the insert, not the run's: about now minus the landing.
    const expected = (Date.now() - Date.parse('2024-03-02T11:02:00Z')) / 1000;
    expect(Math.abs((ledger[0]!.delay as number) - expected)).toBeLessThan(300);
    expect(await eventUuids(database.url, w.schema)).toHaveLength(41);
    for (const statements of transactions) {
      const del = statements.find((sql) => sql.startsWith('DELETE FROM "amplitude_export_stage_unique"'))!;
      expect(del).not.toMatch(/BETWEEN|\(SELECT/);
      expect(del.match(/"event_time" >= '[^']+' AND "[^"]+"\."event_time" <= '[^']+'/g)).toEqual([
        `"event_time" >= '2024-02-20 07:30:00.000000' AND "events_777"."event_time" <= '2024-02-20 07:30:00.000000'`,
        `"event_time" >= '2024-03-01 10:45:00.000000' AND "events_777"."event_time" <= '2024-03-01 11:14:15.000000'`,
      ]);
    }
  });

  it('detects duplicates at the exact first and last instant a load reads, to the microsecond', async () => {
    const w = await world({ feeds: ['events'] });
    // Loaded first: rows at the ends of what the replay below reads, one at an hour's last
    // microsecond and one at the next hour's first.
    const ends = [
      eventRow('u-first', { event_time: '2024-03-01 10:00:00.000001' }),
      eventRow('u-hour-end', { event_time: '2024-03-01 10:59:59.999999' }),
      eventRow('u-hour-start', { event_time: '2024-03-01 11:00:00.000000' }),
      eventRow('u-last', { event_time: '2024-03-01 11:00:59.999999' }),
    ];
    await stageBatch(w.store, { batchId: 'ev-a', feed: 'events', rows: ends });
    await runLoader({ store: w.store, runner: w.runner, settings: w.settings, clock });
    // The replay's ranges end exactly at its duplicates: 10:00:00.000001 alone, and
    // 10:59:59.999999 .. 11:00:59.999999 (consecutive minutes), with a new row inside it.
    const transactions: string[][] = [];
    const runner = recordingRunner(w.runner, transactions);
    await stageBatch(w.store, {
      batchId: 'ev-b',
      feed: 'events',
      rows: [...ends, eventRow('u-new', { event_time: '2024-03-01 11:00:30.500000' })],
    });
    const replay = await runLoader({ store: w.store, runner, settings: w.settings, clock });

    expect([replay.feeds[0]!.rowsLoaded, replay.feeds[0]!.duplicatesSkipped]).toEqual([1, 4]);
    expect(await eventUuids(database.url, w.schema)).toEqual([
      'u-first',
      'u-hour-end',
      'u-hour-start',
      'u-last',
      'u-new',
    ]);
    const del = transactions[0]!.find((sql) =>
      sql.startsWith('DELETE FROM "amplitude_export_stage_unique"'),
    )!;
    expect(del.match(/"event_time" >= '[^']+' AND "[^"]+"\."event_time" <= '[^']+'/g)).toEqual([
      `"event_time" >= '2024-03-01 10:00:00.000001' AND "events_777"."event_time" <= '2024-03-01 10:00:00.000001'`,
      `"event_time" >= '2024-03-01 10:59:59.999999' AND "events_777"."event_time" <= '2024-03-01 11:00:59.999999'`,
    ]);
  });

  it('moves a replayed batch to loaded without any COPY', async () => {
    const w = await world({ feeds: ['events'] });
    await stageBatch(w.store, { batchId: 'ev-a', feed: 'events', rows: [eventRow('u-1'), eventRow('u-2')] });
    await runLoader({ store: w.store, runner: w.runner, settings: w.settings, clock });
    await w.store.copy(manifestKey('loaded', 'events', 'ev-a'), manifestKey('pending', 'events', 'ev-a'));

    const steps = new Steps();
    const replay = await runLoader({
      store: w.store,
      runner: instrumentRunner(w.runner, steps),
      settings: w.settings,
      clock,
    });
    expect(steps.calls).toEqual(['runner.query']);
    expect(replay.feeds[0]).toMatchObject({
      batchesLoaded: 0,
      batchesAlreadyLoaded: 1,
      rowsLoaded: 0,
      batchesPending: 0,
    });
    expect(await eventUuids(database.url, w.schema)).toEqual(['u-1', 'u-2']);
    expect(await keysUnder(w.store, PREFIXES.pending)).toEqual([]);
  });

  it('records a batch whose lines were all duplicates or quarantined, without a COPY statement', async () => {
    const w = await world({ feeds: ['events'] });
    await stageBatch(w.store, {
      batchId: 'ev-empty',
      feed: 'events',
      rows: [],
      duplicatesInBatch: 3,
      quarantined: { bad_json: 2 },
    });
    const summary = await runLoader({ store: w.store, runner: w.runner, settings: w.settings, clock });
    expect(summary.feeds[0]).toMatchObject({
      batchesLoaded: 1,
      rowsLoaded: 0,
      duplicatesSkipped: 3,
      quarantined: 2,
    });
    expect(await ledgerFigures(database.url, w.schema)).toEqual([
      {
        batch_id: 'ev-empty',
        feed: 'events',
        rows: 0,
        duplicates: 3,
        quarantined: 2,
        source: 'live',
        min_time: null,
        max_time: null,
      },
    ]);
  });

  it('takes at most maxBatchesPerLoad batches per transaction and keeps going', async () => {
    const w = await world({ feeds: ['events'], maxBatchesPerLoad: 2 });
    for (const id of ['ev-1', 'ev-2', 'ev-3', 'ev-4', 'ev-5']) {
      await stageBatch(w.store, { batchId: id, feed: 'events', rows: [eventRow(`u-${id}`)] });
    }
    const summary = await runLoader({ store: w.store, runner: w.runner, settings: w.settings, clock });
    expect(summary.feeds[0]!.loads.map((load) => load.batchIds)).toEqual([
      ['ev-1', 'ev-2'],
      ['ev-3', 'ev-4'],
      ['ev-5'],
    ]);
    expect(await eventUuids(database.url, w.schema)).toEqual([
      'u-ev-1',
      'u-ev-2',
      'u-ev-3',
      'u-ev-4',
      'u-ev-5',
    ]);
  });

  it('issues no SQL and one list call per feed when nothing is pending', async () => {
    const w = await world();
    const steps = new Steps();
    const summary = await runLoader({
      store: instrumentStore(w.store, steps),
      runner: instrumentRunner(w.runner, steps),
      settings: w.settings,
      clock,
    });
    expect(steps.calls).toEqual([
      'store.list manifests/pending/events/',
      'store.list manifests/pending/merge_ids/',
    ]);
    expect(summary.feeds.map((feed) => feed.batchesPending)).toEqual([0, 0]);
    expect(summary.freshnessSeconds).toBeUndefined();
  });

  it('lets only one of two overlapping runs work: the other finds the lease held', async () => {
    const w = await world({ feeds: ['events'] });
    await stageBatch(w.store, { batchId: 'ev-a', feed: 'events', rows: [eventRow('u-1')] });
    let entered!: () => void;
    const inTransaction = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slowRunner: SqlRunner = {
      ...instrumentRunner(w.runner, new Steps()),
      async transaction(statements, options) {
        entered();
        await gate;
        return await w.runner.transaction(statements, options);
      },
    };
    const first = runLoader({
      store: w.store,
      runner: slowRunner,
      settings: w.settings,
      clock,
      runId: 'first-run',
    });
    await inTransaction;
    const second = await runLoader({
      store: new FileSystemObjectStore(w.dir),
      runner: w.runner,
      settings: w.settings,
      clock,
      runId: 'second-run',
    });
    release();
    const firstSummary = await first;

    expect(second.skipped).toEqual({
      reason: 'lease-held',
      heldBy: 'loader:first-run',
      expiresAt: new Date(now.getTime() + 15 * 60_000).toISOString(),
    });
    expect(second.feeds[0]!.loads).toEqual([]);
    expect(firstSummary.feeds[0]!.batchesLoaded).toBe(1);
    expect(await eventUuids(database.url, w.schema)).toEqual(['u-1']);
  });

  it('never loads a batch twice when two loaders bypass the lease and commit at the same time', async () => {
    const w = await world();
    await stageBatch(w.store, { batchId: 'ev-a', feed: 'events', rows: [eventRow('u-1'), eventRow('u-2')] });
    await stageBatch(w.store, { batchId: 'ev-b', feed: 'events', rows: [eventRow('u-2'), eventRow('u-3')] });
    await stageBatch(w.store, { batchId: 'mi-a', feed: 'merge_ids', rows: [mergeRow('1', '2')] });
    const otherStore = new FileSystemObjectStore(w.dir);
    const otherRunner = newRunner(database.url, otherStore);
    database.afterThisTest(() => otherRunner.close());

    // For each feed, both loaders read the pending batches and the ledger before either
    // transaction runs: the n-th transaction of each waits until the other reaches its n-th.
    // (The feeds load one after the other, so one barrier for the first transaction only
    // left the second feed to timing.)
    const rounds: { waiting: number; open: () => void; opened: Promise<void> }[] = [];
    const roundAt = (index: number) => {
      if (!rounds[index]) {
        let open!: () => void;
        const opened = new Promise<void>((resolve) => {
          open = resolve;
        });
        rounds[index] = { waiting: 0, open, opened };
      }
      return rounds[index];
    };
    const atBarrier = (runner: SqlRunner): SqlRunner => {
      let calls = 0;
      return {
        ...instrumentRunner(runner, new Steps()),
        async transaction(statements, options) {
          const round = roundAt(calls++);
          round.waiting++;
          if (round.waiting === 2) round.open();
          await round.opened;
          return await runner.transaction(statements, options);
        },
      };
    };
    const [a, b] = await Promise.all([
      loadPendingBatches({
        store: w.store,
        runner: atBarrier(w.runner),
        settings: w.settings,
        clock,
        runId: 'loader-a',
      }),
      loadPendingBatches({
        store: otherStore,
        runner: atBarrier(otherRunner),
        settings: w.settings,
        clock,
        runId: 'loader-b',
      }),
    ]);

    expect(await eventUuids(database.url, w.schema)).toEqual(['u-1', 'u-2', 'u-3']);
    expect(await mergePairs(database.url, w.schema)).toEqual(['1>2']);
    expect(
      (await ledgerFigures(database.url, w.schema)).map((row) => [row.batch_id, row.rows, row.duplicates]),
    ).toEqual([
      ['ev-a', 2, 0],
      ['ev-b', 1, 1],
      ['mi-a', 1, 0],
    ]);
    expect([...a.errors, ...b.errors]).toEqual([]);
    for (const feed of [0, 1]) {
      const loaded = a.feeds[feed]!.batchesLoaded + b.feeds[feed]!.batchesLoaded;
      const already = a.feeds[feed]!.batchesAlreadyLoaded + b.feeds[feed]!.batchesAlreadyLoaded;
      expect([loaded, already]).toEqual(feed === 0 ? [2, 2] : [1, 1]);
    }

    expect(await keysUnder(w.store, PREFIXES.pending)).toEqual([]);
    expect(await keysUnder(w.store, PREFIXES.loaded)).toHaveLength(3);
  });

  it('writes the combined COPY manifest under manifests/copy/<loadId>.json for the transaction', async () => {
    const w = await world({ feeds: ['events'] });
    const a = await stageBatch(w.store, {
      batchId: 'ev-a',
      feed: 'events',
      rows: Array.from({ length: 40 }, (_, i) => eventRow(`u-${i}`, { user_id: 'x'.repeat(200) })),
      partTargetBytes: 2048,
    });
    const b = await stageBatch(w.store, { batchId: 'ev-b', feed: 'events', rows: [eventRow('u-b')] });
    expect(a.entries.length).toBeGreaterThan(1);
    let seen: unknown;
    const peeking: SqlRunner = {
      ...instrumentRunner(w.runner, new Steps()),
      async transaction(statements, options) {
        seen = JSON.parse((await w.store.getBytes(copyManifestKey(options!.clientToken!))).toString('utf8'));
        return await w.runner.transaction(statements, options);
      },
    };
    await runLoader({ store: w.store, runner: peeking, settings: w.settings, clock });
    expect(seen).toEqual({ entries: [...a.entries, ...b.entries] });
    expect(await eventUuids(database.url, w.schema)).toHaveLength(41);
  });
});

describe('ensureWarehouseObjects', () => {
  it('creates missing tables once and does nothing when they exist', async () => {
    const store = new FileSystemObjectStore((await import('node:os')).tmpdir());
    const runner = new PostgresRunner({ connectionString: database.url, store });
    database.afterThisTest(() => runner.close());
    const options = { schema: 'ensure_test', projectId: PROJECT_ID, feeds: ['merge_ids'] as const };
    expect(await ensureWarehouseObjects(runner, options)).toEqual([
      `merge_ids_${PROJECT_ID}`,
      'export_loads',
      'erasures',
      'erased_amplitude_ids',
    ]);
    const steps = new Steps();
    expect(await ensureWarehouseObjects(instrumentRunner(runner, steps), options)).toEqual([]);
    // The ledger's columns (current: no upgrade), then the tables.
    expect(steps.calls).toEqual(['runner.query', 'runner.query']);
    const tables = await selectRows(
      database.url,
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'ensure_test' ORDER BY 1`,
    );
    expect(tables).toEqual([
      { table_name: 'erased_amplitude_ids' },
      { table_name: 'erasures' },
      { table_name: 'export_loads' },
      { table_name: `merge_ids_${PROJECT_ID}` },
    ]);
  });
});
