import { CustomResource, Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct, type IConstruct } from 'constructs';
import { PREFIXES } from '#shared/base/staging-keys.ts';
import { ENV } from '#shared/config/pipeline.ts';
import { maxEventAgeSeconds, scheduledTimeoutSeconds } from '#shared/config/scheduled-run.ts';
import { SERVICES } from '#shared/observability/metric-names.ts';
import type { Feed } from '#shared/schema/columns.ts';
import { acknowledge, acknowledgeWildcardResource } from '../nag.ts';
import { handlerEntry, PipelineFunction, type PipelineFunctionProps } from './pipeline-function.ts';
import type { WarehouseAccess } from './redshift-warehouse.ts';

/** What the Lambdas are told about the export (the same for all of them). */
export interface ExportSettings {
  readonly projectId: string;
  /** @default - merged-ID files of any org */
  readonly orgId?: string;
  readonly feeds: readonly Feed[];
  /** Warehouse schema of the tables. */
  readonly schema: string;
  /** Key prefix of Amplitude's export files in the landing bucket ('' for none). */
  readonly landingPrefix: string;
}

export interface PipelineProps extends WarehouseAccess {
  readonly settings: ExportSettings;
  /** Bucket Amplitude's S3 export writes to; read-only for the pipeline. */
  readonly landingBucket: s3.IBucket;
  /** Bucket for staged parts, manifests, quarantine and state (encrypted with `key`). */
  readonly stagingBucket: s3.IBucket;
  /** Key of the staging bucket; also encrypts the dead-letter queue. */
  readonly key: kms.IKey;
  /** @default Duration.minutes(5) */
  readonly batchInterval?: Duration;
  /** @default Duration.minutes(10) */
  readonly loadInterval?: Duration;
  /**
   * Run the verify check as a custom resource during each update that changes its inputs, and
   * fail that update when a check fails. Never checks on the stack's first deploy (the COPY role
   * is only created then and cannot be associated yet) or during a rollback. Only useful with
   * an existing secret.
   * @default false
   */
  readonly verifyOnDeploy?: boolean;
}

/**
 * The stateless part of the export: the batcher and loader Lambdas on their schedules, the
 * verify Lambda, and the dead-letter queue that catches anything those invocations drop.
 */
export class Pipeline extends Construct {
  readonly batcher: PipelineFunction;
  readonly loader: PipelineFunction;
  readonly verify: PipelineFunction;
  /** Failed asynchronous invocations and undeliverable schedule events of both functions. */
  readonly deadLetterQueue: sqs.Queue;
  readonly batchSchedule: events.Rule;
  readonly loadSchedule: events.Rule;

  constructor(scope: Construct, id: string, props: PipelineProps) {
    super(scope, id);
    const batchInterval = props.batchInterval ?? Duration.minutes(5);
    const loadInterval = props.loadInterval ?? Duration.minutes(10);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    // EventBridge writes undeliverable events to the queue and needs the key for that.
    props.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'EventBridgeDeadLetters',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    const deadLetterReason =
      'This queue is itself the dead-letter queue of the scheduled functions and their schedules; a queue behind it would only move the same messages.';
    acknowledge(this.deadLetterQueue, 'AwsSolutions-SQS3', deadLetterReason);
    acknowledge(this.deadLetterQueue, 'Serverless-SQSRedrivePolicy', deadLetterReason);
    const onFailure = new EncryptedQueueDestination(this.deadLetterQueue, props.key);

    this.batcher = new PipelineFunction(this, 'Batcher', {
      entry: handlerEntry('batcher'),
      serviceName: SERVICES.batcher,
      description: 'Turns new Amplitude export files into staged, gzip CSV batches',
      memorySize: 2048,
      reservedConcurrentExecutions: 1,
      ...scheduledFunction(batchInterval, onFailure),
    });
    withSettings(this.batcher, props.settings)
      .readBucket(ENV.landingBucket, props.landingBucket, props.settings.landingPrefix)
      // Parts (leftovers of an interrupted attempt are deleted) and state (open batches, leases).
      .readWriteBucket(ENV.stagingBucket, props.stagingBucket, [PREFIXES.staging, PREFIXES.state])
      // Written once, never deleted by the batcher.
      .writeBucket(ENV.stagingBucket, props.stagingBucket, [PREFIXES.pending, PREFIXES.quarantine])
      // Recovering an open batch asks whether its manifest was already loaded or failed (HEAD).
      .readBucket(ENV.stagingBucket, props.stagingBucket, PREFIXES.loaded)
      .readBucket(ENV.stagingBucket, props.stagingBucket, PREFIXES.failed);

    this.loader = new PipelineFunction(this, 'Loader', {
      entry: handlerEntry('loader'),
      serviceName: SERVICES.loader,
      description: 'Loads pending batches into Redshift in one transaction per run, exactly once',
      memorySize: 512,
      reservedConcurrentExecutions: 1,
      ...scheduledFunction(loadInterval, onFailure),
    });
    withSettings(this.loader, props.settings)
      .readWriteBucket(ENV.stagingBucket, props.stagingBucket, [PREFIXES.manifests, PREFIXES.state])
      .readBucket(ENV.stagingBucket, props.stagingBucket, PREFIXES.staging)
      .useDataApi(props.warehouse, props.secret)
      .setEnv(ENV.copyRoleArn, props.copyRole.roleArn);
    // Freshness: with the loader on its schedule alone a file waits for the next batcher run and
    // then for the next loader run, p99 over 15 minutes (npm run bench -- freshness); started by
    // the batcher when it staged batches, the load follows the batch within seconds.
    this.batcher.invokes(ENV.loaderFunctionName, this.loader.function);

    this.verify = new PipelineFunction(this, 'Verify', {
      entry: handlerEntry('verify'),
      serviceName: SERVICES.verify,
      description: 'Checks the deployment end to end: secret, tables, grants, COPY role (invoke it by hand)',
      memorySize: 512,
      timeout: Duration.minutes(5),
    });
    withSettings(this.verify, props.settings)
      .readWriteBucket(ENV.stagingBucket, props.stagingBucket, [PREFIXES.verify])
      .useDataApi(props.warehouse, props.secret)
      .setEnv(ENV.copyRoleArn, props.copyRole.roleArn);

    this.batchSchedule = schedule(this, 'BatchSchedule', this.batcher, batchInterval, this.deadLetterQueue);
    this.loadSchedule = schedule(this, 'LoadSchedule', this.loader, loadInterval, this.deadLetterQueue);

    if (props.verifyOnDeploy) this.verifyOnDeploy(props, [props.stagingBucket, props.key]);
  }

  /**
   * Runs verify as a custom resource: CloudFormation fails an update with the failed checks and
   * their fixes. The function skips the check on the stack's first deploy and during a rollback
   * (it reads the stack's status: `deployCheckDecision` in shared/verify/on-deploy.ts), and the
   * resource waits for everything the check uses, so it never tests a half-made stack.
   */
  private verifyOnDeploy(props: PipelineProps, checked: readonly IConstruct[]): void {
    const stack = Stack.of(this);
    // This stack only, by its id (the custom resource event's StackId).
    this.verify.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadOwnStackStatus',
        actions: ['cloudformation:DescribeStacks'],
        resources: [stack.stackId],
      }),
    );
    const logGroup = new logs.LogGroup(this, 'VerifyProviderLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
    });
    const role = new iam.Role(this, 'VerifyProviderRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Runs the custom resource framework that invokes the verify function during deploy',
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    const provider = new cr.Provider(this, 'VerifyProvider', {
      onEventHandler: this.verify.function,
      frameworkOnEventRole: role,
      logGroup,
    });
    const deployTimeOnly =
      "CDK's custom resource framework function runs only during a deploy and only invokes the verify function; CloudFormation reports its failure and rolls back, so there is no asynchronous invocation to catch, nothing to trace beyond the verify function (traced), and 128 MB is plenty for relaying one call.";
    acknowledge(provider, 'Serverless-LambdaDLQ', deployTimeOnly);
    acknowledge(provider, 'Serverless-LambdaTracing', deployTimeOnly);
    acknowledge(provider, 'Serverless-LambdaDefaultMemorySize', deployTimeOnly);
    acknowledgeWildcardResource(
      role,
      `${this.verify.function.functionArn}:*`,
      'The framework may invoke any version of the verify function (and only that function).',
    );
    const check = new CustomResource(this, 'VerifyOnDeploy', {
      serviceToken: provider.serviceToken,
      properties: {
        secretArn: props.secret.secretArn,
        warehouse: props.warehouse.arn,
        database: props.warehouse.database,
        copyRoleArn: props.copyRole.roleArn,
        schema: props.settings.schema,
        feeds: props.settings.feeds.join(','),
      },
    });
    // Every resource the check reads or uses, with its policies: the COPY role and its policy,
    // the verify function's role and policy, the bucket and its policy, the key, the secret.
    for (const construct of [this.verify, props.copyRole, props.secret, props.warehouse, ...checked]) {
      check.node.addDependency(construct);
    }
  }
}

/**
 * Lambda's on-failure destination for a KMS-encrypted queue, granting exactly what sending
 * takes (SendMessage, and GenerateDataKey/Decrypt on the key) instead of the broader grant of
 * `SqsDestination` (kms:ReEncrypt*, kms:GenerateDataKey*).
 */
export class EncryptedQueueDestination implements lambda.IDestination {
  constructor(
    private readonly queue: sqs.IQueue,
    private readonly key: kms.IKey,
  ) {}

  bind(_scope: Construct, fn: lambda.IFunction): lambda.DestinationConfig {
    this.queue.grant(fn, 'sqs:SendMessage');
    this.key.grant(fn, 'kms:Decrypt', 'kms:GenerateDataKey');
    return { destination: this.queue.queueArn };
  }
}

/**
 * Timeout, retries, event age and failure destination of a function run every `interval`, as
 * shared/config/scheduled-run.ts derives them: the run ends before the next tick, so the DLQ
 * holds only real failures (see the README's "Scheduling" section).
 */
export function scheduledFunction(
  interval: Duration,
  onFailure: lambda.IDestination,
): Pick<PipelineFunctionProps, 'timeout' | 'maxEventAge' | 'retryAttempts' | 'onFailure'> {
  return {
    timeout: Duration.seconds(scheduledTimeoutSeconds(interval.toSeconds())),
    maxEventAge: Duration.seconds(maxEventAgeSeconds(interval.toSeconds())),
    // The next scheduled run does the same work, so a retry would only queue behind it.
    retryAttempts: 0,
    onFailure,
  };
}

function withSettings(fn: PipelineFunction, settings: ExportSettings): PipelineFunction {
  fn.setEnv(ENV.projectId, settings.projectId)
    .setEnv(ENV.feeds, settings.feeds.join(','))
    .setEnv(ENV.schema, settings.schema)
    .setEnv(ENV.landingPrefix, settings.landingPrefix);
  if (settings.orgId !== undefined) fn.setEnv(ENV.orgId, settings.orgId);
  return fn;
}

/** Runs `fn` every `interval`, retrying delivery twice and dropping undeliverable events into `deadLetterQueue`. */
export function schedule(
  scope: Construct,
  id: string,
  fn: PipelineFunction,
  interval: Duration,
  deadLetterQueue: sqs.IQueue,
): events.Rule {
  return new events.Rule(scope, id, {
    description: `Runs ${fn.node.id} every ${interval.toMinutes()} minute(s)`,
    schedule: events.Schedule.rate(interval),
    targets: [
      new targets.LambdaFunction(fn.function, {
        deadLetterQueue,
        retryAttempts: 2,
        // The same age as the function's own asynchronous queue (scheduledFunction).
        maxEventAge: Duration.seconds(maxEventAgeSeconds(interval.toSeconds())),
      }),
    ],
  });
}
