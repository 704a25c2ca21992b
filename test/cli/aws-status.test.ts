import {
  DescribeStatementCommand,
  ExecuteStatementCommand,
  GetStatementResultCommand,
} from '@aws-sdk/client-redshift-data';
import {
  DescribeExecutionCommand,
  DescribeMapRunCommand,
  ListExecutionsCommand,
  ListMapRunsCommand,
} from '@aws-sdk/client-sfn';
import { beforeEach, describe, expect, it } from 'vitest';
import { type StatusReport, statusCommand } from '#cli/commands/aws-status.ts';
import {
  ACCOUNT,
  awsError,
  FULL_OUTPUTS,
  givenBucket,
  givenStack,
  mocks,
  REGION,
  resetMocks,
  SECRET_ARN,
  STACK,
  STATE_MACHINE_ARN,
  testDeps,
  testIo,
} from './aws-support.ts';

const ARGS = ['--stack', STACK, '--region', REGION];
const RUNNING_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:execution:BackfillStateMachine-Ab12:bf-2026010100-2026013123-events-c24`;
const FAILED_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:execution:BackfillStateMachine-Ab12:bf-2025120100-2025123123-events-c24`;

const FAILURE_REPORT = {
  batchId: 'ev-20260301-dead',
  feed: 'events',
  movedAt: '2026-03-02T04:00:00.000Z',
  reason: 'max-load-attempts',
  attempts: {
    attempts: 3,
    lastError: {
      name: 'PermanentWarehouseError',
      message: "COPY rejected value 'MARKER-7d1e'",
      loadId: 'l-1',
      alone: true,
      // As the loader writes them (load-errors.ts): values withheld, at most 20 rows.
      loadErrors: {
        source: 'sys_load_error_detail',
        details: [
          {
            file: 's3://staging-bucket/staging/events/2026-03-01/ev-20260301-dead/part-00003.csv.gz',
            line: 17,
            column: 'event_time',
            code: '1206',
            reason: 'Invalid timestamp format or value [YYYY-MM-DD HH24:MI:SS]',
          },
          {
            file: 's3://staging-bucket/staging/events/2026-03-01/ev-20260301-dead/part-00003.csv.gz',
            line: 18,
            column: 'event_time',
            code: '1206',
            reason: 'Invalid timestamp format or value [YYYY-MM-DD HH24:MI:SS]',
          },
        ],
        more: true,
      },
    },
  },
  nextStep: 'Fix the cause, then move the manifest back.',
};

function givenStaging(): void {
  givenBucket({
    'manifests/pending/events/ev-20260302-a.json': ['{}', '2026-03-02T05:45:00Z'],
    'manifests/pending/events/ev-20260302-b.json': ['{}', '2026-03-02T05:20:00Z'],
    'manifests/failed/events/ev-20260301-dead.json': ['{}', '2026-03-02T04:00:00Z'],
    'manifests/failed/events/ev-20260301-dead.error.json': [
      JSON.stringify(FAILURE_REPORT),
      '2026-03-02T04:00:00Z',
    ],
    'state/attempts/events/ev-20260302-b.json': [
      JSON.stringify({
        attempts: 1,
        lastFailedAt: '2026-03-02T05:50:00.000Z',
        lastError: { message: 'Too many active statements' },
      }),
      '2026-03-02T05:50:00Z',
    ],
    'manifests/loaded/events/ev-old.json': ['{}', '2026-03-01T00:00:00Z'],
  });
}

function givenLedger(): void {
  mocks.redshiftData.on(ExecuteStatementCommand).callsFake((input: { Sql: string }) => ({
    Id: input.Sql.includes('"erasures"')
      ? 'q-erasures'
      : input.Sql.includes('COUNT(*)')
        ? 'q-loads'
        : 'q-feeds',
  }));
  mocks.redshiftData.on(DescribeStatementCommand).resolves({ Status: 'FINISHED', HasResultSet: true });
  const columns = (...names: string[]) => names.map((name) => ({ name, label: name }));
  mocks.redshiftData.on(GetStatementResultCommand, { Id: 'q-loads' }).resolves({
    ColumnMetadata: columns(
      'load_id',
      'feed',
      'source',
      'batches',
      'rows_loaded',
      'duplicates_skipped',
      'quarantined',
      'rows_erased',
      'loaded_at',
    ),
    Records: [
      [
        { stringValue: 'load-20260302t055000-abc-e1' },
        { stringValue: 'events' },
        { stringValue: 'live' },
        { longValue: 2 },
        { longValue: 1200 },
        { longValue: 10 },
        { longValue: 1 },
        { longValue: 4 },
        { stringValue: '2026-03-02 05:50:12.123456' },
      ],
    ],
  });
  mocks.redshiftData.on(GetStatementResultCommand, { Id: 'q-erasures' }).resolves({
    ColumnMetadata: columns(
      'erasure_id',
      'reference',
      'project_id',
      'requested_at',
      'applied_at',
      'linked_amplitude_ids',
      'events_removed',
      'merge_ids_removed',
      'has_amplitude_id',
      'has_user_id',
      'has_device_id',
      'total',
    ),
    Records: [
      [
        { stringValue: 'er-20260301t090000-0a0b0c0d' },
        { stringValue: 'DSR-42' },
        { stringValue: '187520' },
        { stringValue: '2026-03-01 09:00:00' },
        { stringValue: '2026-03-01 09:00:03.5' },
        { longValue: 2 },
        { longValue: 17 },
        { isNull: true },
        { longValue: 1 },
        { longValue: 1 },
        { longValue: 0 },
        { longValue: 3 },
      ],
    ],
  });
  mocks.redshiftData.on(GetStatementResultCommand, { Id: 'q-feeds' }).resolves({
    ColumnMetadata: columns('feed', 'last_loaded_at', 'newest_time', 'rows_loaded'),
    Records: [
      [
        { stringValue: 'events' },
        { stringValue: '2026-03-02 05:50:12' },
        { stringValue: '2026-03-02 05:40:00' },
        { longValue: 9_000_000 },
      ],
    ],
  });
}

function givenBackfills(): void {
  mocks.sfn.on(ListExecutionsCommand, { statusFilter: 'RUNNING' }).resolves({
    executions: [
      {
        executionArn: RUNNING_ARN,
        stateMachineArn: STATE_MACHINE_ARN,
        name: 'bf-2026010100-2026013123-events-c24',
        status: 'RUNNING',
        startDate: new Date('2026-03-02T05:30:00Z'),
      },
    ],
  });
  mocks.sfn.on(ListExecutionsCommand, { statusFilter: 'FAILED' }).resolves({
    executions: [
      {
        executionArn: FAILED_ARN,
        stateMachineArn: STATE_MACHINE_ARN,
        name: 'bf-2025120100-2025123123-events-c24',
        status: 'FAILED',
        startDate: new Date('2026-03-01T10:00:00Z'),
        stopDate: new Date('2026-03-01T11:00:00Z'),
      },
    ],
  });
  mocks.sfn.on(ListMapRunsCommand).resolves({
    mapRuns: [
      {
        mapRunArn: 'arn:map',
        executionArn: RUNNING_ARN,
        stateMachineArn: STATE_MACHINE_ARN,
        startDate: new Date(),
      },
    ],
  });
  mocks.sfn.on(DescribeMapRunCommand).resolves({
    itemCounts: {
      pending: 10,
      running: 5,
      succeeded: 16,
      failed: 0,
      timedOut: 0,
      aborted: 0,
      total: 31,
      resultsWritten: 0,
    },
  });
  mocks.sfn.on(DescribeExecutionCommand, { executionArn: FAILED_ARN }).resolves({
    executionArn: FAILED_ARN,
    name: 'bf-2025120100-2025123123-events-c24',
    status: 'FAILED',
    error: 'BackfillChunksFailed',
    cause: '1 of 31 chunks failed',
  });
}

beforeEach(() => {
  resetMocks();
  givenStack();
  givenStaging();
  givenLedger();
  givenBackfills();
});

describe('status --json', () => {
  it('reports backlog, failures, loads, freshness, running backfills and the last errors', async () => {
    const io = testIo();
    expect(await statusCommand(testDeps())([...ARGS, '--json'], io)).toBe(0);
    const report = JSON.parse(io.out()) as StatusReport;

    expect(report.stack).toEqual({ name: STACK, region: REGION, status: 'UPDATE_COMPLETE' });
    expect(report.feeds[0]).toEqual({
      feed: 'events',
      pending: 2,
      oldestPendingSeconds: 2400,
      oldestPendingBatchId: 'ev-20260302-b',
      failed: 1,
      retrying: 1,
      lastLoadAt: '2026-03-02T05:50:12.000Z',
      newestTimeLoaded: '2026-03-02T05:40:00.000Z',
      freshnessSeconds: 1200,
      rowsLoaded: 9_000_000,
    });
    expect(report.feeds[1]).toEqual({ feed: 'merge_ids', pending: 0, failed: 0, retrying: 0 });
    expect(report.ledger).toEqual({ available: true, schema: 'amplitude' });
    expect(report.loads).toEqual([
      {
        loadId: 'load-20260302t055000-abc-e1',
        feed: 'events',
        source: 'live',
        batches: 2,
        rowsLoaded: 1200,
        duplicatesSkipped: 10,
        quarantined: 1,
        rowsErased: 4,
        loadedAt: '2026-03-02T05:50:12.123Z',
      },
    ]);
    expect(report.backfills).toMatchObject({
      available: true,
      running: [
        {
          name: 'bf-2026010100-2026013123-events-c24',
          progress: { total: 31, finished: 16, failed: 0, running: 5 },
        },
      ],
    });
    expect(report.errors.map((error) => [error.source, error.id])).toEqual([
      ['retrying-batch', 'ev-20260302-b'],
      ['failed-batch', 'ev-20260301-dead'],
      ['backfill', 'bf-2025120100-2025123123-events-c24'],
    ]);
    // The first row COPY rejected, from the load error details the loader recorded.
    expect(report.errors[1]?.message).toBe(
      "COPY rejected value '…'; COPY rejected part-00003.csv.gz line 17, column event_time: 1206 Invalid timestamp format or value [YYYY-MM-DD HH24:MI:SS] (2+ rows)",
    );
    expect(report.errors[1]?.where).toBe('manifests/failed/events/ev-20260301-dead.error.json');
  });

  it('shows the newest failures when there are more than it lists, whatever their key order', async () => {
    // The listing is in key order; by time, f0 failed first and f6 last.
    givenBucket(
      Object.fromEntries(
        [0, 1, 2, 3, 4, 5, 6].map((n) => [
          `manifests/failed/events/ev-20260301-f${n}.error.json`,
          [JSON.stringify({ reason: 'max-load-attempts' }), `2026-03-02T0${n + 1}:00:00Z`] as const,
        ]),
      ),
    );
    const io = testIo();
    expect(await statusCommand(testDeps())([...ARGS, '--json'], io)).toBe(0);
    const report = JSON.parse(io.out()) as StatusReport;
    expect(report.errors.map((error) => error.id)).toEqual([
      'ev-20260301-f6',
      'ev-20260301-f5',
      'ev-20260301-f4',
      'ev-20260301-f3',
      'ev-20260301-f2',
    ]);
  });

  it("queries the ledger with the stack's secret, database and cluster through the Data API", async () => {
    await statusCommand(testDeps())([...ARGS, '--json'], testIo());
    const calls = mocks.redshiftData.commandCalls(ExecuteStatementCommand).map((call) => call.args[0].input);
    expect(calls).toHaveLength(3);
    for (const call of calls) {
      expect(call).toMatchObject({ Database: 'dev', SecretArn: SECRET_ARN, ClusterIdentifier: 'analytics' });
    }
    expect(calls.map((call) => call.Sql?.match(/FROM ("amplitude"\."\w+")/)?.[1])).toEqual([
      '"amplitude"."export_loads"',
      '"amplitude"."export_loads"',
      '"amplitude"."erasures"',
    ]);
    // The loads of this stack's project only: another project may share the schema.
    for (const call of calls.slice(0, 2)) {
      expect(call.Sql).toContain(`WHERE "target_table" IN ('events_187520', 'merge_ids_187520', '')`);
    }
    // The erasure query reads whether an identifier was given, never the identifier itself.
    expect(calls[2]?.Sql).not.toMatch(/SELECT[^;]*"user_id",/);
  });
});

describe('status', () => {
  it('prints compact tables', async () => {
    const io = testIo();
    await statusCommand(testDeps())(ARGS, io);
    const text = io.out();
    expect(text).toContain(`Stack ${STACK} (${REGION}, UPDATE_COMPLETE) at 2026-03-02 06:00:00 UTC`);
    expect(text).toMatch(/events\s+2\s+40m\s+1\s+1\s+9m ago\s+2026-03-02 05:40:00\s+20m/);
    expect(text).toMatch(
      /2026-03-02 05:50:12\s+events\s+live\s+2\s+1200\s+10\s+1\s+4\s+load-20260302t055000-abc-e1/,
    );
    expect(text).toMatch(
      /loaded at \(UTC\)\s+feed\s+source\s+batches\s+rows\s+duplicates\s+quarantined\s+erased\s+load id/,
    );
    expect(text).toContain('bf-2026010100-2026013123-events-c24  started 30m ago');
    expect(text).toContain('16/31 chunks finished, 5 running');
    expect(text).toContain('2026-03-02 05:50:00 UTC  retrying-batch events  ev-20260302-b');
    expect(text).toContain('Erasure requests (3, newest 1)');
    expect(text).toMatch(
      /2026-03-01 09:00:03\s+DSR-42\s+amplitude_id\+user_id\s+2\s+17\s+-\s+er-20260301t090000-0a0b0c0d/,
    );
    expect(text).not.toContain('MARKER-7d1e');
  });

  it('still shows the bucket and the backfills when the stack lacks the Data API outputs', async () => {
    resetMocks();
    const { RedshiftDatabase: _d, RedshiftClusterIdentifier: _c, ...older } = FULL_OUTPUTS;
    givenStack(older);
    givenStaging();
    givenBackfills();
    const io = testIo();
    expect(await statusCommand(testDeps())([...ARGS, '--json'], io)).toBe(0);
    const report = JSON.parse(io.out()) as StatusReport;
    expect(report.ledger).toEqual({
      available: false,
      reason: expect.stringContaining(
        'no output RedshiftDatabase, RedshiftClusterIdentifier or RedshiftWorkgroupName',
      ),
    });
    expect(report.feeds[0]?.pending).toBe(2);
    expect(mocks.redshiftData.calls()).toHaveLength(0);
  });

  it('says what failed when the ledger query fails, without the quoted text', async () => {
    mocks.redshiftData.on(DescribeStatementCommand).resolves({
      Status: 'FAILED',
      Error: "ERROR: permission denied for relation export_loads near 'x'",
    });
    const io = testIo();
    await statusCommand(testDeps())([...ARGS, '--json'], io);
    const report = JSON.parse(io.out()) as StatusReport;
    expect(report.ledger.available).toBe(false);
    const reason = (report.ledger as { reason: string }).reason;
    expect(reason).toContain('permission denied');
    expect(reason).toContain(`redshift-export verify --stack ${STACK}`);
    expect(reason).not.toContain("'x'");
  });

  it('still shows the loads when the erasure list is missing (setup SQL of an older version)', async () => {
    mocks.redshiftData
      .on(GetStatementResultCommand, { Id: 'q-erasures' })
      .rejects(awsError('ValidationException', 'ERROR: relation "amplitude.erasures" does not exist'));
    const io = testIo();
    await statusCommand(testDeps())([...ARGS, '--json'], io);
    const report = JSON.parse(io.out()) as StatusReport;
    expect(report.ledger.available).toBe(true);
    expect(report.loads).toHaveLength(1);
    expect(report.erasures).toEqual({
      available: false,
      reason: expect.stringContaining('the erasure list query failed'),
    });
  });

  it('retries throttled Step Functions calls', async () => {
    mocks.sfn
      .on(ListExecutionsCommand, { statusFilter: 'RUNNING' })
      .rejectsOnce(awsError('ThrottlingException', 'Rate exceeded'))
      .resolves({ executions: [] });
    const io = testIo();
    const deps = testDeps();
    await statusCommand(deps)([...ARGS, '--json'], io);
    expect((JSON.parse(io.out()) as StatusReport).backfills).toEqual({ available: true, running: [] });
    expect(deps.slept).toContain(1000);
  });

  it('requires --stack', async () => {
    await expect(statusCommand(testDeps())([], testIo())).rejects.toThrow(/--stack is required/);
  });
});
