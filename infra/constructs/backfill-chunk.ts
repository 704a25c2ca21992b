import { Aws, Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { patternGlob, STATEMENT_RULES } from '#shared/warehouse/statement-rules.ts';
import { BACKFILL_STATES } from './backfill-states.ts';
import type { WarehouseAccess } from './redshift-warehouse.ts';

export interface ChunkStepsProps extends Pick<WarehouseAccess, 'secret' | 'warehouse'> {
  /** Stages the chunk's files and builds its load statements. */
  readonly prepareFunction: lambda.IFunction;
  /** Load attempts of a chunk that lost a serialization conflict to a concurrent load. */
  readonly maxLoadAttempts: number;
  /** Time between two DescribeStatement calls while a load runs. */
  readonly pollInterval: Duration;
  /** Longest a chunk waits for its load transaction before it gives up (LoadWaitExceeded). */
  readonly maxLoadWait: Duration;
}

export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

// Step Functions names SDK integration errors `<Service>.<Exception>`.
const DATA_API_BUSY_ERRORS = [
  'RedshiftData.ThrottlingException',
  'RedshiftData.ActiveStatementsExceededException',
  'RedshiftData.ActiveSessionsExceededException',
  'RedshiftData.InternalServerException',
];

/** The error a chunk reports when its load did not end within `maxLoadWait`. */
export const LOAD_WAIT_EXCEEDED = 'LoadWaitExceeded';

/**
 * One chunk of a backfill, run by each Distributed Map child execution:
 * prepare -> (load -> wait -> describe)* -> outcome. Every path ends in a Pass state whose
 * output is the chunk's outcome (`status` loaded, empty or failed, with `error` and `cause`),
 * so the summary sees every chunk and no child execution fails.
 *
 * The Data API calls are custom `Task` states, not `CallAwsService`: DescribeStatement has no
 * resource type, and the only thing that keeps it to this state machine's own statements is
 * the `redshift-data:statement-owner-iam-userid` condition (see Backfill.grantWarehouse).
 * `CallAwsService` would add its own grant on `*` without that condition, which is exactly
 * the permission this project refuses to give.
 */
export class ChunkSteps extends sfn.StateMachineFragment {
  readonly startState: sfn.State;
  readonly endStates: sfn.INextable[];

  constructor(scope: Construct, id: string, props: ChunkStepsProps) {
    super(scope, id);
    const S = BACKFILL_STATES;
    const maxPolls = Math.max(1, Math.ceil(props.maxLoadWait.toSeconds() / props.pollInterval.toSeconds()));
    const chunkFields = {
      chunkId: sfn.JsonPath.stringAt('$.chunk.chunkId'),
      feed: sfn.JsonPath.stringAt('$.chunk.feed'),
      startHour: sfn.JsonPath.stringAt('$.chunk.startHour'),
      endHour: sfn.JsonPath.stringAt('$.chunk.endHour'),
      attempts: sfn.JsonPath.numberAt('$.attempt'),
    };
    const preparedFields = {
      files: sfn.JsonPath.numberAt('$.prepared.files'),
      batchIds: sfn.JsonPath.listAt('$.prepared.batchIds'),
      loadId: sfn.JsonPath.stringAt('$.prepared.loadId'),
      rowsStaged: sfn.JsonPath.numberAt('$.prepared.rowsStaged'),
    };

    const chunkFailed = new sfn.Pass(this, S.chunkFailed, {
      parameters: {
        ...chunkFields,
        status: 'failed',
        error: sfn.JsonPath.stringAt('$.failure.Error'),
        cause: sfn.JsonPath.stringAt('$.failure.Cause'),
      },
    });
    const catchAll = { errors: [sfn.Errors.ALL], resultPath: '$.failure' };

    const start = new sfn.Pass(this, S.startChunk, {
      parameters: { chunk: sfn.JsonPath.objectAt('$'), attempt: 1, poll: { count: 0 } },
    });

    const prepare = lambdaStep(this, S.prepare, {
      lambdaFunction: props.prepareFunction,
      payload: sfn.TaskInput.fromObject({
        chunk: sfn.JsonPath.objectAt('$.chunk'),
        attempt: sfn.JsonPath.numberAt('$.attempt'),
      }),
      resultPath: '$.prepared',
      taskTimeout: sfn.Timeout.duration(Duration.minutes(16)),
    });
    prepare.addCatch(chunkFailed, catchAll);

    const endpoint = props.warehouse.endpoint;
    const load = new sfn.CustomState(this, S.load, {
      stateJson: {
        Type: 'Task',
        Comment: "Starts the chunk's load transaction (the live loader's statements) through the Data API.",
        Resource: `arn:${Aws.PARTITION}:states:::aws-sdk:redshiftdata:batchExecuteStatement`,
        Parameters: {
          'Sqls.$': '$.prepared.statements',
          Database: props.warehouse.database,
          SecretArn: props.secret.secretArn,
          ...(endpoint.kind === 'cluster'
            ? { ClusterIdentifier: endpoint.clusterIdentifier }
            : { WorkgroupName: endpoint.workgroupName }),
          // One token per load attempt: a retried call does not start a second transaction.
          'ClientToken.$': '$.prepared.loadId',
          StatementName: 'amplitude-export-backfill',
        },
        ResultSelector: { 'Id.$': '$.Id' },
        ResultPath: '$.load',
      },
    });
    load.addRetry({
      errors: DATA_API_BUSY_ERRORS,
      interval: Duration.seconds(5),
      backoffRate: 2,
      maxAttempts: 8,
      maxDelay: Duration.minutes(2),
      jitterStrategy: sfn.JitterType.FULL,
    });
    load.addCatch(chunkFailed, catchAll);

    const wait = new sfn.Wait(this, S.waitForLoad, { time: sfn.WaitTime.duration(props.pollInterval) });
    const describe = this.describeStatement(S.describeLoad, { 'Status.$': '$.Status' }, '$.statement');
    describe.addCatch(chunkFailed, catchAll);
    const readError = this.describeStatement(S.readLoadError, { 'Error.$': '$.Error' }, '$.loadError');
    readError.addCatch(chunkFailed, catchAll);

    /** The outcome of a chunk whose load statement ran: what was prepared and the statement. */
    const loadOutcome = (
      id: string,
      status: 'loaded' | 'failed',
      failure?: { error: string; cause: string },
    ) =>
      new sfn.Pass(this, id, {
        parameters: {
          ...chunkFields,
          ...preparedFields,
          status,
          statementId: sfn.JsonPath.stringAt('$.load.Id'),
          ...failure,
        },
      });
    const loaded = loadOutcome(S.chunkLoaded, 'loaded');
    const empty = new sfn.Pass(this, S.chunkEmpty, {
      parameters: { ...chunkFields, status: 'empty', files: 0, batchIds: [] },
    });
    const loadFailed = loadOutcome(S.loadFailed, 'failed', {
      error: 'LoadFailed',
      cause: sfn.JsonPath.stringAt('$.loadError.Error'),
    });
    const aborted = loadOutcome(S.loadAborted, 'failed', {
      error: 'LoadAborted',
      cause: 'The load transaction was cancelled in Redshift (ABORTED); nothing of it was committed.',
    });
    // Without a bound, a statement stuck in Redshift would be polled until the execution's
    // history limit (25,000 events) failed the child execution without an outcome.
    const waitedTooLong = loadOutcome(S.loadWaitExceeded, 'failed', {
      error: LOAD_WAIT_EXCEEDED,
      cause: `The load transaction did not finish within ${props.maxLoadWait.toHumanString()} (${maxPolls} checks). It may still commit in Redshift: run the same range again later; chunks already loaded add nothing.`,
    });
    const nextAttempt = new sfn.Pass(this, S.nextAttempt, {
      parameters: {
        chunk: sfn.JsonPath.objectAt('$.chunk'),
        attempt: sfn.JsonPath.mathAdd(sfn.JsonPath.numberAt('$.attempt'), 1),
        poll: { count: 0 },
        backoffSeconds: sfn.JsonPath.mathRandom(15, 90),
      },
    });
    const backOff = new sfn.Wait(this, S.backOff, { time: sfn.WaitTime.secondsPath('$.backoffSeconds') });
    nextAttempt.next(backOff).next(prepare);

    readError.next(loadErrorChoice(this, S.retryLoad, props.maxLoadAttempts, nextAttempt, loadFailed));

    // An aborted load (cancelled in Redshift) is transient for the live loader too.
    const retryAborted = new sfn.Choice(this, S.retryAborted)
      .when(sfn.Condition.numberLessThan('$.attempt', props.maxLoadAttempts), nextAttempt)
      .otherwise(aborted);

    const countPoll = new sfn.Pass(this, S.countCheck, {
      parameters: { count: sfn.JsonPath.mathAdd(sfn.JsonPath.numberAt('$.poll.count'), 1) },
      resultPath: '$.poll',
    });
    countPoll.next(
      new sfn.Choice(this, S.waitedTooLong)
        .when(sfn.Condition.numberGreaterThanEquals('$.poll.count', maxPolls), waitedTooLong)
        .otherwise(wait),
    );
    const status = new sfn.Choice(this, S.loadStatus)
      .when(sfn.Condition.stringEquals('$.statement.Status', 'FINISHED'), loaded)
      .when(sfn.Condition.stringEquals('$.statement.Status', 'FAILED'), readError)
      .when(sfn.Condition.stringEquals('$.statement.Status', 'ABORTED'), retryAborted)
      .otherwise(countPoll);

    start
      .next(prepare)
      .next(
        new sfn.Choice(this, S.anythingToLoad)
          .when(sfn.Condition.booleanEquals('$.prepared.empty', true), empty)
          .otherwise(load.next(wait).next(describe).next(status)),
      );
    this.startState = start;
    this.endStates = [chunkFailed, loaded, empty, loadFailed, aborted, waitedTooLong];
  }

  private describeStatement(
    id: string,
    resultSelector: Record<string, string>,
    resultPath: string,
  ): sfn.CustomState {
    const state = new sfn.CustomState(this, id, {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Aws.PARTITION}:states:::aws-sdk:redshiftdata:describeStatement`,
        Parameters: { 'Id.$': '$.load.Id' },
        ResultSelector: resultSelector,
        ResultPath: resultPath,
      },
    });
    state.addRetry({
      errors: DATA_API_BUSY_ERRORS,
      interval: Duration.seconds(2),
      backoffRate: 2,
      maxAttempts: 6,
      maxDelay: Duration.seconds(60),
      jitterStrategy: sfn.JitterType.FULL,
    });
    return state;
  }
}

/**
 * What to do with a FAILED load, decided by the same rules, in the same order, as the live
 * loader (`STATEMENT_RULES`): a transient error is loaded again while attempts are left;
 * anything else ends the chunk as failed, as does a transient one without attempts left. A
 * text no rule knows is transient (the safe default).
 */
function loadErrorChoice(
  scope: Construct,
  id: string,
  maxLoadAttempts: number,
  retry: sfn.IChainable,
  fail: sfn.IChainable,
): sfn.Choice {
  const attemptsLeft = sfn.Condition.numberLessThan('$.attempt', maxLoadAttempts);
  const choice = new sfn.Choice(scope, id);
  for (const rule of STATEMENT_RULES) {
    const matches = rule.patterns.map((pattern) =>
      sfn.Condition.stringMatches('$.loadError.Error', patternGlob(pattern)),
    );
    const matched = matches.length === 1 ? matches[0]! : sfn.Condition.or(...matches);
    if (rule.failureClass === 'transient') choice.when(sfn.Condition.and(matched, attemptsLeft), retry);
    choice.when(matched, fail);
  }
  return choice.when(attemptsLeft, retry).otherwise(fail);
}

/**
 * A task invoking one of the backfill's functions: its output is the function's response, and
 * Lambda's own errors are retried with jitter (CDK's default retry, turned off here, has none
 * and does not retry throttling).
 */
export function lambdaStep(
  scope: Construct,
  id: string,
  props: Omit<tasks.LambdaInvokeProps, 'payloadResponseOnly' | 'retryOnServiceExceptions'>,
): tasks.LambdaInvoke {
  const task = new tasks.LambdaInvoke(scope, id, {
    ...props,
    payloadResponseOnly: true,
    retryOnServiceExceptions: false,
  });
  task.addRetry({
    errors: LAMBDA_SERVICE_ERRORS,
    interval: Duration.seconds(2),
    backoffRate: 2,
    maxAttempts: 6,
    maxDelay: Duration.seconds(60),
    jitterStrategy: sfn.JitterType.FULL,
  });
  return task;
}
