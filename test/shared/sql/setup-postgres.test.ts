import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eraseFromWarehouse } from '#shared/pipeline/erasure/erase.ts';
import { EVENT_COLUMNS, MERGE_ID_COLUMNS } from '#shared/schema/columns.ts';
import { ERASED_ID_COLUMNS, ERASURE_COLUMNS, LEDGER_COLUMNS } from '#shared/sql/ddl.ts';
import { buildSetupSql, PASSWORD_PLACEHOLDER } from '#shared/sql/setup.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import { PostgresRunner } from '#shared/warehouse/postgres.ts';
import { createTestDatabase } from '#test/support/postgres.ts';

const SCHEMA = 'export_test';
const PROJECT = '4242';

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function urlAs(url: string, user: string, password: string, database?: string): string {
  const parsed = new URL(url);
  parsed.username = user;
  parsed.password = password;
  if (database) parsed.pathname = `/${database}`;
  return parsed.toString();
}

describe('setup SQL on PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const user = `export_user_${randomBytes(4).toString('hex')}`;
  const password = `Pw-${randomBytes(8).toString('hex')}`;
  let database: string;

  beforeAll(async () => {
    db = await createTestDatabase('setup_sql');
    database = new URL(db.url).pathname.slice(1);
    const sql = buildSetupSql({ dialect: 'postgres', schema: SCHEMA, projectId: PROJECT, user, database });
    // The administrator's one manual step: put the secret's password in place of the placeholder.
    await withClient(db.url, (client) => client.query(sql.replace(PASSWORD_PLACEHOLDER, `'${password}'`)));
  });

  afterAll(async () => {
    await db.drop();
    await withClient(
      urlAs(db.url, new URL(db.url).username, decodeURIComponent(new URL(db.url).password), 'postgres'),
      (client) => client.query(`DROP ROLE IF EXISTS "${user}"`),
    );
  });

  it('creates every table with exactly the schema columns and types', async () => {
    const actual = await withClient(db.url, async (client) => {
      const { rows } = await client.query<{ table: string; name: string; type: string; not_null: boolean }>(
        `SELECT c.relname AS table, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY c.relname, a.attnum`,
        [SCHEMA],
      );
      return rows;
    });
    const expected = [
      ...EVENT_COLUMNS.map((column) => ({
        table: `events_${PROJECT}`,
        name: column.name,
        type: column.postgresType,
        not_null: column.required === true,
      })),
      ...LEDGER_COLUMNS.map((column) => ({
        table: 'export_loads',
        name: column.name,
        type: column.postgresType,
        not_null: column.notNull || column.name === 'batch_id',
      })),
      ...[
        ...ERASURE_COLUMNS.map((column) => ({ table: 'erasures', column })),
        ...ERASED_ID_COLUMNS.map((column) => ({ table: 'erased_amplitude_ids', column })),
      ].map(({ table, column }) => ({
        table,
        name: column.name,
        type: column.postgresType,
        not_null: column.notNull,
      })),
      ...MERGE_ID_COLUMNS.map((column) => ({
        table: `merge_ids_${PROJECT}`,
        name: column.name,
        type: column.postgresType,
        not_null: column.required === true,
      })),
    ].sort((a, b) => a.table.localeCompare(b.table));
    expect(actual).toEqual(expected);
  });

  it('is safe to run again (except CREATE USER, which the comment says to skip)', async () => {
    const sql = buildSetupSql({ dialect: 'postgres', schema: SCHEMA, projectId: PROJECT, user, database });
    const withoutUser = sql
      .split('\n')
      .filter((line) => !line.startsWith('CREATE USER'))
      .join('\n');
    await expect(withClient(db.url, (client) => client.query(withoutUser))).resolves.toBeDefined();
  });

  describe('as the pipeline user', () => {
    const asUser = <T>(work: (client: pg.Client) => Promise<T>) =>
      withClient(urlAs(db.url, user, password), work);
    const events = `"${SCHEMA}"."events_${PROJECT}"`;
    const ledger = `"${SCHEMA}"."export_loads"`;

    it('can insert and select rows, use temporary tables and lock the ledger', async () => {
      await asUser(async (client) => {
        await client.query('BEGIN');
        await client.query(`LOCK TABLE ${ledger} IN SHARE ROW EXCLUSIVE MODE`);
        await client.query('CREATE TEMPORARY TABLE scratch (x int)');
        await client.query(
          `INSERT INTO ${events} (uuid, event_type, amplitude_id, event_time, server_upload_time)
           VALUES ('u-1', 'open', 7, '2024-01-01 00:00:00', '2024-01-01 00:00:01')`,
        );
        await client.query(
          `INSERT INTO ${ledger} (batch_id, feed, rows_loaded, duplicates_skipped, quarantined, load_id, source)
           VALUES ('b-1', 'events', 1, 0, 0, 'l-1', 'live')`,
        );
        await client.query('COMMIT');
        const { rows } = await client.query(`SELECT uuid FROM ${events}`);
        expect(rows).toEqual([{ uuid: 'u-1' }]);
        const ledgerRows = await client.query(
          `SELECT batch_id, loaded_at IS NOT NULL AS stamped FROM ${ledger}`,
        );
        expect(ledgerRows.rows).toEqual([{ batch_id: 'b-1', stamped: true }]);
      });
    });

    it('can apply an erasure request: delete the rows and record the request, under the ledger lock', async () => {
      await asUser((client) =>
        client.query(
          `INSERT INTO ${events} (uuid, event_type, amplitude_id, user_id, event_time, server_upload_time)
           VALUES ('u-2', 'open', 8, 'erase-me', '2024-01-01 00:00:00', '2024-01-01 00:00:01')`,
        ),
      );
      const runner = new PostgresRunner({
        connectionString: urlAs(db.url, user, password),
        store: new FileSystemObjectStore(tmpdir()),
      });
      try {
        const outcome = await eraseFromWarehouse({
          runner,
          schema: SCHEMA,
          projectId: PROJECT,
          feeds: ['events', 'merge_ids'],
          identifiers: { userId: 'erase-me' },
          reference: 'TICKET-1',
          now: new Date('2024-02-01T00:00:00Z'),
        });
        expect(outcome.tables.map((table) => [table.table, table.rows])).toEqual([
          [`events_${PROJECT}`, 1],
          [`merge_ids_${PROJECT}`, 0],
        ]);
      } finally {
        await runner.close();
      }
      const left = await asUser((client) => client.query(`SELECT uuid FROM ${events} WHERE uuid = 'u-2'`));
      expect(left.rows).toEqual([]);
    });

    it.each([
      ['update exported rows', `UPDATE ${events} SET event_type = 'x'`],
      ['delete ledger rows', `DELETE FROM ${ledger}`],
      ['delete from the erasure list', `DELETE FROM "${SCHEMA}"."erasures"`],
      ['update the erasure list', `UPDATE "${SCHEMA}"."erasures" SET reference = 'x'`],
      ['delete erased Amplitude IDs', `DELETE FROM "${SCHEMA}"."erased_amplitude_ids"`],
      ['drop a table', `DROP TABLE ${events}`],
      ['truncate the ledger', `TRUNCATE ${ledger}`],
      ['create a table in the schema', `CREATE TABLE "${SCHEMA}".other (x int)`],
    ])('cannot %s', async (_what, sql) => {
      await asUser(async (client) => {
        await expect(client.query(sql)).rejects.toMatchObject({ code: '42501' });
      });
    });
  });
});
