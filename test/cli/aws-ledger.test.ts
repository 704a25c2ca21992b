import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLedger } from '#cli/aws/ledger.ts';
import { FEEDS } from '#shared/schema/columns.ts';
import { ensureWarehouseObjects } from '#shared/sql/ensure.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import { PostgresRunner } from '#shared/warehouse/postgres.ts';
import { createTestDatabase } from '#test/support/postgres.ts';

// `status` reads the ledger with these queries through the Data API; here they run on a real
// PostgreSQL with two projects of one organization sharing the schema (issue 11's case).
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let runner: PostgresRunner;

beforeAll(async () => {
  db = await createTestDatabase('status_ledger');
  runner = new PostgresRunner({ connectionString: db.url, store: new FileSystemObjectStore('/tmp') });
  for (const projectId of ['111', '222']) {
    await ensureWarehouseObjects(runner, { schema: 'amplitude', projectId, feeds: FEEDS });
  }
  const row = (target: string, batch: string, load: string, rows: number, erased: number, at: string) =>
    `('${target}', '${batch}', '${target.startsWith('events') ? 'events' : 'merge_ids'}', ${rows}, 0, 0, ${erased}, '${load}', 'live', TIMESTAMP '${at}')`;
  await runner.transaction([
    `INSERT INTO amplitude.export_loads (target_table, batch_id, feed, rows_loaded, duplicates_skipped, quarantined, rows_erased, load_id, source, loaded_at) VALUES
      ${row('events_111', 'ev-a', 'load-111-a', 100, 2, '2026-03-02 05:00:00')},
      ${row('events_111', 'ev-b', 'load-111-a', 50, 1, '2026-03-02 05:00:00')},
      ${row('merge_ids_111', 'mi-a', 'load-111-m', 7, 0, '2026-03-02 05:10:00')},
      ${row('events_222', 'ev-c', 'load-222-a', 900, 0, '2026-03-02 05:20:00')},
      ${row('merge_ids_222', 'mi-a', 'load-222-m', 7, 0, '2026-03-02 05:30:00')}`,
  ]);
});

afterAll(async () => {
  await runner?.close();
  await db?.drop();
});

describe("status's ledger queries", () => {
  it("show one project's loads and totals, with the rows of erased people each load dropped", async () => {
    const view = await readLedger(runner, 'amplitude', 10, '111');

    expect(
      view.loads.map(({ loadId, feed, batches, rowsLoaded, rowsErased }) => ({
        loadId,
        feed,
        batches,
        rowsLoaded,
        rowsErased,
      })),
    ).toEqual([
      { loadId: 'load-111-m', feed: 'merge_ids', batches: 1, rowsLoaded: 7, rowsErased: 0 },
      { loadId: 'load-111-a', feed: 'events', batches: 2, rowsLoaded: 150, rowsErased: 3 },
    ]);
    expect(
      view.feeds
        .map(({ feed, rowsLoaded }) => ({ feed, rowsLoaded }))
        .sort((a, b) => a.feed.localeCompare(b.feed)),
    ).toEqual([
      { feed: 'events', rowsLoaded: 150 },
      { feed: 'merge_ids', rowsLoaded: 7 },
    ]);
  });

  it('show every project of the schema for a stack that does not say its project (older outputs)', async () => {
    const view = await readLedger(runner, 'amplitude', 10);

    expect(view.loads.map((load) => load.loadId)).toEqual([
      'load-222-m',
      'load-222-a',
      'load-111-m',
      'load-111-a',
    ]);
  });
});
