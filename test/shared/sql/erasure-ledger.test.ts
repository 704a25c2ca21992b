import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedgerSql } from '#shared/sql/ddl.ts';
import { exposedBatchesQuery } from '#shared/sql/erasure.ts';
import { createTestDatabase } from '#test/support/postgres.ts';

/**
 * The staged batches an erasure report lists as still holding a person's lines are read from
 * the ledger by target table: two projects of one organization share a schema (and merged-ID
 * batch ids), and one project's erasure must not list the other project's batches.
 */

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let client: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase('erasure_ledger');
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query('CREATE SCHEMA shared_schema');
  await client.query(createLedgerSql('postgres', 'shared_schema'));
  const row = (batchId: string, feed: string, target: string) =>
    client.query(
      `INSERT INTO shared_schema.export_loads (batch_id, feed, target_table, rows_loaded, duplicates_skipped, quarantined, load_id, source, min_time, max_time, loaded_at)
       VALUES ($1, $2, $3, 1, 0, 0, 'load-1', 'live', '2026-03-01 10:00:00', '2026-03-01 11:00:00', '2026-03-01 12:00:00')`,
      [batchId, feed, target],
    );
  // The same org-wide merged-ID batch loaded into both projects' tables, and each project's events.
  await row('mi-org-1', 'merge_ids', 'merge_ids_111');
  await row('mi-org-1', 'merge_ids', 'merge_ids_222');
  await row('ev-111', 'events', 'events_111');
  await row('ev-222', 'events', 'events_222');
});

afterAll(async () => {
  await client.end();
  await db.drop();
});

const from = new Date('2026-03-01T00:00:00Z');
const to = new Date('2026-03-02T00:00:00Z');

describe('exposedBatchesQuery', () => {
  it("lists only this target's ledger rows when two projects share the schema", async () => {
    const events = await client.query(exposedBatchesQuery('shared_schema', 'events_111', from, to));
    expect(events.rows.map((row) => row.batch_id)).toEqual(['ev-111']);
    const merges = await client.query(exposedBatchesQuery('shared_schema', 'merge_ids_222', from, to));
    expect(merges.rows.map((row) => row.batch_id)).toEqual(['mi-org-1']);
  });
});
