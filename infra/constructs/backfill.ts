import { Aws, Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { STEPFUNCTIONS_USE_DISTRIBUTED_MAP_RESULT_WRITER_V2 } from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { BACKFILL_PREFIXES, PREFIXES } from '#shared/base/staging-keys.ts';
import { ENV } from '#shared/config/pipeline.ts';
import { SERVICES } from '#shared/observability/metric-names.ts';
import { patternGlob, STATEMENT_RULES } from '#shared/warehouse/statement-rules.ts';
import { acknowledge, acknowledgeWildcardResource } from '../nag.ts';
import { BACKFILL_STATES } from './backfill-states.ts';
import { EXPORT_API_EPHEMERAL_STORAGE, type ExportApiAccess, useExportApi } from './export-api.ts';
import type { ExportSettings } from './pipeline.ts';
import { handlerEntry, PipelineFunction, type PipelineFunctionProps } from './pipeline-function.ts';
import type { RedshiftWarehouse } from './redshift-warehouse.ts';

export interface BackfillProps {
  /** What is exported: project, org, feeds, schema and the landing prefix. */
  readonly settings: ExportSettings;
  /**
   * Bucket Amplitude's S3 export writes to; read-only for the backfill unless `exportApi` is
   * given (then chunks of `"source": "export-api"` write the pulled hours below the landing prefix).
   */
  readonly landingBucket: s3.IBucket;
  /** Bucket for staged parts, manifests, the chunk lists, map results and reports. */
  readonly stagingBucket: s3.IBucket;
  /** Key of the staging bucket (and of the secret, when the stack created it). */
  readonly key: kms.IKey;
  /** Secret with the Redshift credentials the Data API uses. */
  readonly secret: secretsmanager.ISecret;
  /** Role Redshift assumes for COPY (named in the COPY statement). */
  readonly copyRole: iam.IRole;
  /** The cluster or workgroup and database the loads run on. */
  readonly warehouse: RedshiftWarehouse;
  /**
   * Chunks loading at the same time. Loads into one table serialize on the ledger lock in
   * Redshift, so more than a few only adds waiting statements.
   * @default 2
   */
  readonly maxConcurrency?: number;
  /** Time between two DescribeStatement calls while a load runs. @default Duration.seconds(15) */
  readonly pollInterval?: Duration;
  /**
   * Load attempts of one chunk whose transaction lost a serialization conflict (or a
   * deadlock) to a concurrent load. Other SQL errors fail the chunk at the first attempt.
   * @default 4
   */
  readonly maxLoadAttempts?: number;
  /** Longest an execution may run. @default Duration.days(7) */
  readonly timeout?: Duration;
  /** Retention of the state machine's log group. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /**
   * The Export API connector: lets a backfill started with `"source": "export-api"` pull each
   * chunk's hours from Amplitude into landing before staging them.
   * @default - off: such chunks fail with ExportApiNotConfiguredError
   */
  readonly exportApi?: ExportApiAccess;
}

const LAMBDA_SERVICE_ERRORS = [
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

/**
 * The backfill: a Step Functions state machine (JSONPath) that loads a range of hours of the
 * landing bucket with the same load transaction as the live loader.
 *
 * plan (Lambda: validate the input, write the chunk list to S3) -> Distributed Map over the
 * chunk list -> per chunk: prepare (Lambda: transform the chunk's files into staged parts and
 * build the load statements) -> BatchExecuteStatement (Data API, direct SDK integration) ->
 * wait / DescribeStatement until the transaction ends -> summarize (Lambda: report to S3,
 * metrics). The execution fails, naming the chunks, when any chunk failed; running the same
 * range again retries them, and chunks already loaded add nothing.
 */
export class Backfill extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;
  readonly planFunction: PipelineFunction;
  readonly prepareFunction: PipelineFunction;
  readonly summarizeFunction: PipelineFunction;

  constructor(scope: Construct, id: string, props: BackfillProps) {
    super(scope, id);
    // ResultWriterV2 renders only with this flag; set here so the construct does not depend on cdk.json.
    this.node.setContext(STEPFUNCTIONS_USE_DISTRIBUTED_MAP_RESULT_WRITER_V2, true);
    const maxConcurrency = props.maxConcurrency ?? 2;
    const maxLoadAttempts = props.maxLoadAttempts ?? 4;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1 || maxConcurrency > 1000) {
      throw new Error(
        `Backfill maxConcurrency must be a whole number from 1 to 1000, got ${maxConcurrency}.`,
      );
    }
    if (!Number.isInteger(maxLoadAttempts) || maxLoadAttempts < 1 || maxLoadAttempts > 20) {
      throw new Error(
        `Backfill maxLoadAttempts must be a whole number from 1 to 20, got ${maxLoadAttempts}.`,
      );
    }

    this.planFunction = this.lambda('PlanFunction', 'backfill-plan', {
      description: 'Backfill: checks the requested range and writes its chunk list to S3',
      memorySize: 512,
      timeout: Duration.minutes(1),
    }).readWriteBucket(ENV.stagingBucket, props.stagingBucket, [PREFIXES.backfill]);
    this.prepareFunction = this.lambda('PrepareFunction', 'backfill-prepare', {
      description: "Backfill: stages one chunk's landing files and builds its load transaction",
      memorySize: 2048,
      timeout: Duration.minutes(15),
      ...(props.exportApi ? { ephemeralStorageSize: EXPORT_API_EPHEMERAL_STORAGE } : {}),
    });
    if (props.exportApi) {
      useExportApi(this.prepareFunction, props.exportApi).readWriteBucket(
        ENV.landingBucket,
        props.landingBucket,
        [props.settings.landingPrefix],
      );
    } else {
      this.prepareFunction.readBucket(ENV.landingBucket, props.landingBucket, props.settings.landingPrefix);
    }
    this.prepareFunction
      .readWriteBucket(ENV.stagingBucket, props.stagingBucket, [
        PREFIXES.staging,
        PREFIXES.quarantine,
        PREFIXES.copy,
        PREFIXES.backfill,
      ])
      .setEnv(ENV.copyRoleArn, props.copyRole.roleArn);
    this.summarizeFunction = this.lambda('SummarizeFunction', 'backfill-summarize', {
      description: 'Backfill: writes the report of an execution and its metrics',
      memorySize: 1024,
      timeout: Duration.minutes(5),
    })
      .readWriteBucket(ENV.stagingBucket, props.stagingBucket, [PREFIXES.backfill])
      .useDataApi(props.warehouse, props.secret);
    for (const fn of [this.planFunction, this.prepareFunction, this.summarizeFunction]) {
      withSettings(fn, props.settings).useKey(props.key);
    }

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com'),
      description: 'Runs the Amplitude export backfill state machine',
    });
    this.grantWarehouse(role, props);

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment:
        'Loads a range of hours of Amplitude export files into Redshift. Input: {"start": "2026-01-01", "end": "2026-01-31"} (UTC, end included; hours as YYYY-MM-DDTHH), optional "feeds" and "chunkHours".',
      definitionBody: sfn.DefinitionBody.fromChainable(
        this.definition(props, maxConcurrency, maxLoadAttempts),
      ),
      queryLanguage: sfn.QueryLanguage.JSON_PATH,
      stateMachineType: sfn.StateMachineType.STANDARD,
      role,
      timeout: props.timeout ?? Duration.days(7),
      tracingEnabled: true,
      // Execution data would put file names, SQL and error texts into the log group.
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    this.acknowledgeFindings(role, props);
  }

  private lambda(
    id: string,
    entry: string,
    props: Pick<PipelineFunctionProps, 'description' | 'memorySize' | 'timeout' | 'ephemeralStorageSize'>,
  ): PipelineFunction {
    return new PipelineFunction(this, id, {
      entry: handlerEntry(entry),
      serviceName: SERVICES.backfill,
      ...props,
      // Step Functions invokes synchronously and retries by its own rules.
      retryAttempts: 0,
    });
  }

  /**
   * The Data API calls of the state machine. DescribeStatement has no resource type; the
   * statement-owner condition keeps it to statements submitted by this role. Step Functions
   * may use a different role session for the submit and the polls, so any session of the role
   * matches (`<role id>:*`), not only the same one.
   */
  private grantWarehouse(role: iam.Role, props: BackfillProps): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['redshift-data:BatchExecuteStatement'],
        resources: [props.warehouse.arn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['redshift-data:DescribeStatement'],
        resources: ['*'],
        conditions: { StringLike: { 'redshift-data:statement-owner-iam-userid': `${role.roleId}:*` } },
      }),
    );
    // The Data API reads the secret with the caller's permissions.
    props.secret.grantRead(role);
    // Reading the chunk list and writing the map results (SSE-KMS), and the secret's key.
    props.key.grant(role, 'kms:Decrypt', 'kms:GenerateDataKey');
  }

  /** cdk-nag findings of the state machine's permissions, each with the reason it is needed. */
  private acknowledgeFindings(role: iam.Role, props: BackfillProps): void {
    acknowledge(
      role,
      'AwsSolutions-IAM5[Resource::*]',
      'Only for actions without resource-level permissions: redshift-data:DescribeStatement (limited to statements this role submitted by the statement-owner condition), X-Ray tracing and the CloudWatch Logs delivery of the state machine.',
    );
    for (const fn of [this.planFunction, this.prepareFunction, this.summarizeFunction]) {
      acknowledgeWildcardResource(
        role,
        `${fn.function.functionArn}:*`,
        'The Lambda task grant covers the versions and aliases of this one function (the state machine invokes its $LATEST); no other function is reachable.',
      );
    }
    acknowledgeWildcardResource(
      role,
      `arn:${Aws.PARTITION}:s3:::${props.stagingBucket.bucketName}/*`,
      'The Distributed Map reads its chunk list (ItemReader) and writes its results (ResultWriter) at keys that differ per execution and map run; the CDK grant covers the staging bucket only.',
    );
    // CDK adds this policy for the Distributed Map's child executions.
    const distributedMap = this.stateMachine.node.findChild('DistributedMapPolicy') as iam.Policy;
    const { Statement: statements } = distributedMap.document.toJSON() as {
      Statement: { Resource: unknown }[];
    };
    for (const resource of statements.flatMap((statement) => [statement.Resource].flat())) {
      if (typeof resource !== 'string' || !resource.endsWith(':*')) continue;
      acknowledgeWildcardResource(
        distributedMap,
        resource,
        "The Distributed Map describes, stops and redrives its own child executions, whose names are generated per map run; the ARN is limited to this state machine's executions.",
      );
    }
  }

  private definition(props: BackfillProps, maxConcurrency: number, maxLoadAttempts: number): sfn.IChainable {
    const S = BACKFILL_STATES;
    const plan = new tasks.LambdaInvoke(this, S.plan, {
      lambdaFunction: this.planFunction.function,
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      payload: sfn.TaskInput.fromObject({
        request: sfn.JsonPath.entirePayload,
        executionName: sfn.JsonPath.executionName,
      }),
      // The state's output is `{plan}` (ResultPath left at its default, `$`).
      resultSelector: { plan: sfn.JsonPath.objectAt('$') },
      taskTimeout: sfn.Timeout.duration(Duration.minutes(2)),
    });
    retryLambdaErrors(plan);
    const invalidInput = new sfn.Pass(this, S.readInputError, {
      parameters: { error: sfn.JsonPath.stringToJson(sfn.JsonPath.stringAt('$.inputError.Cause')) },
    }).next(
      new sfn.Fail(this, S.rejectInput, {
        comment: 'The input is wrong: the cause says which field and what is accepted.',
        error: 'BackfillInputError',
        causePath: '$.error.errorMessage',
      }),
    );
    plan.addCatch(invalidInput, { errors: ['BackfillInputError'], resultPath: '$.inputError' });

    const chunks = new sfn.DistributedMap(this, S.chunks, {
      itemReader: new sfn.S3JsonItemReader({
        bucket: props.stagingBucket,
        key: sfn.JsonPath.stringAt('$.plan.chunksKey'),
      }),
      maxConcurrency,
      // Every chunk ends in an outcome of its own (failures are caught inside), and the
      // summary decides whether the execution failed, naming the chunks.
      toleratedFailurePercentage: 100,
      mapExecutionType: sfn.StateMachineType.STANDARD,
      label: 'BackfillChunks',
      resultWriterV2: new sfn.ResultWriterV2({
        bucket: props.stagingBucket,
        prefix: BACKFILL_PREFIXES.mapResults,
      }),
      resultSelector: { manifestKey: sfn.JsonPath.stringAt('$.ResultWriterDetails.Key') },
      resultPath: '$.results',
    });
    chunks.itemProcessor(this.chunkSteps(props, maxLoadAttempts));

    const summarize = new tasks.LambdaInvoke(this, S.summarize, {
      lambdaFunction: this.summarizeFunction.function,
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      payload: sfn.TaskInput.fromObject({
        plan: sfn.JsonPath.objectAt('$.plan'),
        resultsManifestKey: sfn.JsonPath.stringAt('$.results.manifestKey'),
      }),
      resultPath: '$.summary',
      taskTimeout: sfn.Timeout.duration(Duration.minutes(6)),
    });
    retryLambdaErrors(summarize);
    // The ledger query goes through the Data API, which may be busy for a moment.
    summarize.addRetry({
      errors: ['RetryableWarehouseError'],
      interval: Duration.seconds(10),
      backoffRate: 2,
      maxAttempts: 3,
      jitterStrategy: sfn.JitterType.FULL,
    });

    const verdict = new sfn.Choice(this, S.anyChunkFailed)
      .when(
        sfn.Condition.numberGreaterThan('$.summary.failed', 0),
        new sfn.Fail(this, S.failed, {
          comment: 'Some chunks failed; the cause names them and the report in S3 has every chunk.',
          error: 'BackfillChunksFailed',
          causePath: '$.summary.message',
        }),
      )
      .otherwise(new sfn.Succeed(this, S.succeeded, { outputPath: '$.summary' }));

    return plan.next(chunks).next(summarize).next(verdict);
  }

  /** One chunk: prepare -> (load -> wait -> describe)* -> outcome. Every path ends in an outcome. */
  private chunkSteps(props: BackfillProps, maxLoadAttempts: number): sfn.IChainable {
    const S = BACKFILL_STATES;
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
      parameters: { chunk: sfn.JsonPath.objectAt('$'), attempt: 1 },
    });

    const prepare = new tasks.LambdaInvoke(this, S.prepare, {
      lambdaFunction: this.prepareFunction.function,
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      payload: sfn.TaskInput.fromObject({
        chunk: sfn.JsonPath.objectAt('$.chunk'),
        attempt: sfn.JsonPath.numberAt('$.attempt'),
      }),
      resultPath: '$.prepared',
      taskTimeout: sfn.Timeout.duration(Duration.minutes(16)),
    });
    retryLambdaErrors(prepare);
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

    const wait = new sfn.Wait(this, S.waitForLoad, {
      time: sfn.WaitTime.duration(props.pollInterval ?? Duration.seconds(15)),
    });
    const describe = this.describeStatement(S.describeLoad, { 'Status.$': '$.Status' }, '$.statement');
    describe.addCatch(chunkFailed, catchAll);
    const readError = this.describeStatement(S.readLoadError, { 'Error.$': '$.Error' }, '$.loadError');
    readError.addCatch(chunkFailed, catchAll);

    const loaded = new sfn.Pass(this, S.chunkLoaded, {
      parameters: {
        ...chunkFields,
        ...preparedFields,
        status: 'loaded',
        statementId: sfn.JsonPath.stringAt('$.load.Id'),
      },
    });
    const empty = new sfn.Pass(this, S.chunkEmpty, {
      parameters: { ...chunkFields, status: 'empty', files: 0, batchIds: [] },
    });
    const loadFailed = new sfn.Pass(this, S.loadFailed, {
      parameters: {
        ...chunkFields,
        ...preparedFields,
        status: 'failed',
        statementId: sfn.JsonPath.stringAt('$.load.Id'),
        error: 'LoadFailed',
        cause: sfn.JsonPath.stringAt('$.loadError.Error'),
      },
    });
    const aborted = new sfn.Pass(this, S.loadAborted, {
      parameters: {
        ...chunkFields,
        ...preparedFields,
        status: 'failed',
        statementId: sfn.JsonPath.stringAt('$.load.Id'),
        error: 'LoadAborted',
        cause: 'The load transaction was cancelled in Redshift (ABORTED); nothing of it was committed.',
      },
    });
    const nextAttempt = new sfn.Pass(this, S.nextAttempt, {
      parameters: {
        chunk: sfn.JsonPath.objectAt('$.chunk'),
        attempt: sfn.JsonPath.mathAdd(sfn.JsonPath.numberAt('$.attempt'), 1),
        backoffSeconds: sfn.JsonPath.mathRandom(15, 90),
      },
    });
    const backOff = new sfn.Wait(this, S.backOff, { time: sfn.WaitTime.secondsPath('$.backoffSeconds') });
    nextAttempt.next(backOff).next(prepare);

    readError.next(loadErrorChoice(this, S.retryLoad, maxLoadAttempts, nextAttempt, loadFailed));

    // An aborted load (cancelled in Redshift) is transient for the live loader too.
    const retryAborted = new sfn.Choice(this, S.retryAborted)
      .when(sfn.Condition.numberLessThan('$.attempt', maxLoadAttempts), nextAttempt)
      .otherwise(aborted);

    const status = new sfn.Choice(this, S.loadStatus)
      .when(sfn.Condition.stringEquals('$.statement.Status', 'FINISHED'), loaded)
      .when(sfn.Condition.stringEquals('$.statement.Status', 'FAILED'), readError)
      .when(sfn.Condition.stringEquals('$.statement.Status', 'ABORTED'), retryAborted)
      .otherwise(wait);

    return start
      .next(prepare)
      .next(
        new sfn.Choice(this, S.anythingToLoad)
          .when(sfn.Condition.booleanEquals('$.prepared.empty', true), empty)
          .otherwise(load.next(wait).next(describe).next(status)),
      );
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

function retryLambdaErrors(task: tasks.LambdaInvoke): void {
  task.addRetry({
    errors: LAMBDA_SERVICE_ERRORS,
    interval: Duration.seconds(2),
    backoffRate: 2,
    maxAttempts: 6,
    maxDelay: Duration.seconds(60),
    jitterStrategy: sfn.JitterType.FULL,
  });
}

function withSettings(fn: PipelineFunction, settings: ExportSettings): PipelineFunction {
  fn.setEnv(ENV.projectId, settings.projectId)
    .setEnv(ENV.feeds, settings.feeds.join(','))
    .setEnv(ENV.schema, settings.schema)
    .setEnv(ENV.landingPrefix, settings.landingPrefix);
  if (settings.orgId !== undefined) fn.setEnv(ENV.orgId, settings.orgId);
  return fn;
}
