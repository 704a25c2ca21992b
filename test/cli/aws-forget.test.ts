import { tmpdir } from 'node:os';
import {
  BatchExecuteStatementCommand,
  DescribeStatementCommand,
  ExecuteStatementCommand,
  type Field,
  GetStatementResultCommand,
} from '@aws-sdk/client-redshift-data';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { forgetCommand } from '#cli/commands/aws-forget.ts';
import { ensureWarehouseObjects } from '#shared/sql/ensure.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import { PostgresRunner } from '#shared/warehouse/postgres.ts';
import { createTestDatabase } from '#test/support/postgres.ts';
import {
  BUCKET,
  FULL_OUTPUTS,
  failureOf,
  givenStack,
  mocks,
  REGION,
  resetMocks,
  SECRET_ARN,
  STACK,
  testDeps,
  testIo,
} from './aws-support.ts';

const ARGS = ['--stack', STACK, '--region', REGION];
const PROJECT = FULL_OUTPUTS.ProjectId!;

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let warehouse: PostgresRunner;

/**
 * The Data API, played by a real PostgreSQL: the SQL the command sends in Redshift's dialect
 * runs for real (it is the subset both accept), and results come back as Data API records.
 */
function givenDataApiOnPostgres(): void {
  const results = new Map<string, Record<string, unknown>[]>();
  let next = 0;
  mocks.redshiftData.on(BatchExecuteStatementCommand).callsFake(async (input: { Sqls: string[] }) => {
    await warehouse.transaction(input.Sqls);
    return { Id: `batch-${++next}` };
  });
  mocks.redshiftData.on(ExecuteStatementCommand).callsFake(async (input: { Sql: string }) => {
    const id = `query-${++next}`;
    results.set(id, await warehouse.query(input.Sql));
    return { Id: id };
  });
  mocks.redshiftData.on(DescribeStatementCommand).callsFake((input: { Id: string }) => ({
    Id: input.Id,
    Status: 'FINISHED',
    HasResultSet: results.has(input.Id),
  }));
  mocks.redshiftData.on(GetStatementResultCommand).callsFake((input: { Id: string }) => {
    const rows = results.get(input.Id) ?? [];
    const names = Object.keys(rows[0] ?? {});
    const field = (value: unknown): Field =>
      value === null || value === undefined
        ? { isNull: true }
        : typeof value === 'number'
          ? { longValue: value }
          : typeof value === 'boolean'
            ? { booleanValue: value }
            : { stringValue: String(value) };
    return {
      ColumnMetadata: names.map((name) => ({ name, label: name })),
      Records: rows.map((row) => names.map((name) => field(row[name]))),
    };
  });
}

beforeAll(async () => {
  db = await createTestDatabase('aws_forget');
  warehouse = new PostgresRunner({ connectionString: db.url, store: new FileSystemObjectStore(tmpdir()) });
  await ensureWarehouseObjects(warehouse, {
    schema: 'amplitude',
    projectId: PROJECT,
    feeds: ['events', 'merge_ids'],
  });
  await warehouse.transaction([
    `INSERT INTO amplitude.events_${PROJECT} (uuid, event_type, amplitude_id, user_id, event_time, server_upload_time) VALUES
       ('e-1', 'open', 41, 'person-41', '2026-02-01 10:00:00', '2026-02-01 10:00:01'),
       ('e-2', 'open', 42, NULL, '2026-02-03 12:30:00', '2026-02-03 12:30:01'),
       ('e-3', 'open', 50, 'someone-else', '2026-02-01 10:00:00', '2026-02-01 10:00:01')`,
    `INSERT INTO amplitude.merge_ids_${PROJECT} (amplitude_id, merged_amplitude_id, merge_event_time, merge_server_time) VALUES
       (41, 42, '2026-02-02 00:00:00', '2026-02-02 00:00:01')`,
    `INSERT INTO amplitude.export_loads (batch_id, feed, rows_loaded, duplicates_skipped, quarantined, load_id, source, min_time, max_time, loaded_at) VALUES
       ('ev-20260201-aa', 'events', 2, 0, 0, 'l-1', 'live', '2026-02-01 09:00:00', '2026-02-01 11:00:00', '2026-02-01 12:00:00'),
       ('ev-20260210-bb', 'events', 9, 0, 0, 'l-2', 'live', '2026-02-10 00:00:00', '2026-02-10 23:00:00', '2026-02-11 00:00:00')`,
  ]);
});

afterAll(async () => {
  await warehouse.close();
  await db.drop();
});

beforeEach(() => {
  resetMocks();
  givenStack({ ...FULL_OUTPUTS, StagingRetentionDays: '7', QuarantineRetentionDays: '30' });
  givenDataApiOnPostgres();
});

describe('forget (deployed stack)', () => {
  it("applies the erasure as ONE Data API transaction with the stack's secret, starting with the ledger LOCK", async () => {
    const io = testIo();
    const code = await forgetCommand(testDeps())(
      [...ARGS, '--amplitude-id', '42', '--reference', 'JIRA-9'],
      io,
    );

    expect(code).toBe(0);
    const batches = mocks.redshiftData
      .commandCalls(BatchExecuteStatementCommand)
      .map((call) => call.args[0].input);
    expect(batches).toHaveLength(1);
    expect(batches[0]).toMatchObject({
      Database: 'dev',
      SecretArn: SECRET_ARN,
      ClusterIdentifier: 'analytics',
      StatementName: 'amplitude-export-forget',
      ClientToken: expect.stringMatching(/^er-20260302t060000-[0-9a-f]{8}$/),
    });
    expect(batches[0]?.Sqls?.[0]).toBe('LOCK "amplitude"."export_loads"');

    const text = io.out();
    expect(text).toContain('recorded (reference JIRA-9) for amplitude_id 42.');
    expect(text).toMatch(
      new RegExp(`events_${PROJECT} +2 rows removed \\(2026-02-01 10:00 to 2026-02-03 12:30 UTC\\)`),
    );
    expect(text).toMatch(new RegExp(`merge_ids_${PROJECT} +1 row removed`));
    expect(text).toContain('Amplitude IDs merged with it: 1');
    // Only the batch whose rows span the removed range, with the stack's retention.
    expect(text).toContain('(staged parts 7 days, quarantine records 30 days after they were written)');
    expect(text).toContain(`s3://${BUCKET}/staging/events/*/ev-20260201-aa/`);
    expect(text).not.toContain('ev-20260210-bb');
    // The merged ID as a number of its own: the erasure id's random hex part may hold the digits 41.
    expect(text).not.toMatch(/\b41\b/);
    expect(text).not.toContain('person-41');

    const left = await warehouse.query(`SELECT uuid FROM amplitude.events_${PROJECT} ORDER BY uuid`);
    expect(left).toEqual([{ uuid: 'e-3' }]);
  });

  it('runs only read queries in a dry run and records nothing', async () => {
    const io = testIo();
    const code = await forgetCommand(testDeps())(
      [...ARGS, '--user-id', 'someone-else', '--reference', 'JIRA-10', '--dry-run'],
      io,
    );

    expect(code).toBe(0);
    expect(mocks.redshiftData.commandCalls(BatchExecuteStatementCommand)).toHaveLength(0);
    expect(io.out()).toContain('Dry run for user_id "someone-else" (reference JIRA-10)');
    expect(io.out()).toMatch(new RegExp(`events_${PROJECT} +1 row would be removed`));
    const recorded = await warehouse.query(
      "SELECT erasure_id FROM amplitude.erasures WHERE reference = 'JIRA-10'",
    );
    expect(recorded).toEqual([]);
  });

  it('says which outputs an older stack lacks, before touching the warehouse', async () => {
    resetMocks();
    const { RedshiftDatabase: _d, ...older } = FULL_OUTPUTS;
    givenStack(older);
    const error = await failureOf(
      forgetCommand(testDeps())([...ARGS, '--device-id', 'd', '--reference', 'R'], testIo()),
    );
    expect(error.message).toContain('has no output RedshiftDatabase');
    expect(mocks.redshiftData.calls()).toHaveLength(0);
  });

  it('refuses a malformed identifier before reading the stack', async () => {
    const error = await failureOf(
      forgetCommand(testDeps())([...ARGS, '--amplitude-id', '12x', '--reference', 'R'], testIo()),
    );
    expect(error.name).toBe('ConfigError');
    expect(mocks.cloudFormation.calls()).toHaveLength(0);
  });
});
