import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  DescribeExecutionCommand,
  DescribeMapRunCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  ListMapRunsCommand,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { beforeEach, describe, expect, it } from 'vitest';
import { backfillCommand } from '#cli/commands/aws-backfill.ts';
import { UsageError } from '#cli/io.ts';
import type { BackfillReport } from '#shared/pipeline/backfill/summarize.ts';
import {
  ACCOUNT,
  awsError,
  BUCKET,
  FULL_OUTPUTS,
  failureOf,
  givenBucket,
  givenStack,
  mocks,
  REGION,
  resetMocks,
  STACK,
  STATE_MACHINE_ARN,
  testDeps,
  testIo,
} from './aws-support.ts';

const NAME = 'bf-2026010100-2026013123-events-merge_ids-c24';
const EXECUTION_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:execution:BackfillStateMachine-Ab12:${NAME}`;
const MAP_RUN_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:mapRun:BackfillStateMachine-Ab12/${NAME}:abc`;
const BASE_ARGS = ['--stack', STACK, '--region', REGION, '--start', '2026-01-01', '--end', '2026-01-31'];

const notFound = () => new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} });

function totals(chunks: number, loaded: number, failed: number, rows: number) {
  return {
    chunks,
    loaded,
    alreadyLoaded: 0,
    empty: chunks - loaded - failed,
    failed,
    rowsLoaded: rows,
    duplicatesSkipped: 3,
    quarantined: 1,
    rowsErased: 0,
  };
}

const REPORT: BackfillReport = {
  runId: NAME,
  start: '2026-01-01T00',
  end: '2026-01-31T23',
  feeds: ['events', 'merge_ids'],
  chunkHours: 24,
  createdAt: '2026-03-02T05:59:00.000Z',
  totals: totals(62, 60, 1, 1_000_050),
  byFeed: { events: totals(31, 30, 1, 1_000_000), merge_ids: totals(31, 30, 0, 50) },
  chunks: [
    {
      chunkId: 'events-2026011500-2026011523',
      feed: 'events',
      startHour: '2026-01-15T00',
      endHour: '2026-01-15T23',
      status: 'failed',
      files: 4,
      batchIds: [],
      rowsLoaded: 0,
      duplicatesSkipped: 0,
      quarantined: 0,
      rowsErased: 0,
      error: 'LoadFailed',
      cause: "COPY rejected value 'MARKER-7d1e' in column x",
    },
  ],
};
const REPORT_KEY = `backfill/runs/${NAME}/report.json`;

beforeEach(() => {
  resetMocks();
  givenStack();
});

describe('backfill', () => {
  it('starts one execution named after the range, with the normalized input, and prints its link', async () => {
    mocks.sfn.on(DescribeExecutionCommand).rejects(notFound());
    mocks.sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION_ARN, startDate: new Date() });
    const io = testIo();

    const code = await backfillCommand(testDeps())(BASE_ARGS, io);

    expect(code).toBe(0);
    const starts = mocks.sfn.commandCalls(StartExecutionCommand);
    expect(starts).toHaveLength(1);
    expect(starts[0]?.args[0].input).toEqual({
      stateMachineArn: STATE_MACHINE_ARN,
      name: NAME,
      input: JSON.stringify({
        start: '2026-01-01T00',
        end: '2026-01-31T23',
        feeds: ['events', 'merge_ids'],
        chunkHours: 24,
      }),
    });
    expect(mocks.sfn.commandCalls(DescribeExecutionCommand)[0]?.args[0].input).toEqual({
      executionArn: EXECUTION_ARN,
    });
    expect(io.out()).toContain(`Started backfill ${NAME}`);
    expect(io.out()).toContain(
      `https://${REGION}.console.aws.amazon.com/states/home?region=${REGION}#/v2/executions/details/${EXECUTION_ARN}`,
    );
  });

  it('gives the same range written differently the same name and input', async () => {
    mocks.sfn.on(DescribeExecutionCommand).rejects(notFound());
    mocks.sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION_ARN, startDate: new Date() });
    await backfillCommand(testDeps())(BASE_ARGS, testIo());
    await backfillCommand(testDeps())(
      [
        '--stack',
        STACK,
        '--region',
        REGION,
        '--start',
        '20260101T00',
        '--end',
        '2026-01-31T23',
        '--feeds',
        'merge_ids,events',
        '--chunk-hours',
        '24',
      ],
      testIo(),
    );
    const [first, second] = mocks.sfn.commandCalls(StartExecutionCommand).map((call) => call.args[0].input);
    expect(second).toEqual(first);
  });

  it('with --source export-api, names the source in the execution and its input; --source landing changes nothing', async () => {
    const pullName = `${NAME}-export-api`;
    mocks.sfn.on(DescribeExecutionCommand).rejects(notFound());
    mocks.sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION_ARN, startDate: new Date() });
    const io = testIo();

    expect(await backfillCommand(testDeps())([...BASE_ARGS, '--source', 'export-api'], io)).toBe(0);
    await backfillCommand(testDeps())([...BASE_ARGS, '--source', 'export-api', '--attempt', '3'], testIo());
    await backfillCommand(testDeps())([...BASE_ARGS, '--source', 'landing'], testIo());
    await backfillCommand(testDeps())(BASE_ARGS, testIo());

    const [pull, rerun, landing, plain] = mocks.sfn
      .commandCalls(StartExecutionCommand)
      .map((call) => call.args[0].input);
    expect(pull).toEqual({
      stateMachineArn: STATE_MACHINE_ARN,
      name: pullName,
      input: JSON.stringify({
        start: '2026-01-01T00',
        end: '2026-01-31T23',
        feeds: ['events', 'merge_ids'],
        chunkHours: 24,
        source: 'export-api',
      }),
    });
    expect(mocks.sfn.commandCalls(DescribeExecutionCommand)[0]?.args[0].input).toEqual({
      executionArn: EXECUTION_ARN.replace(NAME, pullName),
    });
    expect(rerun?.name).toBe(`${pullName}-a3`);
    expect(landing).toEqual(plain);
    expect(landing?.name).toBe(NAME);
    expect(io.out()).toContain(`Started backfill ${pullName}`);
    expect(io.out()).toContain("pulled from Amplitude's Export API first");
  });

  it('rejects an unknown --source before calling AWS, naming the sources', async () => {
    await expect(backfillCommand(testDeps())([...BASE_ARGS, '--source', 's3'], testIo())).rejects.toThrow(
      /--source must be "landing" or "export-api".*got "s3"/,
    );
    expect(mocks.cloudFormation.calls()).toHaveLength(0);
  });

  it('rejects a wrong range before calling AWS, with the rule the state machine applies', async () => {
    const run = backfillCommand(testDeps());
    await expect(
      run([...BASE_ARGS.slice(0, 4), '--start', '2026-02-30', '--end', '2026-03-01'], testIo()),
    ).rejects.toThrow(/--start "2026-02-30" is not a valid date/);
    await expect(run([...BASE_ARGS, '--chunk-hours', '500'], testIo())).rejects.toThrow(
      /--chunk-hours must be a whole number of hours from 1 to 168/,
    );
    await expect(
      run(['--stack', STACK, '--start', '2026-01-05', '--end', '2026-01-01'], testIo()),
    ).rejects.toThrow(UsageError);
    expect(mocks.cloudFormation.calls()).toHaveLength(0);
  });

  it("refuses a feed the stack does not export, naming the stack's feeds", async () => {
    resetMocks();
    givenStack({ ...FULL_OUTPUTS, Feeds: 'events' });
    await expect(
      backfillCommand(testDeps())([...BASE_ARGS, '--feeds', 'merge_ids'], testIo()),
    ).rejects.toThrow(/not exported by this deployment \(its feeds: events\)/);
    expect(mocks.sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('shows a finished execution of the same range with its report instead of starting it again', async () => {
    mocks.sfn.on(DescribeExecutionCommand).resolves({
      executionArn: EXECUTION_ARN,
      name: NAME,
      status: 'SUCCEEDED',
      startDate: new Date('2026-03-01T10:00:00Z'),
      stopDate: new Date('2026-03-01T10:42:00Z'),
      output: JSON.stringify({ reportKey: REPORT_KEY }),
    });
    givenBucket({ [REPORT_KEY]: [JSON.stringify(REPORT), '2026-03-01T10:41:00Z'] });
    const io = testIo();

    const code = await backfillCommand(testDeps())(BASE_ARGS, io);

    expect(code).toBe(0);
    expect(mocks.sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(io.out()).toContain(
      `${NAME} is SUCCEEDED since 2026-03-01 10:00:00 UTC. It is not started again.`,
    );
    expect(io.out()).toMatch(/events\s+31\s+30\s+0\s+0\s+1\s+1000000\s+3\s+1/);
    expect(io.out()).toContain(`Report: s3://${BUCKET}/${REPORT_KEY}`);
    expect(io.out()).toContain('events-2026011500-2026011523  LoadFailed');
    // The chunk's cause quotes a value from the data: it is cut before printing.
    expect(io.out()).not.toContain('MARKER-7d1e');
  });

  it('says how to run a failed range again, and does so with --attempt', async () => {
    mocks.sfn.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).resolves({
      executionArn: EXECUTION_ARN,
      name: NAME,
      status: 'FAILED',
      startDate: new Date('2026-03-01T10:00:00Z'),
      error: 'BackfillInputError',
      cause: 'feeds must be a list',
    });
    givenBucket({});
    const io = testIo();
    expect(await backfillCommand(testDeps())(BASE_ARGS, io)).toBe(1);
    expect(io.out()).toContain('BackfillInputError: feeds must be a list');
    expect(io.out()).toContain('add --attempt 2');

    mocks.sfn.on(DescribeExecutionCommand, { executionArn: `${EXECUTION_ARN}-a2` }).rejects(notFound());
    mocks.sfn
      .on(StartExecutionCommand)
      .resolves({ executionArn: `${EXECUTION_ARN}-a2`, startDate: new Date() });
    expect(await backfillCommand(testDeps())([...BASE_ARGS, '--attempt', '2'], testIo())).toBe(0);
    expect(mocks.sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.name).toBe(`${NAME}-a2`);
  });

  it('reports an execution started by someone else at the same moment instead of failing', async () => {
    mocks.sfn
      .on(DescribeExecutionCommand)
      .rejectsOnce(notFound())
      .resolves({
        executionArn: EXECUTION_ARN,
        name: NAME,
        status: 'RUNNING',
        startDate: new Date('2026-03-02T05:59:59Z'),
      });
    mocks.sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    const io = testIo();
    expect(await backfillCommand(testDeps())(BASE_ARGS, io)).toBe(0);
    expect(io.out()).toContain(`${NAME} is RUNNING`);
  });

  it('with --wait, shows chunk progress on stderr through throttling and prints the report', async () => {
    const running = {
      executionArn: EXECUTION_ARN,
      name: NAME,
      status: 'RUNNING' as const,
      startDate: new Date('2026-03-02T06:00:00Z'),
    };
    mocks.sfn
      .on(DescribeExecutionCommand)
      .rejectsOnce(notFound())
      .resolvesOnce(running)
      .resolvesOnce(running)
      .resolvesOnce(running)
      .resolves({
        ...running,
        status: 'SUCCEEDED',
        stopDate: new Date('2026-03-02T06:20:00Z'),
        output: JSON.stringify({ reportKey: REPORT_KEY }),
      });
    mocks.sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION_ARN, startDate: new Date() });
    mocks.sfn
      .on(ListMapRunsCommand)
      .resolvesOnce({ mapRuns: [] })
      .resolves({
        mapRuns: [
          {
            mapRunArn: MAP_RUN_ARN,
            executionArn: EXECUTION_ARN,
            stateMachineArn: STATE_MACHINE_ARN,
            startDate: new Date(),
          },
        ],
      });
    const counts = (succeeded: number, failed: number) => ({
      itemCounts: {
        pending: 0,
        running: 62 - succeeded - failed,
        succeeded,
        failed,
        timedOut: 0,
        aborted: 0,
        total: 62,
        resultsWritten: 0,
      },
    });
    mocks.sfn
      .on(DescribeMapRunCommand)
      .resolvesOnce(counts(10, 0))
      .rejectsOnce(awsError('ThrottlingException', 'Rate exceeded'))
      .resolvesOnce(counts(40, 1))
      .resolves(counts(61, 1));
    givenBucket({ [REPORT_KEY]: [JSON.stringify(REPORT), '2026-03-02T06:19:00Z'] });
    const io = testIo();
    const deps = testDeps();

    const code = await backfillCommand(deps)([...BASE_ARGS, '--wait'], io);

    expect(code).toBe(0);
    const progress = io.err().trim().split('\n');
    expect(progress[0]).toBe('planning the chunks…');
    expect(progress).toContain('[#####.........................] 10/62 chunks finished, 52 running');
    expect(progress).toContain(
      '[####################..........] 41/62 chunks finished, 1 failed, 21 running',
    );
    expect(progress.at(-1)).toBe('[##############################] 62/62 chunks finished, 1 failed');
    expect(deps.slept).toContain(1000);
    expect(deps.slept.filter((ms) => ms === 10_000).length).toBeGreaterThanOrEqual(3);
    expect(io.out()).toContain(`Backfill ${NAME} SUCCEEDED in 20m.`);
    expect(io.out()).toContain(`Report: s3://${BUCKET}/${REPORT_KEY}`);
  });

  it('stops following on Ctrl-C and says the backfill goes on', async () => {
    mocks.sfn
      .on(DescribeExecutionCommand)
      .rejectsOnce(notFound())
      .resolves({ executionArn: EXECUTION_ARN, name: NAME, status: 'RUNNING', startDate: new Date() });
    mocks.sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION_ARN, startDate: new Date() });
    mocks.sfn.on(ListMapRunsCommand).resolves({ mapRuns: [] });
    const io = testIo(Promise.resolve());
    const deps = { ...testDeps(), sleep: () => new Promise<void>(() => undefined) };
    expect(await backfillCommand(deps)([...BASE_ARGS, '--wait'], io)).toBe(130);
    expect(io.out()).toContain('Stopped following; the backfill goes on');
  });
});

describe('backfill against a stack it cannot reach', () => {
  it('says a stack that does not exist may be in another region', async () => {
    resetMocks();
    mocks.cloudFormation
      .on(DescribeStacksCommand)
      .rejects(awsError('ValidationError', `Stack with id ${STACK} does not exist`));
    const error = await failureOf(backfillCommand(testDeps())(BASE_ARGS, testIo()));
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toContain(`Stack "${STACK}" does not exist in ${REGION}`);
    expect(error.message).toContain('--region');
  });

  it('says to sign in when there are no credentials', async () => {
    resetMocks();
    mocks.cloudFormation
      .on(DescribeStacksCommand)
      .rejects(awsError('CredentialsProviderError', 'Could not load credentials from any providers'));
    const error = await failureOf(backfillCommand(testDeps())(BASE_ARGS, testIo()));
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toMatch(/credentials.*aws sso login/s);
  });

  it('gives up on throttling after retrying, saying to try again later', async () => {
    resetMocks();
    mocks.cloudFormation.on(DescribeStacksCommand).rejects(awsError('Throttling', 'Rate exceeded'));
    const deps = testDeps();
    const error = await failureOf(backfillCommand(deps)(BASE_ARGS, testIo()));
    expect(error.message).toContain('kept throttling');
    expect(mocks.cloudFormation.commandCalls(DescribeStacksCommand)).toHaveLength(5);
    expect(deps.slept).toEqual([1000, 2000, 4000, 8000]);
  });

  it('names the missing output of a stack deployed by an older version', async () => {
    resetMocks();
    const { BackfillStateMachineArn: _dropped, ...older } = FULL_OUTPUTS;
    givenStack(older);
    await expect(backfillCommand(testDeps())(BASE_ARGS, testIo())).rejects.toThrow(
      /has no output BackfillStateMachineArn/,
    );
  });
});
