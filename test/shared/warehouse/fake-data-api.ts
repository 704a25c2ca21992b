import { readFileSync } from 'node:fs';
import {
  BatchExecuteStatementCommand,
  type ColumnMetadata,
  DescribeStatementCommand,
  ExecuteStatementCommand,
  type Field,
  GetStatementResultCommand,
  RedshiftDataClient,
} from '@aws-sdk/client-redshift-data';
import { mockClient } from 'aws-sdk-client-mock';
import { RedshiftDataApiRunner } from '#shared/warehouse/redshift-data.ts';

/**
 * A fake Redshift Data API (aws-sdk-client-mock) for load error tests: load transactions end
 * FAILED with Redshift's rejected-data text, ledger queries return no rows, and the load error
 * queries return the rows given, as GetStatementResult returns them.
 */

/** A value of the rejected row: no report may contain it. */
export const SECRET = 'user-4711@example.com';
/** The staged part the rows of `sysRows` name. */
export const SYS_ROW_FILE = 's3://staging-bucket/staging/events/2024-03-01/ev_bad-1/part-00001.csv.gz';

export const catalogue = JSON.parse(
  readFileSync(new URL('./error-catalogue.json', import.meta.url), 'utf8'),
) as {
  errors: { id: string; text: string }[];
};
/** Redshift's text for a relation that does not exist (catalogue row `relation-missing`), for the SYS view. */
export const SYS_VIEW_MISSING = catalogue.errors
  .find((row) => row.id === 'relation-missing')!
  .text.replace('amplitude.export_loads', 'sys_load_error_detail');
/** The FAILED load's text (catalogue row `data-sys-load-error-detail`). */
export const COPY_REJECTED = catalogue.errors.find((row) => row.id === 'data-sys-load-error-detail')!.text;

const client = new RedshiftDataClient({ region: 'eu-west-1' });
export const mock = mockClient(client);

export interface FakeTables {
  /** Rows of sys_load_error_detail, or undefined when the view does not exist (older clusters). */
  sys?: Record<string, string | number>[];
  stl?: Record<string, string | number>[];
  /** Text of a failure of every load error query. */
  queryFails?: string;
}

/**
 * A Data API that runs load transactions into the COPY_REJECTED failure, answers ledger
 * queries with no rows and load error queries with the given rows, the way GetStatementResult
 * returns them (ColumnMetadata + Records).
 */
export function fakeDataApi(tables: FakeTables) {
  const sent: string[] = [];
  const results = new Map<string, { error?: string; rows: Record<string, string | number>[] }>();
  let next = 0;
  mock.on(BatchExecuteStatementCommand).callsFake(() => {
    const id = `batch-${++next}`;
    results.set(id, { error: COPY_REJECTED, rows: [] });
    return { Id: id };
  });
  mock.on(ExecuteStatementCommand).callsFake((input: { Sql: string }) => {
    const id = `query-${++next}`;
    sent.push(input.Sql);
    if (/sys_load_error_detail|stl_load_errors/.test(input.Sql) && tables.queryFails) {
      results.set(id, { error: tables.queryFails, rows: [] });
    } else if (input.Sql.includes('sys_load_error_detail')) {
      results.set(id, tables.sys ? { rows: tables.sys } : { error: SYS_VIEW_MISSING, rows: [] });
    } else if (input.Sql.includes('stl_load_errors')) {
      results.set(id, { rows: tables.stl ?? [] });
    } else {
      results.set(id, { rows: [] });
    }
    return { Id: id };
  });
  mock.on(DescribeStatementCommand).callsFake((input: { Id: string }) => {
    const result = results.get(input.Id)!;
    return result.error
      ? { Id: input.Id, Status: 'FAILED', Error: result.error }
      : { Id: input.Id, Status: 'FINISHED', HasResultSet: true };
  });
  mock.on(GetStatementResultCommand).callsFake((input: { Id: string }) => {
    const rows = results.get(input.Id)!.rows;
    const names = ['file_name', 'line_number', 'column_name', 'error_code', 'error_message'];
    const columns: ColumnMetadata[] = names.map((name) => ({ name }));
    const records: Field[][] = rows.map((row) =>
      names.map((name): Field => {
        const value = row[name];
        return typeof value === 'number' ? { longValue: value } : { stringValue: String(value) };
      }),
    );
    return { ColumnMetadata: columns, Records: records, TotalNumRows: records.length };
  });
  const runner = new RedshiftDataApiRunner({
    client,
    database: 'analytics',
    secretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:redshift-export-AbCdEf',
    target: { workgroupName: 'export-wg' },
    pollIntervalMs: 1,
    sleep: async () => undefined,
  });
  return { runner, sent };
}

/** Rows as SYS_LOAD_ERROR_DETAIL shows them: CHAR columns padded, the value quoted in error_message. */
export const sysRows = [
  {
    file_name: `${SYS_ROW_FILE}${' '.repeat(20)}`,
    line_number: 3,
    column_name: 'amplitude_id    ',
    error_code: 1207,
    error_message: `Invalid digit, Value '${SECRET}', Pos 0, Type: Long`,
  },
];
