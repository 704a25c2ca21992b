import {
  ActiveSessionsExceededException,
  ActiveStatementsExceededException,
  BatchExecuteStatementCommand,
  BatchExecuteStatementException,
  DescribeStatementCommand,
  type DescribeStatementResponse,
  ExecuteStatementCommand,
  ExecuteStatementException,
  GetStatementResultCommand,
  RedshiftDataClient,
  ResourceNotFoundException,
  ValidationException,
} from '@aws-sdk/client-redshift-data';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { RedshiftDataApiRunner } from '#shared/warehouse/redshift-data.ts';
import {
  MAX_TRANSACTION_STATEMENTS,
  PermanentWarehouseError,
  RetryableWarehouseError,
} from '#shared/warehouse/sql-runner.ts';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:redshift-export-AbCdEf';
const client = new RedshiftDataClient({ region: 'eu-west-1' });
const mock = mockClient(client);

/** A sleep that records its waits and moves a fake clock instead of waiting. */
function fakeTime() {
  let now = Date.parse('2025-01-01T00:00:00Z');
  const sleeps: number[] = [];
  return {
    sleeps,
    clock: () => new Date(now),
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
  };
}

function runner(overrides: Partial<ConstructorParameters<typeof RedshiftDataApiRunner>[0]> = {}) {
  const time = fakeTime();
  const instance = new RedshiftDataApiRunner({
    client,
    database: 'analytics',
    secretArn: SECRET_ARN,
    target: { clusterIdentifier: 'prod-cluster' },
    pollIntervalMs: 100,
    maxPollIntervalMs: 800,
    timeoutMs: 60_000,
    sleep: time.sleep,
    clock: time.clock,
    random: () => 0.5,
    ...overrides,
  });
  return { runner: instance, time };
}

const finished = (id: string, rows: number[] = []): DescribeStatementResponse => ({
  Id: id,
  Status: 'FINISHED',
  SubStatements: rows.map((count, index) => ({
    Id: `${id}:${index + 1}`,
    Status: 'FINISHED',
    ResultRows: count,
  })),
});
const failed = (id: string, error: string): DescribeStatementResponse => ({
  Id: id,
  Status: 'FAILED',
  Error: error,
});

beforeEach(() => {
  mock.reset();
});

describe('RedshiftDataApiRunner.transaction', () => {
  it('sends all statements in one BatchExecuteStatement to the cluster and returns row counts in order', async () => {
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-1' });
    mock.on(DescribeStatementCommand).resolves({
      Id: 'batch-1',
      Status: 'FINISHED',
      // Deliberately out of order: the adapter orders by position, not by array order.
      SubStatements: [
        { Id: 'batch-1:3', Status: 'FINISHED', ResultRows: 7 },
        { Id: 'batch-1:1', Status: 'FINISHED', ResultRows: -1 },
        { Id: 'batch-1:2', Status: 'FINISHED', ResultRows: 42 },
      ],
    });
    const { runner: r } = runner({ statementName: 'redshift-export-load' });
    const statements = ['CREATE TEMP TABLE s (LIKE t)', 'COPY s FROM ...', 'INSERT INTO t SELECT * FROM s'];

    const result = await r.transaction(statements, { clientToken: 'load-0001' });

    expect(result).toEqual({ statementId: 'batch-1', rowCounts: [0, 42, 7] });
    const calls = mock.commandCalls(BatchExecuteStatementCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      Sqls: statements,
      Database: 'analytics',
      SecretArn: SECRET_ARN,
      ClusterIdentifier: 'prod-cluster',
      ClientToken: 'load-0001',
      StatementName: 'redshift-export-load',
    });
    expect(mock.commandCalls(DescribeStatementCommand)[0]!.args[0].input).toEqual({ Id: 'batch-1' });
  });

  it('targets a Serverless workgroup and omits ClientToken when none is given', async () => {
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-2' });
    mock.on(DescribeStatementCommand).resolves(finished('batch-2', [1]));
    const { runner: r } = runner({ target: { workgroupName: 'export-wg' } });

    await r.transaction(['SELECT 1']);

    const input = mock.commandCalls(BatchExecuteStatementCommand)[0]!.args[0].input;
    expect(input.WorkgroupName).toBe('export-wg');
    expect(input).not.toHaveProperty('ClusterIdentifier');
    expect(input).not.toHaveProperty('ClientToken');
    expect(input).not.toHaveProperty('StatementName');
  });

  it(`accepts ${MAX_TRANSACTION_STATEMENTS} statements and refuses ${MAX_TRANSACTION_STATEMENTS + 1} without calling AWS`, async () => {
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-3' });
    mock.on(DescribeStatementCommand).resolves(finished('batch-3'));
    const { runner: r } = runner();
    const sql = (n: number) => Array.from({ length: n }, (_, i) => `SELECT ${i}`);

    await expect(r.transaction(sql(MAX_TRANSACTION_STATEMENTS))).resolves.toMatchObject({
      statementId: 'batch-3',
    });
    const tooMany = r.transaction(sql(MAX_TRANSACTION_STATEMENTS + 1));
    await expect(tooMany).rejects.toBeInstanceOf(PermanentWarehouseError);
    await expect(tooMany).rejects.toThrow(/41 SQL statements.*at most 40/);
    expect(mock.commandCalls(BatchExecuteStatementCommand)).toHaveLength(1);
    await expect(r.transaction([])).rejects.toThrow(/at least one SQL statement/);
    // A statement over the Data API's 100 KB is refused before any call, too.
    const tooLarge = r.startTransaction(['LOCK t', `SELECT '${'x'.repeat(100_000)}'`]);
    await expect(tooLarge).rejects.toMatchObject({ code: 'StatementTooLarge' });
    expect(mock.commandCalls(BatchExecuteStatementCommand)).toHaveLength(1);
  });

  it('polls through SUBMITTED, PICKED and STARTED with growing, capped backoff', async () => {
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-4' });
    mock
      .on(DescribeStatementCommand)
      .resolvesOnce({ Id: 'batch-4', Status: 'SUBMITTED' })
      .resolvesOnce({ Id: 'batch-4', Status: 'PICKED' })
      .resolvesOnce({ Id: 'batch-4', Status: 'STARTED' })
      .resolvesOnce({ Id: 'batch-4', Status: 'STARTED' })
      .resolvesOnce({ Id: 'batch-4', Status: 'STARTED' })
      .resolvesOnce({ Id: 'batch-4', Status: 'STARTED' })
      .resolves(finished('batch-4', [3]));
    const { runner: r, time } = runner();

    const result = await r.transaction(['INSERT INTO t VALUES (1)']);

    expect(result.rowCounts).toEqual([3]);
    expect(mock.commandCalls(DescribeStatementCommand)).toHaveLength(7);
    // random() = 0.5 -> three quarters of the step; steps 100, 200, 400, 800 (cap), 800, 800.
    expect(time.sleeps).toEqual([75, 150, 300, 600, 600, 600]);
  });

  it('keeps jittered waits between half the step and the step', async () => {
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-5' });
    mock
      .on(DescribeStatementCommand)
      .resolvesOnce({ Id: 'batch-5', Status: 'STARTED' })
      .resolvesOnce({ Id: 'batch-5', Status: 'STARTED' })
      .resolvesOnce({ Id: 'batch-5', Status: 'STARTED' })
      .resolvesOnce({ Id: 'batch-5', Status: 'STARTED' })
      .resolves(finished('batch-5'));
    const low = runner({ random: () => 0 });
    await low.runner.transaction(['SELECT 1']);
    mock.resetHistory();
    const high = runner({ random: () => 0.999999 });
    await high.runner.transaction(['SELECT 1']);

    expect(low.time.sleeps).toEqual([50, 100, 200, 400]);
    expect(high.time.sleeps).toEqual([100, 200, 400, 800]);
  });

  it('gives up after the timeout with a retryable error that names the still-running statement', async () => {
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-slow' });
    mock.on(DescribeStatementCommand).resolves({ Id: 'batch-slow', Status: 'STARTED' });
    const { runner: r, time } = runner({ timeoutMs: 5_000 });

    const error = await r.transaction(['SELECT 1']).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RetryableWarehouseError);
    expect((error as Error).message).toMatch(/batch-slow is still STARTED .* may still complete/);
    expect((error as RetryableWarehouseError).code).toBe('StatementStillRunning');
    expect(time.sleeps.reduce((a, b) => a + b, 0)).toBe(5_000);
    expect(Math.max(...time.sleeps)).toBeLessThanOrEqual(800);
  });

  const failures: [
    string,
    string,
    typeof RetryableWarehouseError | typeof PermanentWarehouseError,
    RegExp,
  ][] = [
    [
      'serializable isolation violation',
      'ERROR: 1023 DETAIL: Serializable isolation violation on table - 100234, transactions forming the cycle are: 7001, 7002 (pid:123)',
      RetryableWarehouseError,
      /Serializable isolation violation.*retried on the next run/,
    ],
    ['deadlock', 'ERROR: deadlock detected', RetryableWarehouseError, /deadlock detected.*retried/],
    [
      'authentication',
      'FATAL: password authentication failed for user "exporter"',
      PermanentWarehouseError,
      /password authentication failed.*Secrets Manager secret/,
    ],
    [
      'permission',
      'ERROR: permission denied for schema amplitude',
      PermanentWarehouseError,
      /permission denied for schema amplitude.*redshift-export setup-sql/,
    ],
    [
      'missing table',
      'ERROR: relation "amplitude.export_loads" does not exist',
      PermanentWarehouseError,
      /does not exist.*Run the SQL printed by `redshift-export setup-sql`/,
    ],
    [
      'S3 access',
      'ERROR: S3ServiceException:Access Denied,Status 403,Error AccessDenied,Rid X,ExtRid Y,CanRetry 1 DETAIL: error: S3ServiceException: Access Denied',
      PermanentWarehouseError,
      /Access Denied.*Associate the COPY IAM role/,
    ],
    [
      'role not associated',
      'ERROR: User arn:aws:redshift:eu-west-1:111122223333:dbuser:prod-cluster/exporter is not authorized to assume IAM Role arn:aws:iam::111122223333:role/copy',
      PermanentWarehouseError,
      /not authorized to assume IAM Role.*Associate the COPY IAM role/,
    ],
    [
      'rejected row',
      "ERROR: Load into table 'stage' failed. Check 'sys_load_error_detail' system table for details.",
      PermanentWarehouseError,
      /sys_load_error_detail/,
    ],
    [
      'other SQL error',
      'ERROR: syntax error at or near "SELEC"',
      PermanentWarehouseError,
      /syntax error.*retry/,
    ],
  ];

  it.each(failures)('maps a FAILED statement (%s) to the right error', async (_name, text, type, message) => {
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-f' });
    mock.on(DescribeStatementCommand).resolves(failed('batch-f', text));
    const { runner: r } = runner();

    const error = await r.transaction(['SELECT 1']).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain('batch-f');
  });

  it('uses the failing sub-statement error when the batch has none, and treats ABORTED as retryable', async () => {
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-g' });
    mock.on(DescribeStatementCommand).resolvesOnce({
      Id: 'batch-g',
      Status: 'FAILED',
      SubStatements: [
        { Id: 'batch-g:1', Status: 'FINISHED' },
        { Id: 'batch-g:2', Status: 'FAILED', Error: 'ERROR: schema "amplitude" does not exist' },
      ],
    });
    const { runner: r } = runner();
    await expect(r.transaction(['SELECT 1', 'SELECT 2'])).rejects.toThrow(
      /schema "amplitude" does not exist.*setup-sql/,
    );

    mock.on(DescribeStatementCommand).resolves({ Id: 'batch-g', Status: 'ABORTED' });
    await expect(r.transaction(['SELECT 1'])).rejects.toBeInstanceOf(RetryableWarehouseError);
  });

  const thrown: [string, Error, typeof RetryableWarehouseError | typeof PermanentWarehouseError, RegExp][] = [
    [
      'ThrottlingException',
      Object.assign(new Error('Rate exceeded'), {
        name: 'ThrottlingException',
        $metadata: { httpStatusCode: 400 },
      }),
      RetryableWarehouseError,
      /throttled/,
    ],
    [
      'ActiveStatementsExceededException',
      new ActiveStatementsExceededException({
        message: 'Active statements exceeded the allowed quota',
        $metadata: {},
      }),
      RetryableWarehouseError,
      /Too many Data API statements/,
    ],
    [
      'ActiveSessionsExceededException',
      new ActiveSessionsExceededException({ message: 'too many sessions', $metadata: {} }),
      RetryableWarehouseError,
      /sessions/,
    ],
    [
      'ValidationException',
      new ValidationException({ message: 'Database is required', $metadata: {} }),
      PermanentWarehouseError,
      /Check the database name, the secret ARN/,
    ],
    [
      'ResourceNotFoundException',
      new ResourceNotFoundException({
        message: 'Cluster not found',
        Message: 'Cluster not found',
        ResourceId: 'prod',
        $metadata: {},
      }),
      PermanentWarehouseError,
      /could not find the statement, cluster or workgroup/,
    ],
    [
      'AccessDeniedException',
      Object.assign(new Error('User is not authorized to perform redshift-data:BatchExecuteStatement'), {
        name: 'AccessDeniedException',
        $metadata: { httpStatusCode: 403 },
      }),
      PermanentWarehouseError,
      /secretsmanager:GetSecretValue/,
    ],
    [
      'BatchExecuteStatementException (auth)',
      new BatchExecuteStatementException({
        message: 'FATAL: password authentication failed for user "exporter"',
        Message: 'FATAL: password authentication failed for user "exporter"',
        StatementId: 'x',
        $metadata: {},
      }),
      PermanentWarehouseError,
      /Secrets Manager secret/,
    ],
    [
      'BatchExecuteStatementException (environment)',
      new BatchExecuteStatementException({
        message: 'Connect timeout on endpoint',
        Message: 'Connect timeout on endpoint',
        StatementId: 'x',
        $metadata: {},
      }),
      RetryableWarehouseError,
      /was not reachable/,
    ],
    [
      'network error',
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      RetryableWarehouseError,
      /did not reach the Redshift Data API/,
    ],
  ];

  it.each(thrown)('maps a thrown %s', async (_name, exception, type, message) => {
    mock.on(BatchExecuteStatementCommand).rejects(exception);
    const { runner: r } = runner();

    const error = await r.transaction(['SELECT 1']).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toMatch(/^BatchExecuteStatement failed/);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).cause).toBe(exception);
  });

  it('never puts the SQL text into error messages', async () => {
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-h' });
    mock
      .on(DescribeStatementCommand)
      .resolves(failed('batch-h', 'ERROR: permission denied for relation events_1'));
    const { runner: r } = runner();
    const error = (await r
      .transaction(["INSERT INTO t VALUES ('customer-secret-value')"])
      .catch((e: unknown) => e)) as Error;
    expect(error.message).not.toContain('customer-secret-value');
    expect(error.message).not.toContain(SECRET_ARN);
  });
});

describe('RedshiftDataApiRunner.startTransaction / describe', () => {
  it('submits without waiting and reports each status, with the error text when FAILED', async () => {
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-s' });
    mock
      .on(DescribeStatementCommand)
      .resolvesOnce({ Id: 'batch-s', Status: 'PICKED' })
      .resolvesOnce({ Id: 'batch-s', Status: 'FINISHED' })
      .resolvesOnce(failed('batch-s', 'ERROR: deadlock detected'))
      .resolvesOnce({ Id: 'batch-s', Status: 'ABORTED' });
    const { runner: r } = runner({ target: { workgroupName: 'wg' } });

    await expect(r.startTransaction(['SELECT 1'], { clientToken: 'tok-1' })).resolves.toEqual({
      statementId: 'batch-s',
    });
    expect(mock.commandCalls(DescribeStatementCommand)).toHaveLength(0);
    expect(mock.commandCalls(BatchExecuteStatementCommand)[0]!.args[0].input.ClientToken).toBe('tok-1');

    await expect(r.describe('batch-s')).resolves.toEqual({ statementId: 'batch-s', status: 'PICKED' });
    await expect(r.describe('batch-s')).resolves.toEqual({ statementId: 'batch-s', status: 'FINISHED' });
    await expect(r.describe('batch-s')).resolves.toEqual({
      statementId: 'batch-s',
      status: 'FAILED',
      error: 'ERROR: deadlock detected',
    });
    await expect(r.describe('batch-s')).resolves.toMatchObject({
      status: 'ABORTED',
      error: expect.any(String),
    });
  });

  it('maps a thrown DescribeStatement exception', async () => {
    mock.on(DescribeStatementCommand).rejects(
      new ResourceNotFoundException({
        message: 'Query does not exist.',
        Message: 'Query does not exist.',
        ResourceId: 'x',
        $metadata: {},
      }),
    );
    const { runner: r } = runner();
    await expect(r.describe('gone')).rejects.toThrow(/^DescribeStatement failed .*expire after 24 hours/);
  });
});

describe('RedshiftDataApiRunner.query', () => {
  it('runs ExecuteStatement, waits, and converts every page of records into objects', async () => {
    mock.on(ExecuteStatementCommand).resolves({ Id: 'q-1' });
    mock
      .on(DescribeStatementCommand)
      .resolvesOnce({ Id: 'q-1', Status: 'STARTED' })
      .resolves({ Id: 'q-1', Status: 'FINISHED', HasResultSet: true });
    const columns = [
      { name: 'batch_id' },
      { name: 'row_count' },
      { name: 'ratio' },
      { name: 'ok' },
      { name: 'payload' },
    ];
    mock
      .on(GetStatementResultCommand, { Id: 'q-1', NextToken: undefined })
      .resolves({
        ColumnMetadata: columns,
        Records: [
          [
            { stringValue: 'b-1' },
            { longValue: 12 },
            { doubleValue: 0.5 },
            { booleanValue: true },
            { blobValue: Uint8Array.from([1, 2]) },
          ],
        ],
        TotalNumRows: 4,
        NextToken: 'page-2',
      })
      .on(GetStatementResultCommand, { Id: 'q-1', NextToken: 'page-2' })
      .resolves({
        ColumnMetadata: columns,
        Records: [
          [
            { stringValue: 'b-2' },
            { isNull: true },
            { isNull: true },
            { booleanValue: false },
            { isNull: true },
          ],
        ],
        NextToken: 'page-3',
      })
      .on(GetStatementResultCommand, { Id: 'q-1', NextToken: 'page-3' })
      .resolves({
        Records: [
          [
            { stringValue: '' },
            { longValue: -1 },
            { doubleValue: -2.25 },
            { isNull: true },
            { isNull: true },
          ],
          [
            { stringValue: 'b-4' },
            { longValue: 0 },
            { doubleValue: 0 },
            { booleanValue: true },
            { isNull: true },
          ],
        ],
      });
    const { runner: r } = runner();

    const rows = await r.query('SELECT batch_id, row_count, ratio, ok, payload FROM amplitude.export_loads');

    expect(rows).toEqual([
      { batch_id: 'b-1', row_count: 12, ratio: 0.5, ok: true, payload: Buffer.from([1, 2]) },
      { batch_id: 'b-2', row_count: null, ratio: null, ok: false, payload: null },
      { batch_id: '', row_count: -1, ratio: -2.25, ok: null, payload: null },
      { batch_id: 'b-4', row_count: 0, ratio: 0, ok: true, payload: null },
    ]);
    expect(mock.commandCalls(GetStatementResultCommand).map((c) => c.args[0].input.NextToken)).toEqual([
      undefined,
      'page-2',
      'page-3',
    ]);
    expect(mock.commandCalls(ExecuteStatementCommand)[0]!.args[0].input).toEqual({
      Database: 'analytics',
      SecretArn: SECRET_ARN,
      ClusterIdentifier: 'prod-cluster',
      Sql: 'SELECT batch_id, row_count, ratio, ok, payload FROM amplitude.export_loads',
    });
  });

  it('returns no rows without fetching when the statement has no result set', async () => {
    mock.on(ExecuteStatementCommand).resolves({ Id: 'q-2' });
    mock.on(DescribeStatementCommand).resolves({ Id: 'q-2', Status: 'FINISHED', HasResultSet: false });
    const { runner: r } = runner();
    await expect(r.query('SET search_path TO amplitude')).resolves.toEqual([]);
    expect(mock.commandCalls(GetStatementResultCommand)).toHaveLength(0);
  });

  it('maps a failed query and a thrown ExecuteStatementException', async () => {
    mock.on(ExecuteStatementCommand).resolves({ Id: 'q-3' });
    mock
      .on(DescribeStatementCommand)
      .resolves(failed('q-3', 'ERROR: relation "amplitude.events_1" does not exist'));
    const { runner: r } = runner();
    await expect(r.query('SELECT 1 FROM amplitude.events_1')).rejects.toThrow(/^Query q-3 failed.*setup-sql/);

    mock.on(ExecuteStatementCommand).rejects(
      new ExecuteStatementException({
        message: 'permission denied for schema amplitude',
        Message: 'permission denied for schema amplitude',
        StatementId: 'y',
        $metadata: {},
      }),
    );
    const error = await r.query('SELECT 1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentWarehouseError);
    expect((error as Error).message).toMatch(/^ExecuteStatement failed.*setup-sql/);
  });
});

describe('RedshiftDataApiRunner construction', () => {
  it('refuses a target with both or neither of cluster and workgroup', () => {
    const base = { client, database: 'd', secretArn: SECRET_ARN };
    expect(
      () =>
        new RedshiftDataApiRunner({
          ...base,
          target: { clusterIdentifier: 'c', workgroupName: 'w' } as never,
        }),
    ).toThrow(/exactly one/);
    expect(() => new RedshiftDataApiRunner({ ...base, target: {} as never })).toThrow(/exactly one/);
  });
});
