import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, type Size } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENV } from '#shared/config/pipeline.ts';
import { METRIC_NAMESPACE } from '#shared/observability/metric-names.ts';
import { acknowledge, acknowledgeWildcardResource } from '../nag.ts';
import type { RedshiftWarehouse } from './redshift-warehouse.ts';

/** The project root: NodejsFunction bundles from here, with this lock file. */
const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** `<root>/lambdas/<name>/handler.ts`: where each Lambda's thin handler lives. */
export function handlerEntry(name: string): string {
  return join(PROJECT_ROOT, 'lambdas', name, 'handler.ts');
}

// ESM bundles still meet CommonJS dependencies that call `require` for Node built-ins.
const ESM_REQUIRE_BANNER =
  "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);";

export interface PipelineFunctionProps {
  /** Absolute path to the handler, e.g. `<root>/lambdas/batcher/handler.ts`; it exports `handler`. */
  readonly entry: string;
  /** What the function does, shown in the Lambda console. */
  readonly description: string;
  /** Powertools service name (`SERVICES` of metric-names.ts): the `service` dimension of its metrics. */
  readonly serviceName: string;
  /** @default 1024 */
  readonly memorySize?: number;
  /** @default Duration.minutes(5) */
  readonly timeout?: Duration;
  /**
   * Size of /tmp (512 MiB to 10 GiB), for functions that stage large files on disk (an Export
   * API answer waits there while it is checked). Billed per GB-second above 512 MiB.
   * @default - Lambda's 512 MiB
   */
  readonly ephemeralStorageSize?: Size;
  /** @default - no reserved concurrency (the account's unreserved pool) */
  readonly reservedConcurrentExecutions?: number;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Where asynchronous invocations that failed (or expired) go.
   * @default - none: for functions only invoked synchronously (Step Functions, CloudFormation,
   * a person), whose caller receives the error
   */
  readonly onFailure?: lambda.IDestination;
  /** Retries of a failed asynchronous invocation. @default 2 (Lambda's own default) */
  readonly retryAttempts?: number;
  /** Oldest an asynchronous event may get before it is sent to `onFailure`. @default Duration.hours(6) */
  readonly maxEventAge?: Duration;
}

/**
 * The one way this project creates a Lambda function: Node.js 22 on ARM64, X-Ray tracing, a
 * log group of its own with a retention, source maps, explicit memory and timeout, and an
 * ESM bundle built by the local esbuild (no Docker).
 *
 * Every environment variable is set by a method that also grants what the variable is used
 * for (`readBucket`, `useSecret`, `useDataApi`, ...), so no function gets a name without the
 * permission or the reverse. Only `setEnv` sets a plain value without a grant.
 */
export class PipelineFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  private readonly environment = new Map<string, string>();

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Our own role instead of the AWSLambdaBasicExecutionRole managed policy, which allows
    // writing to every log group of the account.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs ${props.serviceName}`,
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );

    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      description: props.description,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 1024,
      timeout: props.timeout ?? Duration.minutes(5),
      ephemeralStorageSize: props.ephemeralStorageSize,
      tracing: lambda.Tracing.ACTIVE,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      onFailure: props.onFailure,
      retryAttempts: props.retryAttempts,
      maxEventAge: props.maxEventAge,
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        minify: true,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: false,
        // The SDK is bundled too, so the function runs the versions the tests ran.
        externalModules: [],
        forceDockerBundling: false,
      },
    });
    this.acknowledgeFindings(props);
    this.setEnv('NODE_OPTIONS', '--enable-source-maps');
    this.setEnv('POWERTOOLS_SERVICE_NAME', props.serviceName);
    this.setEnv('POWERTOOLS_METRICS_NAMESPACE', METRIC_NAMESPACE);
  }

  private acknowledgeFindings(props: PipelineFunctionProps): void {
    const runtime =
      'Node.js 22 is the runtime the project builds for and tests on (esbuild target node22) and is supported by Lambda; moving to a newer one is a deliberate, tested upgrade, not a silent default.';
    acknowledge(this, 'AwsSolutions-L1', runtime);
    acknowledge(this, 'Serverless-LambdaLatestVersion', runtime);
    acknowledge(
      this.role,
      'AwsSolutions-IAM5[Resource::*]',
      "Only for actions without resource-level permissions: xray:PutTraceSegments and xray:PutTelemetryRecords (X-Ray tracing), and, where the Data API is used, redshift-data:DescribeStatement/GetStatementResult/CancelStatement, which are limited to the caller's own statements by the redshift-data:statement-owner-iam-userid condition.",
    );
    if (props.onFailure) {
      acknowledge(
        this,
        'Serverless-LambdaDLQ',
        'Failed asynchronous invocations go to the on-failure destination (an encrypted SQS queue), the successor of a DLQ that also records the error and the request.',
      );
    } else {
      const synchronous =
        'This function is only invoked synchronously (Step Functions, CloudFormation or a person), and its caller receives and handles the error, so there are no asynchronous invocations to catch.';
      acknowledge(this, 'Serverless-LambdaDLQ', synchronous);
      acknowledge(this, 'Serverless-LambdaAsyncFailureDestination', synchronous);
    }
  }

  /** Sets a plain, non-secret value. Setting one name twice with different values is a bug. */
  setEnv(name: string, value: string): this {
    const existing = this.environment.get(name);
    if (existing !== undefined && existing !== value) {
      throw new Error(
        `${this.node.path}: environment variable ${name} is already set to a different value; each name is set once.`,
      );
    }
    this.environment.set(name, value);
    this.function.addEnvironment(name, value);
    return this;
  }

  /**
   * Names `bucket` in `envName` and grants reading objects (below `prefix` only, when given),
   * listing the bucket, and decrypting with its KMS key when it has one.
   */
  readBucket(envName: string, bucket: s3.IBucket, prefix?: string): this {
    this.grantObjects(bucket, [prefix ?? ''], ['s3:GetObject'], `read ${envName} objects`);
    bucket.encryptionKey?.grantDecrypt(this.role);
    return this.setEnv(envName, bucket.bucketName);
  }

  /**
   * Names `bucket` in `envName` and grants reading, writing and deleting objects (below each of
   * `prefixes` only, when given), listing the bucket, and using its KMS key when it has one.
   */
  readWriteBucket(envName: string, bucket: s3.IBucket, prefixes?: readonly string[]): this {
    return this.writeObjects(envName, bucket, prefixes ?? [''], true);
  }

  /**
   * Like `readWriteBucket` without deleting: for objects the function writes once and another
   * function (or a lifecycle rule) removes, such as pending manifests and quarantine records.
   */
  writeBucket(envName: string, bucket: s3.IBucket, prefixes: readonly string[]): this {
    return this.writeObjects(envName, bucket, prefixes, false);
  }

  private writeObjects(
    envName: string,
    bucket: s3.IBucket,
    prefixes: readonly string[],
    deletes: boolean,
  ): this {
    this.grantObjects(
      bucket,
      prefixes,
      // Copy and conditional writes are GetObject + PutObject; multipart uploads are PutObject
      // plus AbortMultipartUpload when one fails.
      ['s3:GetObject', 's3:PutObject', ...(deletes ? ['s3:DeleteObject'] : []), 's3:AbortMultipartUpload'],
      `${deletes ? 'read and write' : 'write'} ${envName} objects`,
    );
    if (bucket.encryptionKey) this.useKey(bucket.encryptionKey);
    return this.setEnv(envName, bucket.bucketName);
  }

  private grantObjects(
    bucket: s3.IBucket,
    prefixes: readonly string[],
    actions: string[],
    purpose: string,
  ): void {
    const objects = prefixes.map((prefix) => bucket.arnForObjects(`${prefix}*`));
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources: objects }));
    // Unconditional: without s3:ListBucket a HEAD of a missing key answers 403, not 404, and
    // the request carries no s3:prefix a condition could test. Listing shows key names only.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }),
    );
    for (const [index, arn] of objects.entries()) {
      acknowledgeWildcardResource(
        this.role,
        arn,
        `To ${purpose} below "${prefixes[index]}": object keys are made at run time (dates, batch ids), so the grant names the prefix, never the whole account.`,
      );
    }
  }

  /**
   * Names the secret's ARN in `envName` and grants reading it. The Data API reads the secret
   * with the caller's permissions, so a caller that only passes the ARN still needs this.
   */
  useSecret(envName: string, secret: secretsmanager.ISecret): this {
    secret.grantRead(this.function);
    return this.setEnv(envName, secret.secretArn);
  }

  /**
   * Sets the database, the cluster identifier or workgroup name and the secret ARN (the ENV
   * names of `shared/config/pipeline.ts`) and grants the Data API calls on that target only,
   * plus reading this function's own statements.
   */
  useDataApi(target: RedshiftWarehouse, secret: secretsmanager.ISecret): this {
    target.grantDataApi(this.function);
    this.useSecret(ENV.secretArn, secret);
    this.setEnv(ENV.database, target.database);
    return target.endpoint.kind === 'cluster'
      ? this.setEnv(ENV.clusterIdentifier, target.endpoint.clusterIdentifier)
      : this.setEnv(ENV.workgroupName, target.endpoint.workgroupName);
  }

  /**
   * Names `target` in `envName` and grants invoking it (the unqualified function only, which is
   * what an invoke by name calls: no version or alias wildcard).
   */
  invokes(envName: string, target: lambda.IFunction): this {
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [target.functionArn] }),
    );
    return this.setEnv(envName, target.functionName);
  }

  /**
   * Grants decrypting and generating data keys with `key`: what reading and writing objects
   * or messages encrypted with it takes (no wildcard actions such as ReEncrypt*).
   */
  useKey(key: kms.IKey): this {
    key.grant(this.role, 'kms:Decrypt', 'kms:GenerateDataKey');
    return this;
  }
}
