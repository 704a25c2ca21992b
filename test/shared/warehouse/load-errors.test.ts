import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runLoader } from '#shared/pipeline/loader/loader.ts';
import { attemptsKey } from '#shared/pipeline/loader/state.ts';
import {
  loadErrorDetailsQuery,
  loadErrorReportOf,
  MAX_LOAD_ERROR_DETAILS,
  withholdValues,
} from '#shared/warehouse/load-errors.ts';
import { createTestDatabase } from '#test/support/postgres.ts';
import { eventRow, settingsFor, stageBatch, tempStoreDir } from '../pipeline/loader/fixtures.ts';
import {
  COPY_REJECTED,
  catalogue,
  fakeDataApi,
  mock,
  SECRET,
  SYS_ROW_FILE,
  sysRows,
} from './fake-data-api.ts';

/**
 * Load error details on Redshift, read through a fake Data API client that answers as the
 * documented system tables would; and the very SQL sent to it, run on real PostgreSQL against
 * tables with the documented columns (raw values included), to show what it selects.
 */

const PART = SYS_ROW_FILE;
const OTHER_PART = 's3://staging-bucket/staging/events/2024-03-01/ev_bad-1/part-00000.csv.gz';

// The columns the SQL may select, per source; anything else (raw_line, raw_field_value,
// column_value, ...) would carry the row's values.
const SAFE_COLUMNS = new Set([
  'file_name',
  'line_number',
  'column_name',
  'error_code',
  'error_message',
  'filename',
  'colname',
  'err_code',
  'err_reason',
]);

/** Identifiers in the SELECT list of a statement (functions and AS aside). */
function selectedColumns(sql: string): string[] {
  const match = /^\s*SELECT\s+([\s\S]+?)\s+FROM\s/i.exec(sql);
  if (!match) throw new Error(`Not a SELECT: ${sql}`);
  const words = match[1]!.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? [];
  return words.filter((word) => !/^(TRIM|AS)$/i.test(word));
}

beforeEach(() => {
  mock.reset();
});

describe('load error details through the Data API', () => {
  it('reads SYS_LOAD_ERROR_DETAIL: file, line, column, code, reason, never a value column', async () => {
    const { runner, sent } = fakeDataApi({ sys: sysRows });

    const details = await runner.loadErrorDetails({ files: [OTHER_PART, PART] });

    expect(details).toEqual({
      source: 'sys_load_error_detail',
      details: [
        {
          file: PART,
          line: 3,
          column: 'amplitude_id',
          code: '1207',
          reason: 'Invalid digit, Value (value withheld), Pos 0, Type: Long',
        },
      ],
    });
    expect(sent).toHaveLength(1);
    expect(sent[0]).toContain('FROM sys_load_error_detail');
    expect(selectedColumns(sent[0]!).every((column) => SAFE_COLUMNS.has(column))).toBe(true);
    expect(sent[0]).not.toMatch(/raw_line|raw_field_value|column_value|\bposition\b/i);
    expect(JSON.stringify(details)).not.toContain(SECRET);
  });

  it('falls back to STL_LOAD_ERRORS where the SYS view does not exist', async () => {
    const stl = sysRows.map((row) => ({ ...row, error_message: `Invalid digit, Value '${SECRET}` }));
    const { runner, sent } = fakeDataApi({ stl });

    const details = await runner.loadErrorDetails({ files: [PART] });

    expect(sent.map((sql) => /FROM (\w+)/.exec(sql)?.[1])).toEqual([
      'sys_load_error_detail',
      'stl_load_errors',
    ]);
    expect(selectedColumns(sent[1]!).every((column) => SAFE_COLUMNS.has(column))).toBe(true);
    expect(sent[1]).not.toMatch(/raw_line|raw_field_value/i);
    // err_reason is CHAR(100): a value cut off before its closing quote is still withheld.
    expect(details).toEqual({
      source: 'stl_load_errors',
      details: [
        {
          file: PART,
          line: 3,
          column: 'amplitude_id',
          code: '1207',
          reason: 'Invalid digit, Value (value withheld)',
        },
      ],
    });
  });

  it('puts the details into the failure report of the batch a live load could not COPY', async () => {
    const { store, remove } = await tempStoreDir();
    try {
      const staged = await stageBatch(store, {
        batchId: 'ev-bad',
        feed: 'events',
        rows: [eventRow('u-1'), eventRow('u-2')],
      });
      const part = staged.entries[0]!.url;
      const { runner } = fakeDataApi({
        sys: [{ ...sysRows[0]!, file_name: part, line_number: 2 }],
      });
      const summary = await runLoader({
        store,
        runner,
        settings: settingsFor('amplitude', { feeds: ['events'] }),
        clock: () => new Date('2024-03-02T12:00:00Z'),
      });

      const detail = {
        file: part,
        line: 2,
        column: 'amplitude_id',
        code: '1207',
        reason: 'Invalid digit, Value (value withheld), Pos 0, Type: Long',
      };
      expect(summary.errors).toMatchObject([
        {
          kind: 'batch',
          batchIds: ['ev-bad'],
          loadErrors: { source: 'sys_load_error_detail', details: [detail] },
        },
      ]);
      const attempts = JSON.parse((await store.getBytes(attemptsKey('events', 'ev-bad'))).toString('utf8'));
      expect(attempts.lastError.loadErrors).toEqual({ source: 'sys_load_error_detail', details: [detail] });
      expect(JSON.stringify([summary, attempts])).not.toContain(SECRET);
    } finally {
      await remove();
    }
  });

  it('keeps the batch failure when the details cannot be read, and says why', async () => {
    const { runner } = fakeDataApi({
      queryFails: 'ERROR: permission denied for relation sys_load_error_detail',
    });

    const report = await loadErrorReportOf(runner, { errorText: COPY_REJECTED, files: [PART] });

    expect(report).toEqual({
      details: [],
      unavailable: expect.stringMatching(
        /^The load error details could not be read \(systemic PermissionDenied: /,
      ),
    });
    // A failure that is not about rejected rows reads nothing.
    expect(
      await loadErrorReportOf(runner, {
        errorText: catalogue.errors.find((row) => row.id === 's3-staged-part-missing')!.text,
        files: [PART],
      }),
    ).toBeUndefined();
  });
});

describe('the load error query on the documented columns (real PostgreSQL)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let connection: pg.Client;
  beforeAll(async () => {
    db = await createTestDatabase('load_errors_sql');
    connection = new pg.Client({ connectionString: db.url });
    await connection.connect();
    // The documented columns of both tables, in their documented types, raw values included.
    await connection.query(`CREATE TABLE sys_load_error_detail (
      user_id integer, query_id bigint, transaction_id bigint, session_id integer, database_name character(64),
      table_id integer, start_time timestamp, file_name character(256), line_number bigint, column_name character(127),
      column_type character(10), column_length character(10), position integer, error_code integer,
      error_message character(512), column_value character(1024), raw_line character(1024))`);
    await connection.query(`CREATE TABLE stl_load_errors (
      userid integer, slice integer, tbl integer, starttime timestamp, session integer, query integer,
      filename character(256), line_number bigint, colname character(127), type character(10), col_length character(10),
      position integer, raw_line character(1024), raw_field_value character(1024), err_code integer, err_reason character(100),
      is_partial integer, start_offset bigint)`);
  });
  afterEach(async () => {
    await connection.query('TRUNCATE sys_load_error_detail, stl_load_errors');
  });
  afterAll(async () => {
    await connection.end();
    await db.drop();
  });

  it('returns only the newest failed COPY of these files, bounded, with no value column', async () => {
    const insert = (query: number, file: string, line: number) =>
      connection.query(
        `INSERT INTO sys_load_error_detail (user_id, query_id, start_time, file_name, line_number, column_name, error_code, error_message, column_value, raw_line)
         VALUES (100, $1, now(), $2, $3, 'amplitude_id', 1207, $4, $5, $5)`,
        [query, file, line, `Invalid digit, Value '${SECRET}', Pos 0, Type: Long`, SECRET],
      );
    // An earlier attempt of the same batch, and another batch's failure (its folder starts alike).
    await insert(500, PART, 9);
    await insert(900, PART.replace('ev_bad-1', 'ev_bad-10'), 1);
    await insert(700, 's3://staging-bucket/staging/events/2024-03-01/evxbad-1/part-00000.csv.gz', 1);
    for (let line = 1; line <= MAX_LOAD_ERROR_DETAILS + 5; line++) await insert(600, PART, line);

    const sql = loadErrorDetailsQuery('sys_load_error_detail', [PART, OTHER_PART]);
    const result = await connection.query(sql);

    expect(result.fields.map((field) => field.name)).toEqual([
      'file_name',
      'line_number',
      'column_name',
      'error_code',
      'error_message',
    ]);
    expect(result.rows).toHaveLength(MAX_LOAD_ERROR_DETAILS + 1);
    expect(new Set(result.rows.map((row) => row.file_name))).toEqual(new Set([PART]));
    expect(result.rows.map((row) => Number(row.line_number))).toEqual(
      Array.from({ length: MAX_LOAD_ERROR_DETAILS + 1 }, (_, index) => index + 1),
    );
    expect(JSON.stringify(result.rows.map(({ error_message: _, ...rest }) => rest))).not.toContain(SECRET);
  });

  it('reads STL_LOAD_ERRORS by its own column names, never raw_line or raw_field_value', async () => {
    await connection.query(
      `INSERT INTO stl_load_errors (query, starttime, filename, line_number, colname, raw_line, raw_field_value, err_code, err_reason)
       VALUES (42, now(), $1, 7, 'event_time', $2, $2, 1206, 'Invalid timestamp format or value [YYYY-MM-DD HH24:MI:SS]')`,
      [PART, SECRET],
    );
    const result = await connection.query(loadErrorDetailsQuery('stl_load_errors', [PART]));
    expect(result.rows).toEqual([
      {
        file_name: PART,
        line_number: '7',
        column_name: 'event_time',
        error_code: 1206,
        error_message: 'Invalid timestamp format or value [YYYY-MM-DD HH24:MI:SS]',
      },
    ]);
  });
});

describe('withholdValues', () => {
  it.each([
    [
      "Invalid digit, Value 'a', Pos 0, Type: Integer",
      'Invalid digit, Value (value withheld), Pos 0, Type: Integer',
    ],
    [
      'String contains invalid or unsupported UTF-8 codepoints. Bad UTF-8 hex sequence: a4 (error 3)',
      'String contains invalid or unsupported UTF-8 codepoints. Bad UTF-8 hex sequence: (value withheld) (error 3)',
    ],
    [
      'Multibyte character not supported for CHAR (Hint: Try using VARCHAR). Invalid char: e0 a1 c7a4',
      'Multibyte character not supported for CHAR (Hint: Try using VARCHAR). Invalid char: (value withheld)',
    ],
    ['invalid input syntax for type bigint: "abc"', 'invalid input syntax for type bigint: (value withheld)'],
    ['String length exceeds DDL length', 'String length exceeds DDL length'],
  ])('%s', (text, expected) => {
    expect(withholdValues(text)).toBe(expected);
  });
});
