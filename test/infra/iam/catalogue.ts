/**
 * The calls each runtime actor of the deployed stack makes, and the calls it must never be able
 * to make. The permission-matrix test (test/infra/permissions.test.ts) evaluates every row with
 * an independent IAM evaluator over the synthesized template, and fails when a role is granted
 * anything no row here uses.
 *
 * Object keys are built with the same key functions the code uses (the layout modules), so a
 * layout change moves the rows with it. To add a call: add a row to `expectedCalls` under its
 * actor, with the source of the AWS fact in `why` when it is not our own code.
 */

import { eventFileName, mergeIdFileName } from '#shared/base/export-files.ts';
import {
  BACKFILL_PREFIXES,
  backfillManifestKey,
  chunksKey,
  copyManifestKey,
  leaseKey,
  manifestKey,
  PREFIXES,
  processedKey,
  quarantineKey,
  reportKey,
  stagingPrefix,
} from '#shared/base/staging-keys.ts';
import { BATCHER_LEASE } from '#shared/pipeline/batcher/batcher.ts';
import { openBatchKey } from '#shared/pipeline/batcher/state.ts';
import { LOADER_LEASE } from '#shared/pipeline/loader/run.ts';
import { attemptsKey, failureReportKey } from '#shared/pipeline/loader/state.ts';
import { LIVE_LEASE_NAME } from '#shared/sources/amplitude-export-api/live.ts';
import { liveStateKey } from '#shared/sources/amplitude-export-api/live-state.ts';
import { STACK_UUID } from './resolve.ts';

/** Roles of the stack, by what runs as them. */
export type RoleActor =
  | 'batcher'
  | 'loader'
  | 'verify'
  | 'exportApiPull'
  | 'backfillPlan'
  | 'backfillPrepare'
  | 'backfillSummarize'
  | 'stateMachine'
  | 'copyRole'
  | 'workgroupLookup'
  | 'verifyProvider';

/** AWS services that act on the stack's resources themselves (service principals). */
export type ServiceActor = 'redshift' | 'redshift-serverless' | 'cloudwatch' | 'events';

export type Actor = RoleActor | ServiceActor;

export const SERVICE_PRINCIPALS: Readonly<Record<ServiceActor, string>> = {
  redshift: 'redshift.amazonaws.com',
  'redshift-serverless': 'redshift-serverless.amazonaws.com',
  cloudwatch: 'cloudwatch.amazonaws.com',
  events: 'events.amazonaws.com',
};

export interface Call {
  readonly actor: Actor;
  readonly action: string;
  readonly resource: string;
  /** Request context beyond what every call carries (TLS, the caller's ids). */
  readonly context?: Readonly<Record<string, string | string[]>>;
  readonly why: string;
}

/** The concrete names of the deployed stack that the rows refer to (from the resolved template). */
export interface World {
  readonly account: string;
  readonly region: string;
  readonly stackName: string;
  readonly projectId: string;
  readonly orgId: string;
  readonly landingBucket: string;
  readonly landingPrefix: string;
  readonly stagingBucket: string;
  readonly keyArn: string;
  readonly redshiftSecretArn: string;
  readonly exportApiSecretArn?: string;
  readonly warehouseArn: string;
  readonly topicArn: string;
  readonly queueArn: string;
  readonly stateMachineArn: string;
  readonly stateMachineName: string;
  readonly copyRoleArn: string;
  /** Function ARNs by actor (only the Lambda actors present in this deployment). */
  readonly functions: Partial<Record<RoleActor, string>>;
  /** Log group ARNs (`...:log-group:<name>:*`) by actor. */
  readonly logGroups: Partial<Record<RoleActor, string>>;
  /** Scheduled functions: rule ARN and the function it invokes. */
  readonly schedules: readonly { readonly ruleArn: string; readonly functionArn: string }[];
  /** Functions whose failed asynchronous invocations go to the dead-letter queue. */
  readonly onFailureSenders: readonly RoleActor[];
  readonly alarmArns: readonly string[];
  readonly exportApi: boolean;
  readonly serverless: boolean;
}

const BATCH = 'b-20260101t000000-000001';
const READ_WRITE = ['s3:PutObject', 's3:GetObject', 's3:DeleteObject', 's3:AbortMultipartUpload'] as const;
const DAY = '2026-01-01';

function object(bucket: string, key: string): string {
  return `arn:aws:s3:::${bucket}/${key}`;
}

function bucket(name: string): string {
  return `arn:aws:s3:::${name}`;
}

/** What reading or writing an SSE-KMS object, or an encrypted message, asks of KMS for the caller. */
function viaService(service: 's3' | 'sqs' | 'secretsmanager', w: World): Record<string, string> {
  return { 'kms:ViaService': `${service}.${w.region}.amazonaws.com` };
}

export function expectedCalls(w: World): Call[] {
  const calls: Call[] = [];
  const add = (actor: Actor, action: string, resource: string, why: string, context?: Call['context']) =>
    calls.push({ actor, action, resource, why, ...(context ? { context } : {}) });
  const staging = (key: string) => object(w.stagingBucket, key);
  const landing = (name: string) => object(w.landingBucket, `${w.landingPrefix}${name}`);
  /** Read, write, delete and abort an upload of one object: what readWriteBucket grants. */
  const readWrite = (actor: Actor, resource: string, why: string) => {
    for (const action of READ_WRITE) add(actor, action, resource, why);
  };
  const s3Key = viaService('s3', w);

  // Every Lambda: its own log group and X-Ray.
  for (const actor of Object.keys(w.functions) as RoleActor[]) {
    const logGroup = w.logGroups[actor];
    if (logGroup) {
      const stream = logGroup.replace(/:\*$/, ':log-stream:2026/01/01/[$LATEST]abc');
      add(actor, 'logs:CreateLogStream', stream, 'Lambda writes the function log to its own log group');
      add(actor, 'logs:PutLogEvents', stream, 'Lambda writes the function log to its own log group');
    }
    if (actor !== 'verifyProvider' && actor !== 'workgroupLookup') {
      add(actor, 'xray:PutTraceSegments', '*', 'active tracing');
      add(actor, 'xray:PutTelemetryRecords', '*', 'active tracing');
    }
  }
  for (const actor of w.onFailureSenders) {
    add(
      actor,
      'sqs:SendMessage',
      w.queueArn,
      'Lambda sends a failed asynchronous invocation to the on-failure destination with the execution role',
    );
    add(
      actor,
      'kms:GenerateDataKey',
      w.keyArn,
      'SQS encrypts the message with the queue key for the sender',
      viaService('sqs', w),
    );
    add(
      actor,
      'kms:Decrypt',
      w.keyArn,
      'SQS reuses a cached data key, which it decrypts for the sender',
      viaService('sqs', w),
    );
  }

  // Batcher: landing read-only; staging parts, pending manifests, quarantine and state.
  const part = `${stagingPrefix('events', DAY, BATCH)}part-00000.csv.gz`;
  add('batcher', 's3:ListBucket', bucket(w.landingBucket), 'discovers new export files', {
    's3:prefix': w.landingPrefix,
  });
  add(
    'batcher',
    's3:GetObject',
    landing(eventFileName(w.projectId, DAY, 5, 0)),
    'reads an events export file',
  );
  add('batcher', 's3:GetObject', landing(mergeIdFileName(w.orgId, DAY, 5)), 'reads a merged-ID export file');
  add(
    'batcher',
    's3:ListBucket',
    bucket(w.stagingBucket),
    'lists its state, open batches and leftover parts',
  );
  for (const key of [
    part,
    manifestKey('pending', 'events', BATCH),
    quarantineKey('events', BATCH),
    processedKey('events', DAY),
    leaseKey(BATCHER_LEASE),
    openBatchKey('events', BATCH),
  ]) {
    add('batcher', 's3:PutObject', staging(key), 'writes a batch, its manifest, quarantine, state and lease');
    add('batcher', 's3:GetObject', staging(key), 'reads back state and leases; HEAD of its own objects');
    add('batcher', 's3:AbortMultipartUpload', staging(key), 'a failed multipart upload is aborted');
  }
  add(
    'batcher',
    's3:DeleteObject',
    staging(part),
    'removes leftover parts of an interrupted attempt (removeLeftovers)',
  );
  add('batcher', 's3:DeleteObject', staging(openBatchKey('events', BATCH)), 'closes an open batch');
  add('batcher', 's3:DeleteObject', staging(leaseKey(BATCHER_LEASE)), 'releases its lease');
  for (const state of ['loaded', 'failed'] as const) {
    add(
      'batcher',
      's3:GetObject',
      staging(manifestKey(state, 'events', BATCH)),
      'HEAD: was an open batch already loaded or failed? (manifestExists)',
    );
  }
  add('batcher', 'kms:GenerateDataKey', w.keyArn, 'writes SSE-KMS objects', s3Key);
  add('batcher', 'kms:Decrypt', w.keyArn, 'reads SSE-KMS objects', s3Key);
  if (w.functions.loader) {
    add(
      'batcher',
      'lambda:InvokeFunction',
      w.functions.loader,
      'starts a load after staging batches: asynchronous invoke by name (lambdas/batcher/handler.ts)',
    );
  }

  // Loader: pending -> loaded/failed manifests, copy manifests, attempts, lease; the Data API.
  add('loader', 's3:ListBucket', bucket(w.stagingBucket), 'lists pending manifests');
  for (const key of [
    manifestKey('pending', 'events', BATCH),
    manifestKey('loaded', 'events', BATCH),
    manifestKey('failed', 'events', BATCH),
    copyManifestKey('load-1'),
    attemptsKey('events', BATCH),
    failureReportKey('events', BATCH),
    leaseKey(LOADER_LEASE),
  ]) {
    add('loader', 's3:GetObject', staging(key), 'reads manifests, attempts and its lease');
    add(
      'loader',
      's3:PutObject',
      staging(key),
      'moves manifests (copy), writes copy manifests, attempts, failure reports, its lease',
    );
    add(
      'loader',
      's3:DeleteObject',
      staging(key),
      'moves manifests (delete), removes copy manifests, attempts, its lease',
    );
    add('loader', 's3:AbortMultipartUpload', staging(key), 'a failed upload is aborted');
  }
  add('loader', 's3:GetObject', staging(part), 'HEAD of the parts a manifest names');
  add('loader', 'kms:GenerateDataKey', w.keyArn, 'writes SSE-KMS objects', s3Key);
  add('loader', 'kms:Decrypt', w.keyArn, 'reads SSE-KMS objects', s3Key);
  dataApi('loader', 'redshift-data:BatchExecuteStatement');

  // Verify: a test batch below verify/, the Data API, the COPY through the COPY role.
  const verifyKey = `${PREFIXES.verify}run-1/events/part-00000.csv.gz`;
  add('verify', 's3:ListBucket', bucket(w.stagingBucket), 'HEAD of a missing key answers 404, not 403');
  readWrite('verify', staging(verifyKey), 'writes, reads and removes its test batch');
  add('verify', 'kms:GenerateDataKey', w.keyArn, 'writes SSE-KMS objects', s3Key);
  add('verify', 'kms:Decrypt', w.keyArn, 'reads SSE-KMS objects', s3Key);
  dataApi('verify', 'redshift-data:BatchExecuteStatement');

  // The COPY role as Redshift uses it: read parts and manifests, list the bucket.
  for (const key of [part, manifestKey('pending', 'events', BATCH), copyManifestKey('load-1'), verifyKey]) {
    add('copyRole', 's3:GetObject', staging(key), 'COPY reads the manifest and the parts it names');
  }
  add('copyRole', 's3:ListBucket', bucket(w.stagingBucket), 'COPY lists the bucket');
  add('copyRole', 's3:GetBucketLocation', bucket(w.stagingBucket), 'COPY finds the bucket region');
  add('copyRole', 'kms:Decrypt', w.keyArn, 'COPY reads SSE-KMS parts', s3Key);
  // Redshift assumes the COPY role for this account's cluster or namespace only.
  const assumer: ServiceActor[] = w.serverless ? ['redshift', 'redshift-serverless'] : ['redshift'];
  for (const actor of assumer) {
    add(
      actor,
      'sts:AssumeRole',
      w.copyRoleArn,
      'COPY ... IAM_ROLE: Redshift assumes the role for this account',
      { 'aws:SourceAccount': w.account },
    );
  }

  // Backfill Lambdas.
  const runId = 'exec-1';
  add('backfillPlan', 's3:ListBucket', bucket(w.stagingBucket), 'HEAD of a missing key answers 404');
  readWrite('backfillPlan', staging(chunksKey(runId)), 'writes the chunk list');
  for (const actor of ['backfillPlan', 'backfillPrepare', 'backfillSummarize'] as const) {
    add(actor, 'kms:GenerateDataKey', w.keyArn, 'writes SSE-KMS objects', s3Key);
    add(actor, 'kms:Decrypt', w.keyArn, 'reads SSE-KMS objects', s3Key);
  }
  add('backfillPrepare', 's3:ListBucket', bucket(w.landingBucket), 'lists the hours of a chunk', {
    's3:prefix': w.landingPrefix,
  });
  add(
    'backfillPrepare',
    's3:GetObject',
    landing(eventFileName(w.projectId, DAY, 5, 0)),
    'reads the export files of a chunk',
  );
  add('backfillPrepare', 's3:ListBucket', bucket(w.stagingBucket), 'lists leftover parts');
  for (const key of [
    part,
    quarantineKey('events', BATCH),
    copyManifestKey('load-1'),
    backfillManifestKey('events', BATCH),
  ]) {
    readWrite(
      'backfillPrepare',
      staging(key),
      'stages the chunk: parts, quarantine, manifests, removes leftovers',
    );
  }
  if (w.exportApi && w.exportApiSecretArn) {
    add('backfillPrepare', 'secretsmanager:GetSecretValue', w.exportApiSecretArn, 'Export API credentials');
    for (const action of ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload']) {
      add(
        'backfillPrepare',
        action,
        landing(eventFileName(w.projectId, DAY, 5, 0)),
        'writes pulled hours into landing; deletes parts a newer answer no longer has',
      );
    }
  }
  add('backfillSummarize', 's3:ListBucket', bucket(w.stagingBucket), 'HEAD of a missing key answers 404');
  for (const key of [reportKey(runId), `${BACKFILL_PREFIXES.mapResults}/map-run-1/manifest.json`]) {
    readWrite('backfillSummarize', staging(key), 'reads the map results, writes the report');
  }
  dataApi('backfillSummarize', 'redshift-data:ExecuteStatement');

  // The state machine: its Lambdas, the Data API load, the Distributed Map's S3 items and results.
  for (const actor of ['backfillPlan', 'backfillPrepare', 'backfillSummarize'] as const) {
    const fn = w.functions[actor];
    if (fn) add('stateMachine', 'lambda:InvokeFunction', fn, 'Lambda task');
    if (fn) add('stateMachine', 'lambda:InvokeFunction', `${fn}:$LATEST`, 'Lambda task (qualified ARN)');
  }
  add(
    'stateMachine',
    'redshift-data:BatchExecuteStatement',
    w.warehouseArn,
    'Start load (aws-sdk:redshiftdata:batchExecuteStatement)',
  );
  add('stateMachine', 'redshift-data:DescribeStatement', '*', 'Check load, from any session of the role', {
    'redshift-data:statement-owner-iam-userid': '<roleId>:any-session',
  });
  add(
    'stateMachine',
    'secretsmanager:GetSecretValue',
    w.redshiftSecretArn,
    'the Data API reads the secret with the caller’s permissions',
  );
  add('stateMachine', 's3:GetObject', staging(chunksKey(runId)), 'ItemReader reads the chunk list');
  add(
    'stateMachine',
    's3:PutObject',
    staging(`${BACKFILL_PREFIXES.mapResults}/map-run-1/SUCCEEDED_0.json`),
    'ResultWriter writes the map results',
  );
  add(
    'stateMachine',
    's3:GetObject',
    staging(`${BACKFILL_PREFIXES.mapResults}/map-run-1/SUCCEEDED_0.json`),
    'ResultWriter (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html#resultwriter-iam-policies)',
  );
  add(
    'stateMachine',
    's3:AbortMultipartUpload',
    staging(`${BACKFILL_PREFIXES.mapResults}/map-run-1/SUCCEEDED_0.json`),
    'ResultWriter',
  );
  add(
    'stateMachine',
    's3:ListMultipartUploadParts',
    staging(`${BACKFILL_PREFIXES.mapResults}/map-run-1/SUCCEEDED_0.json`),
    'ResultWriter',
  );
  add('stateMachine', 'kms:GenerateDataKey', w.keyArn, 'writes SSE-KMS map results', s3Key);
  add('stateMachine', 'kms:Decrypt', w.keyArn, 'reads the SSE-KMS chunk list; the secret’s key', s3Key);
  // Distributed Map child executions (https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html).
  add('stateMachine', 'states:StartExecution', w.stateMachineArn, 'Distributed Map starts child executions');
  const execution = `arn:aws:states:${w.region}:${w.account}:execution:${w.stateMachineName}`;
  // The resource of these two as AWS's Distributed Map policy example and CDK name it
  // (`execution:<state machine>:*`); which execution ARN the service checks is unverified here.
  add(
    'stateMachine',
    'states:DescribeExecution',
    `${execution}:exec-1`,
    'Distributed Map watches executions of this state machine',
  );
  add(
    'stateMachine',
    'states:StopExecution',
    `${execution}:exec-1`,
    'Distributed Map stops executions of this state machine',
  );
  add(
    'stateMachine',
    'states:RedriveExecution',
    `${execution}/BackfillChunks:child-1`,
    'redriving a map run',
  );
  for (const action of [
    'logs:CreateLogDelivery',
    'logs:GetLogDelivery',
    'logs:UpdateLogDelivery',
    'logs:DeleteLogDelivery',
    'logs:ListLogDeliveries',
    'logs:PutResourcePolicy',
    'logs:DescribeResourcePolicies',
    'logs:DescribeLogGroups',
  ]) {
    add(
      'stateMachine',
      action,
      '*',
      'Step Functions log delivery (vended logs; https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html)',
    );
  }
  for (const action of [
    'xray:PutTraceSegments',
    'xray:PutTelemetryRecords',
    'xray:GetSamplingRules',
    'xray:GetSamplingTargets',
  ]) {
    add('stateMachine', action, '*', 'state machine tracing');
  }

  // Export API pull: its secret, landing below the prefix, its state and lease.
  if (w.exportApi && w.exportApiSecretArn) {
    add('exportApiPull', 'secretsmanager:GetSecretValue', w.exportApiSecretArn, 'Export API credentials');
    add('exportApiPull', 's3:ListBucket', bucket(w.landingBucket), 'lists the parts of an hour', {
      's3:prefix': w.landingPrefix,
    });
    readWrite(
      'exportApiPull',
      landing(eventFileName(w.projectId, DAY, 5, 0)),
      'writes pulled hours, deletes parts a newer answer no longer has',
    );
    add('exportApiPull', 's3:ListBucket', bucket(w.stagingBucket), 'HEAD of a missing key answers 404');
    for (const key of [liveStateKey(w.projectId), leaseKey(LIVE_LEASE_NAME)]) {
      readWrite('exportApiPull', staging(key), 'its state record and lease');
    }
    add('exportApiPull', 'kms:GenerateDataKey', w.keyArn, 'writes SSE-KMS state', s3Key);
    add('exportApiPull', 'kms:Decrypt', w.keyArn, 'reads SSE-KMS state', s3Key);
  }

  // Deploy-time helpers.
  if (w.serverless) {
    add(
      'workgroupLookup',
      'redshift-serverless:GetWorkgroup',
      `arn:aws:redshift-serverless:${w.region}:${w.account}:workgroup/any-id`,
      'finds the workgroup ARN once per deploy',
    );
  }
  if (w.functions.verify && w.functions.verifyProvider) {
    add(
      'verifyProvider',
      'lambda:InvokeFunction',
      w.functions.verify,
      'the custom resource framework invokes verify',
    );
    add(
      'verifyProvider',
      'lambda:InvokeFunction',
      `${w.functions.verify}:$LATEST`,
      'the framework may invoke a version',
    );
    add(
      'verifyProvider',
      'lambda:GetFunction',
      w.functions.verify,
      'the framework waits until the function is active',
    );
    add(
      'verify',
      'cloudformation:DescribeStacks',
      `arn:aws:cloudformation:${w.region}:${w.account}:stack/${w.stackName}/${STACK_UUID}`,
      'verifyOnDeploy: no check on the first deploy or during a rollback (shared/verify/on-deploy.ts)',
    );
  }

  // CloudWatch alarms -> encrypted SNS topic (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
  for (const alarm of w.alarmArns) {
    const source = { 'aws:SourceAccount': w.account, 'aws:SourceArn': alarm };
    add('cloudwatch', 'sns:Publish', w.topicArn, 'alarm action', source);
    add('cloudwatch', 'kms:GenerateDataKey', w.keyArn, 'publishing to the KMS-encrypted topic', source);
    add('cloudwatch', 'kms:Decrypt', w.keyArn, 'publishing to the KMS-encrypted topic', source);
  }
  // EventBridge schedules -> functions; undeliverable events -> the encrypted DLQ
  // (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html).
  for (const { ruleArn, functionArn } of w.schedules) {
    const source = { 'aws:SourceAccount': w.account, 'aws:SourceArn': ruleArn };
    add('events', 'lambda:InvokeFunction', functionArn, 'scheduled run', source);
    add('events', 'sqs:SendMessage', w.queueArn, 'undeliverable schedule event', source);
    add('events', 'kms:GenerateDataKey', w.keyArn, 'writing to the KMS-encrypted DLQ', source);
    add('events', 'kms:Decrypt', w.keyArn, 'writing to the KMS-encrypted DLQ', source);
  }
  return calls;

  function dataApi(actor: RoleActor, run: string): void {
    add(actor, run, w.warehouseArn, 'runs statements on this warehouse only');
    for (const action of [
      'redshift-data:DescribeStatement',
      'redshift-data:GetStatementResult',
      'redshift-data:CancelStatement',
    ]) {
      add(actor, action, '*', 'its own statements', {
        'redshift-data:statement-owner-iam-userid': '<roleId>:same-session',
      });
    }
    add(
      actor,
      'secretsmanager:GetSecretValue',
      w.redshiftSecretArn,
      'the Data API reads the secret with the caller’s permissions',
    );
  }
}

/**
 * Grants the catalogue tolerates without a call that uses them, each with the reason. Anything
 * else granted and not used by a row fails the matrix.
 */
export const TOLERATED_GRANTS: readonly { actor: RoleActor | '*'; action: string; why: string }[] = [
  {
    actor: '*',
    action: 'secretsmanager:DescribeSecret',
    why: "CDK's grantRead pairs it with GetSecretValue; it reads metadata only, never the value.",
  },
  {
    actor: '*',
    action: 'redshift-data:ExecuteStatement',
    why: 'Granted with BatchExecuteStatement by RedshiftWarehouse.grantDataApi: the same statements on the same warehouse.',
  },
  {
    actor: '*',
    action: 'redshift-data:BatchExecuteStatement',
    why: 'Granted with ExecuteStatement by RedshiftWarehouse.grantDataApi: the same statements on the same warehouse.',
  },
];

/** Calls that must be denied: least privilege where it protects data or exactly-once. */
export function mustDeny(w: World): Call[] {
  const calls: Call[] = [];
  const add = (actor: Actor, action: string, resource: string, why: string, context?: Call['context']) =>
    calls.push({ actor, action, resource, why, ...(context ? { context } : {}) });
  const staging = (key: string) => object(w.stagingBucket, key);
  const other = '999999999999';

  for (const actor of w.serverless
    ? (['redshift', 'redshift-serverless'] as const)
    : (['redshift'] as const)) {
    add(
      actor,
      'sts:AssumeRole',
      w.copyRoleArn,
      "another account's Redshift must not assume the COPY role (confused deputy)",
      { 'aws:SourceAccount': other },
    );
  }
  for (const key of [
    processedKey('events', DAY),
    leaseKey(LOADER_LEASE),
    manifestKey('pending', 'events', BATCH),
    manifestKey('loaded', 'events', BATCH),
  ]) {
    add(
      'stateMachine',
      's3:PutObject',
      staging(key),
      'the backfill role must not touch the exactly-once records',
    );
    add('stateMachine', 's3:GetObject', staging(key), 'the backfill role reads only its chunk lists');
  }
  add('stateMachine', 's3:PutObject', staging(part()), 'the backfill role writes only map results');
  for (const key of [quarantineKey('events', BATCH), processedKey('events', DAY)]) {
    add('copyRole', 's3:GetObject', staging(key), 'COPY reads parts and manifests only');
  }
  add(
    'copyRole',
    's3:GetObject',
    object(w.landingBucket, `${w.landingPrefix}${eventFileName(w.projectId, DAY, 5, 0)}`),
    'COPY never reads raw exports',
  );
  add(
    'loader',
    's3:GetObject',
    object(w.landingBucket, `${w.landingPrefix}${eventFileName(w.projectId, DAY, 5, 0)}`),
    'the loader never reads landing',
  );
  add('loader', 's3:ListBucket', bucket(w.landingBucket), 'the loader never lists landing');
  for (const actor of [
    'batcher',
    'backfillPlan',
    'backfillPrepare',
    'exportApiPull',
    'copyRole',
    'workgroupLookup',
    'verifyProvider',
  ] as const) {
    add(actor, 'secretsmanager:GetSecretValue', w.redshiftSecretArn, 'does not use the Redshift credentials');
  }
  if (w.exportApiSecretArn) {
    for (const actor of [
      'batcher',
      'loader',
      'verify',
      'backfillPlan',
      'backfillSummarize',
      'stateMachine',
      'copyRole',
    ] as const) {
      add(
        actor,
        'secretsmanager:GetSecretValue',
        w.exportApiSecretArn,
        'does not use the Export API credentials',
      );
    }
  }
  add(
    'batcher',
    's3:PutObject',
    object(w.landingBucket, `${w.landingPrefix}x.json.gz`),
    'the batcher never writes landing',
  );
  add(
    'batcher',
    's3:PutObject',
    staging(manifestKey('loaded', 'events', BATCH)),
    'only the loader marks a batch loaded',
  );
  if (w.functions.loader) {
    add(
      'batcher',
      'lambda:InvokeFunction',
      `${w.functions.loader}:$LATEST`,
      'the loader itself only, no version',
    );
  }
  if (w.functions.verify) {
    add(
      'batcher',
      'lambda:InvokeFunction',
      w.functions.verify,
      'the batcher starts the loader and nothing else',
    );
  }
  add('cloudwatch', 'sns:Publish', w.topicArn, "another account's alarms must not publish", {
    'aws:SourceAccount': other,
    'aws:SourceArn': `arn:aws:cloudwatch:${w.region}:${other}:alarm:x`,
  });
  // Deploy-time and optional actors exist only in some deployments.
  const always: Actor[] = ['copyRole', 'stateMachine', ...(Object.keys(SERVICE_PRINCIPALS) as Actor[])];
  return calls.filter((call) => always.includes(call.actor) || call.actor in w.functions);

  function part(): string {
    return `${stagingPrefix('events', DAY, BATCH)}part-00000.csv.gz`;
  }
}
