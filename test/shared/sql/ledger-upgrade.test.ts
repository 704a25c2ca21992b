import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEDGER_COLUMNS } from '#shared/sql/ddl.ts';
import { upgradeLedger } from '#shared/sql/ledger.ts';
import { buildSetupSql } from '#shared/sql/setup.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import { PostgresRunner } from '#shared/warehouse/postgres.ts';
import { createTestDatabase } from '#test/support/postgres.ts';

/** The ledger as the first release created it: keyed by batch id alone, no target table. */
const OLD_LEDGER = (schema: string) => `CREATE TABLE "${schema}"."export_loads" (
  "batch_id" character varying(128) NOT NULL,
  "feed" character varying(16) NOT NULL,
  "rows_loaded" bigint NOT NULL,
  "duplicates_skipped" bigint NOT NULL,
  "quarantined" bigint NOT NULL,
  "load_id" character varying(64) NOT NULL,
  "source" character varying(16) NOT NULL,
  "min_time" timestamp(6) without time zone,
  "max_time" timestamp(6) without time zone,
  "loaded_at" timestamp(6) without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
  PRIMARY KEY ("batch_id")
)`;

const OLD_ROWS = (schema: string) => `INSERT INTO "${schema}"."export_loads"
  (batch_id, feed, rows_loaded, duplicates_skipped, quarantined, load_id, source) VALUES
  ('ev-1', 'events', 10, 0, 0, 'load-a', 'live'),
  ('mi-1', 'merge_ids', 5, 1, 0, 'load-a', 'live'),
  ('mi-2', 'merge_ids', 7, 0, 2, 'load-b', 'backfill')`;

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let admin: pg.Client;
beforeAll(async () => {
  db = await createTestDatabase('ledger_upgrade');
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
});
afterAll(async () => {
  await admin.end();
  await db.drop();
});

async function ledgerOf(schema: string) {
  const rows = await admin.query(
    `SELECT batch_id, feed, rows_loaded::int AS rows, load_id, source, target_table FROM "${schema}".export_loads ORDER BY batch_id, target_table`,
  );
  const key = await admin.query(
    `SELECT array_agg(a.attname::text ORDER BY array_position(c.conkey, a.attnum)) AS columns
     FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
     JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY (c.conkey)
     WHERE c.contype = 'p' AND n.nspname = $1 AND t.relname = 'export_loads'`,
    [schema],
  );
  const columns = await admin.query(
    `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'export_loads' ORDER BY ordinal_position`,
    [schema],
  );
  return {
    rows: rows.rows,
    key: key.rows[0]?.columns,
    columns: columns.rows.map((row) => row.column_name),
  };
}

/** An old deployment: project 111's tables and its ledger rows. */
async function oldDeployment(schema: string) {
  await admin.query(`CREATE SCHEMA "${schema}"`);
  await admin.query(`CREATE TABLE "${schema}".events_111 (uuid text)`);
  await admin.query(`CREATE TABLE "${schema}".merge_ids_111 (amplitude_id bigint)`);
  await admin.query(OLD_LEDGER(schema));
  await admin.query(OLD_ROWS(schema));
}

const expectedRows = [
  {
    batch_id: 'ev-1',
    feed: 'events',
    rows: 10,
    load_id: 'load-a',
    source: 'live',
    target_table: 'events_111',
  },
  {
    batch_id: 'mi-1',
    feed: 'merge_ids',
    rows: 5,
    load_id: 'load-a',
    source: 'live',
    target_table: 'merge_ids_111',
  },
  {
    batch_id: 'mi-2',
    feed: 'merge_ids',
    rows: 7,
    load_id: 'load-b',
    source: 'backfill',
    target_table: 'merge_ids_111',
  },
];

describe('upgrading a ledger of the old shape', () => {
  it('the local runner adds the missing columns, keeps every row, attributes it and re-keys the ledger', async () => {
    await oldDeployment('up_local');
    const runner = new PostgresRunner({ connectionString: db.url, store: new FileSystemObjectStore('/tmp') });
    try {
      expect(await upgradeLedger(runner, 'up_local')).toEqual([
        'target_table',
        'rows_erased',
        'landed_at',
        'landing_delay_seconds',
        'hours_read',
        'hours_span',
        'seconds_read',
      ]);
      // Again: nothing left to do.
      expect(await upgradeLedger(runner, 'up_local')).toEqual([]);
    } finally {
      await runner.close();
    }
    const ledger = await ledgerOf('up_local');
    expect(ledger.rows).toEqual(expectedRows);
    expect(ledger.key).toEqual(['target_table', 'batch_id']);
    expect(ledger.columns).toEqual(LEDGER_COLUMNS.map((column) => column.name));
  });

  it("the setup SQL of a second project upgrades it, attributing old rows to the first project's tables", async () => {
    await oldDeployment('up_setup');
    const sql = buildSetupSql({
      dialect: 'postgres',
      schema: 'up_setup',
      projectId: '222',
      feeds: ['merge_ids', 'events'],
    });
    const upTo = sql.indexOf('\nCREATE USER');
    await admin.query(sql.slice(0, upTo));
    // Run again: safe, changes nothing.
    await admin.query(sql.slice(0, upTo));

    const ledger = await ledgerOf('up_setup');
    expect(ledger.rows).toEqual(expectedRows);
    expect(ledger.key).toEqual(['target_table', 'batch_id']);
    expect(ledger.columns).toEqual(LEDGER_COLUMNS.map((column) => column.name));
    // The second project's tables exist now, and its own ledger rows can share batch ids.
    await admin.query(
      `INSERT INTO up_setup.export_loads (batch_id, feed, rows_loaded, duplicates_skipped, quarantined, load_id, source, target_table)
       VALUES ('mi-1', 'merge_ids', 5, 1, 0, 'load-c', 'live', 'merge_ids_222')`,
    );
    expect((await ledgerOf('up_setup')).rows).toHaveLength(4);
  });

  it('leaves old rows unattributed when the schema has several tables of their feed', async () => {
    await oldDeployment('up_ambiguous');
    await admin.query('CREATE TABLE up_ambiguous.merge_ids_333 (amplitude_id bigint)');
    const runner = new PostgresRunner({ connectionString: db.url, store: new FileSystemObjectStore('/tmp') });
    try {
      await upgradeLedger(runner, 'up_ambiguous');
    } finally {
      await runner.close();
    }
    const { rows } = await ledgerOf('up_ambiguous');
    expect(rows.map((row) => [row.batch_id, row.target_table])).toEqual([
      ['ev-1', 'events_111'],
      ['mi-1', ''],
      ['mi-2', ''],
    ]);
  });
});
