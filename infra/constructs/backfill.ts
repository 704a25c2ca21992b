import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { STEPFUNCTIONS_USE_DISTRIBUTED_MAP_RESULT_WRITER_V2 } from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { BACKFILL_PREFIXES, PREFIXES } from '#shared/base/staging-keys.ts';
import { ENV } from '#shared/config/pipeline.ts';
import { SERVICES } from '#shared/observability/metric-names.ts';
import { acknowledge, acknowledgeWildcardResource } from '../nag.ts';
import { ChunkSteps, lambdaStep } from './backfill-chunk.ts';
import { BACKFILL_STATES } from './backfill-states.ts';
import { EXPORT_API_EPHEMERAL_STORAGE, type ExportApiAccess, useExportApi } from './export-api.ts';
import type { ExportSettings } from './pipeline.ts';
import { handlerEntry, PipelineFunction, type PipelineFunctionProps } from './pipeline-function.ts';
import type { WarehouseAccess } from './redshift-warehouse.ts';

export interface BackfillProps extends WarehouseAccess {
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
  /**
   * Chunks loading at the same time. Loads into one table serialize on the ledger lock in
   * Redshift, so more than a few only adds waiting statements.
   * @default 2
   */
  readonly maxConcurrency?: number;
  /** Time between two DescribeStatement calls while a load runs. @default Duration.seconds(15) */
  readonly pollInterval?: Duration;
  /**
   * Longest a chunk waits for its load transaction; then the chunk fails with LoadWaitExceeded
   * (the transaction may still commit; running the range again adds nothing twice).
   * @default Duration.hours(2)
   */
  readonly maxLoadWait?: Duration;
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

    // Step Functions delivers logs as vended logs; below /aws/vendedlogs/ CloudWatch Logs needs
    // no resource policy per log group, whose account-wide size limit (5,120 characters) other
    // state machines would otherwise fill (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html).
    // A fixed name must not survive the stack, or the next deploy of it could not create it.
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-backfill`,
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
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
      props.stagingBucket.arnForObjects(`${BACKFILL_PREFIXES.runs}*`),
      'The Distributed Map reads the chunk list of an execution (ItemReader), whose key holds the execution name; only below backfill/runs/.',
    );
    acknowledgeWildcardResource(
      role,
      props.stagingBucket.arnForObjects(`${BACKFILL_PREFIXES.mapResults}/*`),
      'The Distributed Map writes its results (ResultWriter) at keys that differ per map run; only below backfill/map-results/.',
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
    const plan = lambdaStep(this, S.plan, {
      lambdaFunction: this.planFunction.function,
      payload: sfn.TaskInput.fromObject({
        request: sfn.JsonPath.entirePayload,
        executionName: sfn.JsonPath.executionName,
      }),
      // The state's output is `{plan}` (ResultPath left at its default, `$`).
      resultSelector: { plan: sfn.JsonPath.objectAt('$') },
      taskTimeout: sfn.Timeout.duration(Duration.minutes(2)),
    });
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
      itemReader: new ChunkListReader({
        bucket: props.stagingBucket,
        key: sfn.JsonPath.stringAt('$.plan.chunksKey'),
      }),
      maxConcurrency,
      // Every chunk ends in an outcome of its own (failures are caught inside), and the
      // summary decides whether the execution failed, naming the chunks.
      toleratedFailurePercentage: 100,
      mapExecutionType: sfn.StateMachineType.STANDARD,
      label: 'BackfillChunks',
      resultWriterV2: new MapResultsWriter({
        bucket: props.stagingBucket,
        prefix: BACKFILL_PREFIXES.mapResults,
      }),
      resultSelector: { manifestKey: sfn.JsonPath.stringAt('$.ResultWriterDetails.Key') },
      resultPath: '$.results',
    });
    chunks.itemProcessor(
      new ChunkSteps(this, 'Chunk', {
        prepareFunction: this.prepareFunction.function,
        secret: props.secret,
        warehouse: props.warehouse,
        maxLoadAttempts,
        pollInterval: props.pollInterval ?? Duration.seconds(15),
        maxLoadWait: props.maxLoadWait ?? Duration.hours(2),
      }),
    );

    const summarize = lambdaStep(this, S.summarize, {
      lambdaFunction: this.summarizeFunction.function,
      payload: sfn.TaskInput.fromObject({
        plan: sfn.JsonPath.objectAt('$.plan'),
        resultsManifestKey: sfn.JsonPath.stringAt('$.results.manifestKey'),
      }),
      resultPath: '$.summary',
      taskTimeout: sfn.Timeout.duration(Duration.minutes(6)),
    });
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
}

/**
 * The chunk list reader, granted GetObject on the chunk lists only (`backfill/runs/`), not on the
 * whole bucket as CDK's reader is (its key is a JSONPath, so CDK cannot name it): the state
 * machine's role must not reach the exactly-once records (`state/`, `manifests/`).
 */
class ChunkListReader extends sfn.S3JsonItemReader {
  override providePolicyStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.bucket.arnForObjects(`${BACKFILL_PREFIXES.runs}*`)],
      }),
    ];
  }
}

/** The map results writer, granted writing below its prefix only (`backfill/map-results`). */
class MapResultsWriter extends sfn.ResultWriterV2 {
  override providePolicyStatements(): iam.PolicyStatement[] {
    if (!this.bucket) throw new Error('MapResultsWriter needs a bucket.');
    return [
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'],
        resources: [this.bucket.arnForObjects(`${BACKFILL_PREFIXES.mapResults}/*`)],
      }),
    ];
  }
}

function withSettings(fn: PipelineFunction, settings: ExportSettings): PipelineFunction {
  fn.setEnv(ENV.projectId, settings.projectId)
    .setEnv(ENV.feeds, settings.feeds.join(','))
    .setEnv(ENV.schema, settings.schema)
    .setEnv(ENV.landingPrefix, settings.landingPrefix);
  if (settings.orgId !== undefined) fn.setEnv(ENV.orgId, settings.orgId);
  return fn;
}
