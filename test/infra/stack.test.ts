import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '#shared/config/pipeline.ts';
import { STACK_OUTPUTS } from '#shared/config/stack-outputs.ts';
import { liveMetricValues } from '#shared/observability/export-api-metrics.ts';
import {
  EXPORT_API_METRICS,
  METRIC_NAMESPACE,
  METRICS,
  SERVICES,
} from '#shared/observability/metric-names.ts';
import { backfillMetricPoints } from '#shared/observability/run-metrics.ts';
import type { LivePullSummary } from '#shared/sources/amplitude-export-api/live.ts';
import {
  EXPORT_API_ENV,
  exportApiClientFrom,
  livePullSettingsFrom,
} from '#shared/sources/amplitude-export-api/settings.ts';
import { backfillTotals } from '../shared/observability/fixtures.ts';
import {
  CALLER_USERID,
  CLUSTER_CONTEXT,
  CLUSTER_EXPORT_API_CONTEXT,
  EXPORT_API_SECRET_ARN,
  resourcesOf,
  SERVERLESS_CONTEXT,
  SERVERLESS_EXPORT_API_CONTEXT,
  synthesize,
} from './synth.ts';

type Resource = { Properties: Record<string, unknown> };

let cluster: Template;
let serverless: Template;
/** The same deployments with the Export API connector on. */
let clusterExportApi: Template;
let serverlessExportApi: Template;

beforeAll(() => {
  cluster = synthesize(CLUSTER_CONTEXT).template;
  serverless = synthesize(SERVERLESS_CONTEXT).template;
  clusterExportApi = synthesize(CLUSTER_EXPORT_API_CONTEXT).template;
  serverlessExportApi = synthesize(SERVERLESS_EXPORT_API_CONTEXT).template;
});

/** Logical id of the one resource of `type` whose logical id starts with `prefix`. */
function idOf(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(resourcesOf(template, type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1)
    throw new Error(`expected one ${type} starting with ${prefix}, got ${ids.join(', ')}`);
  return ids[0]!;
}

function functionOf(template: Template, prefix: string): Resource {
  return resourcesOf(template, 'AWS::Lambda::Function')[idOf(template, 'AWS::Lambda::Function', prefix)]!;
}

function environmentOf(template: Template, prefix: string): Record<string, unknown> {
  return (functionOf(template, prefix).Properties.Environment as { Variables: Record<string, unknown> })
    .Variables;
}

/** Every statement of the IAM policies attached to the role of the function `prefix`. */
function statementsOf(template: Template, rolePrefix: string): Record<string, unknown>[] {
  const roleId = idOf(template, 'AWS::IAM::Role', rolePrefix);
  return Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
    .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(`"${roleId}"`))
    .flatMap(
      (policy) => (policy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement,
    );
}

function actionsOf(statements: Record<string, unknown>[]): string[] {
  return [...new Set(statements.flatMap((statement) => [statement.Action].flat() as string[]))].sort();
}

/** Resources on which the statements allow `action` (CDK merges and sorts statements, so look through them all). */
function resourcesAllowed(statements: Record<string, unknown>[], action: string): unknown[] {
  return statements
    .filter(
      (statement) => statement.Effect === 'Allow' && ([statement.Action].flat() as string[]).includes(action),
    )
    .flatMap((statement) => [statement.Resource].flat());
}

function conditionsOf(statements: Record<string, unknown>[], action: string): unknown[] {
  return statements
    .filter((statement) => ([statement.Action].flat() as string[]).includes(action))
    .map((statement) => statement.Condition);
}

const stagingArn = (template: Template) => ({
  'Fn::GetAtt': [idOf(template, 'AWS::S3::Bucket', 'StorageStaging'), 'Arn'],
});
const objectsBelow = (template: Template, prefix: string) => ({
  'Fn::Join': ['', [stagingArn(template), `/${prefix}*`]],
});

describe('storage', () => {
  it('creates a rotating customer-managed KMS key that CloudWatch and EventBridge may use', () => {
    for (const [service, actions] of [
      ['cloudwatch.amazonaws.com', ['kms:Decrypt', 'kms:GenerateDataKey*']],
      ['events.amazonaws.com', ['kms:Decrypt', 'kms:GenerateDataKey']],
    ] as const) {
      cluster.hasResourceProperties('AWS::KMS::Key', {
        EnableKeyRotation: true,
        KeyPolicy: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Principal: { Service: service },
              Action: actions,
              Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } },
            }),
          ]),
        },
      });
    }
    cluster.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain' });
  });

  it('hardens the staging bucket: KMS with the key, bucket key, public access blocked, access logs, retained', () => {
    cluster.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            {
              BucketKeyEnabled: true,
              ServerSideEncryptionByDefault: {
                SSEAlgorithm: 'aws:kms',
                KMSMasterKeyID: { 'Fn::GetAtt': [idOf(cluster, 'AWS::KMS::Key', 'StorageKey'), 'Arn'] },
              },
            },
          ],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        LoggingConfiguration: {
          DestinationBucketName: { Ref: idOf(cluster, 'AWS::S3::Bucket', 'StorageAccessLogs') },
          LogFilePrefix: 'staging/',
        },
      }),
    });
  });

  it('expires staged parts and loaded manifests after stagingRetentionDays, quarantine after quarantineRetentionDays, never pending work or state', () => {
    const staging = resourcesOf(cluster, 'AWS::S3::Bucket')[
      idOf(cluster, 'AWS::S3::Bucket', 'StorageStaging')
    ]!;
    const rules = (staging.Properties.LifecycleConfiguration as { Rules: Record<string, unknown>[] }).Rules;
    const byPrefix = Object.fromEntries(
      rules.filter((rule) => rule.Prefix !== undefined).map((rule) => [rule.Prefix, rule.ExpirationInDays]),
    );
    expect(byPrefix).toEqual({
      'staging/': 14,
      'manifests/loaded/': 14,
      'manifests/copy/': 14,
      'quarantine/': 90,
      'manifests/failed/': 90,
      'backfill/': 90,
      'verify/': 1,
    });
    expect(rules).toContainEqual(
      expect.objectContaining({
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        Status: 'Enabled',
      }),
    );
    const prefixes = Object.keys(byPrefix);
    for (const kept of ['manifests/pending/', 'state/']) {
      expect(prefixes.some((prefix) => kept.startsWith(prefix))).toBe(false);
    }
  });

  it('denies every request to the buckets without TLS 1.2', () => {
    const policies = Object.values(resourcesOf(cluster, 'AWS::S3::BucketPolicy'));
    expect(policies).toHaveLength(3);
    for (const policy of policies) {
      expect(policy.Properties.PolicyDocument).toMatchObject({
        Statement: expect.arrayContaining([
          expect.objectContaining({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          expect.objectContaining({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
          }),
        ]),
      });
    }
  });

  it('creates a landing bucket by default and imports an existing one by name, read-only', () => {
    expect(Object.keys(resourcesOf(cluster, 'AWS::S3::Bucket'))).toHaveLength(3);
    expect(Object.keys(resourcesOf(serverless, 'AWS::S3::Bucket'))).toHaveLength(2);
    const batcher = statementsOf(serverless, 'PipelineBatcherRole');
    expect(resourcesAllowed(batcher, 's3:GetObject')).toContain(
      'arn:aws:s3:::acme-amplitude-export/amplitude/187520/*',
    );
    expect(resourcesAllowed(batcher, 's3:ListBucket')).toContain('arn:aws:s3:::acme-amplitude-export');
    for (const write of ['s3:PutObject', 's3:DeleteObject']) {
      expect(JSON.stringify(resourcesAllowed(batcher, write))).not.toContain('acme-amplitude-export');
    }
  });
});

describe('secret', () => {
  it('is created with the connection fields, a generated placeholder password and the key, never a literal password', () => {
    const secrets = Object.values(resourcesOf(cluster, 'AWS::SecretsManager::Secret'));
    expect(secrets).toHaveLength(1);
    const properties = secrets[0]!.Properties!;
    expect(properties.SecretString).toBeUndefined();
    expect(properties.KmsKeyId).toEqual({
      'Fn::GetAtt': [idOf(cluster, 'AWS::KMS::Key', 'StorageKey'), 'Arn'],
    });
    const generate = properties.GenerateSecretString as Record<string, unknown>;
    expect(generate.GenerateStringKey).toBe('password');
    expect(JSON.parse(generate.SecretStringTemplate as string)).toEqual({
      engine: 'redshift',
      host: CLUSTER_CONTEXT.redshiftHost,
      port: 5439,
      dbname: 'dev',
      username: 'amplitude_export',
      dbClusterIdentifier: 'analytics',
      passwordIsPlaceholder: true,
    });
  });

  it('is taken by ARN when redshiftSecretArn is set: no secret is created and the functions name that ARN', () => {
    expect(resourcesOf(serverless, 'AWS::SecretsManager::Secret')).toEqual({});
    expect(environmentOf(serverless, 'PipelineLoader')[ENV.secretArn]).toBe(
      SERVERLESS_CONTEXT.redshiftSecretArn,
    );
    expect(
      resourcesAllowed(statementsOf(serverless, 'PipelineLoaderRole'), 'secretsmanager:GetSecretValue'),
    ).toEqual([SERVERLESS_CONTEXT.redshiftSecretArn]);
  });
});

describe('COPY role', () => {
  it('is trusted by Redshift and may only read staged parts, manifests and the verify batch', () => {
    cluster.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'redshift.amazonaws.com' } },
        ],
      },
      Description: Match.stringLikeRegexp('Redshift COPY'),
    });
    const statements = statementsOf(cluster, 'StorageCopyRole');
    expect(actionsOf(statements)).toEqual([
      'kms:Decrypt',
      's3:GetBucketLocation',
      's3:GetObject',
      's3:ListBucket',
    ]);
    expect(resourcesAllowed(statements, 's3:GetObject')).toEqual(
      ['manifests/', 'staging/', 'verify/'].map((prefix) => objectsBelow(cluster, prefix)),
    );
    expect(resourcesAllowed(statements, 'kms:Decrypt')).toEqual([
      { 'Fn::GetAtt': [idOf(cluster, 'AWS::KMS::Key', 'StorageKey'), 'Arn'] },
    ]);
  });

  it('is trusted by Redshift Serverless too when the host is a workgroup', () => {
    serverless.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Action: 'sts:AssumeRole',
            Effect: 'Allow',
            Principal: { Service: ['redshift-serverless.amazonaws.com', 'redshift.amazonaws.com'] },
          },
        ],
      },
    });
  });
});

describe('functions', () => {
  it('run Node.js 22 on ARM64 with X-Ray, source maps, explicit memory and timeout, and a log group of their own', () => {
    const functions = Object.entries(resourcesOf(cluster, 'AWS::Lambda::Function')).filter(([id]) =>
      /^(Pipeline|Backfill)/.test(id),
    );
    expect(functions.length).toBeGreaterThanOrEqual(6);
    for (const [id, fn] of functions) {
      expect(fn.Properties, id).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        MemorySize: expect.any(Number),
        Timeout: expect.any(Number),
        LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: expect.stringMatching(/Logs/) } },
        Environment: { Variables: expect.objectContaining({ NODE_OPTIONS: '--enable-source-maps' }) },
      });
    }
    const logGroups = Object.values(resourcesOf(cluster, 'AWS::Logs::LogGroup'));
    expect(logGroups.every((group) => typeof group.Properties.RetentionInDays === 'number')).toBe(true);
  });

  it('runs one batcher and one loader at a time', () => {
    expect(functionOf(cluster, 'PipelineBatcher').Properties.ReservedConcurrentExecutions).toBe(1);
    expect(functionOf(cluster, 'PipelineLoader').Properties.ReservedConcurrentExecutions).toBe(1);
  });

  it('sends failed or expired scheduled invocations to the encrypted dead-letter queue, without retries', () => {
    const dlq = idOf(cluster, 'AWS::SQS::Queue', 'PipelineDeadLetters');
    cluster.hasResourceProperties('AWS::SQS::Queue', {
      KmsMasterKeyId: { 'Fn::GetAtt': [idOf(cluster, 'AWS::KMS::Key', 'StorageKey'), 'Arn'] },
    });
    // Two intervals (shared/config/scheduled-run.ts): an event that waited behind a late run survives.
    for (const [prefix, maxAge] of [
      ['PipelineBatcher', 600],
      ['PipelineLoader', 1200],
    ] as const) {
      cluster.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: idOf(cluster, 'AWS::Lambda::Function', prefix) },
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: maxAge,
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [dlq, 'Arn'] } } },
      });
    }
  });

  it('gives each function the environment the handlers read, each with its grant', () => {
    const loader = environmentOf(cluster, 'PipelineLoader');
    expect(loader).toMatchObject({
      [ENV.projectId]: '187520',
      [ENV.feeds]: 'events,merge_ids',
      [ENV.schema]: 'amplitude',
      [ENV.database]: 'dev',
      [ENV.clusterIdentifier]: 'analytics',
      [ENV.stagingBucket]: { Ref: idOf(cluster, 'AWS::S3::Bucket', 'StorageStaging') },
      [ENV.secretArn]: { Ref: idOf(cluster, 'AWS::SecretsManager::Secret', 'StorageRedshiftSecret') },
      [ENV.copyRoleArn]: { 'Fn::GetAtt': [idOf(cluster, 'AWS::IAM::Role', 'StorageCopyRole'), 'Arn'] },
    });
    expect(loader[ENV.workgroupName]).toBeUndefined();
    const batcher = environmentOf(cluster, 'PipelineBatcher');
    expect(batcher[ENV.landingBucket]).toEqual({ Ref: idOf(cluster, 'AWS::S3::Bucket', 'StorageLanding') });
    expect(batcher[ENV.secretArn]).toBeUndefined();
    expect(environmentOf(serverless, 'PipelineLoader')).toMatchObject({
      [ENV.workgroupName]: 'exports',
      [ENV.orgId]: '4242',
      [ENV.landingPrefix]: 'amplitude/187520/',
    });

    const allowed = new Set<string>([
      ...Object.values(ENV),
      'NODE_OPTIONS',
      'POWERTOOLS_SERVICE_NAME',
      'POWERTOOLS_METRICS_NAMESPACE',
    ]);
    for (const [id, fn] of Object.entries(resourcesOf(cluster, 'AWS::Lambda::Function'))) {
      const names = Object.keys(
        (fn.Properties.Environment as { Variables?: object } | undefined)?.Variables ?? {},
      );
      if (!/^(Pipeline|Backfill)/.test(id)) continue;
      for (const name of names) expect(allowed.has(name), `${id} sets ${name}`).toBe(true);
    }
  });

  it('lets the batcher write staging, pending manifests, quarantine and state only, delete only parts and state; the loader read staged parts only', () => {
    const batcher = statementsOf(cluster, 'PipelineBatcherRole');
    const sorted = (values: unknown[]) => values.map((value) => JSON.stringify(value)).sort();
    for (const action of ['s3:PutObject', 's3:AbortMultipartUpload']) {
      expect(sorted(resourcesAllowed(batcher, action))).toEqual(
        sorted(
          ['manifests/pending/', 'quarantine/', 'staging/', 'state/'].map((prefix) =>
            objectsBelow(cluster, prefix),
          ),
        ),
      );
    }
    expect(resourcesAllowed(batcher, 's3:DeleteObject')).toEqual(
      ['staging/', 'state/'].map((prefix) => objectsBelow(cluster, prefix)),
    );
    const loader = statementsOf(cluster, 'PipelineLoaderRole');
    expect(resourcesAllowed(loader, 's3:PutObject')).toEqual(
      ['manifests/', 'state/'].map((prefix) => objectsBelow(cluster, prefix)),
    );
    expect(resourcesAllowed(loader, 's3:GetObject')).toContainEqual(objectsBelow(cluster, 'staging/'));
    expect(actionsOf(loader).filter((action) => action.includes('*'))).toEqual([]);
  });

  it('lets the batcher start the loader it names, and nothing else start any function', () => {
    const loaderId = idOf(cluster, 'AWS::Lambda::Function', 'PipelineLoader');
    expect(environmentOf(cluster, 'PipelineBatcher')[ENV.loaderFunctionName]).toEqual({ Ref: loaderId });
    expect(resourcesAllowed(statementsOf(cluster, 'PipelineBatcherRole'), 'lambda:InvokeFunction')).toEqual([
      { 'Fn::GetAtt': [loaderId, 'Arn'] },
    ]);
    for (const role of ['PipelineLoaderRole', 'PipelineVerifyRole']) {
      expect(resourcesAllowed(statementsOf(cluster, role), 'lambda:InvokeFunction'), role).toEqual([]);
    }
  });
});

describe('Data API permissions', () => {
  it('run statements on the cluster only, and read only the caller’s own statements', () => {
    for (const prefix of ['PipelineLoaderRole', 'PipelineVerifyRole']) {
      const statements = statementsOf(cluster, prefix);
      for (const action of ['redshift-data:ExecuteStatement', 'redshift-data:BatchExecuteStatement']) {
        expect(resourcesAllowed(statements, action)).toEqual([
          'arn:aws:redshift:eu-west-1:123456789012:cluster:analytics',
        ]);
      }
      for (const action of [
        'redshift-data:DescribeStatement',
        'redshift-data:GetStatementResult',
        'redshift-data:CancelStatement',
      ]) {
        expect(resourcesAllowed(statements, action)).toEqual(['*']);
        expect(conditionsOf(statements, action)).toEqual([
          { StringEquals: { 'redshift-data:statement-owner-iam-userid': CALLER_USERID } },
        ]);
      }
      // Secrets Manager authentication: no temporary-credential permissions are needed.
      expect(actionsOf(statements).filter((action) => /^redshift(-serverless)?:/.test(action))).toEqual([]);
    }
  });

  it('run statements on the one workgroup, whose ARN is looked up at deploy time', () => {
    const lookup = idOf(serverless, 'Custom::AWS', 'WarehouseWorkgroupLookup');
    serverless.hasResourceProperties('Custom::AWS', {
      Create: Match.serializedJson(
        Match.objectLike({
          service: 'redshift-serverless',
          action: 'GetWorkgroup',
          parameters: { workgroupName: 'exports' },
          outputPaths: ['workgroup.workgroupArn'],
        }),
      ),
    });
    expect(
      resourcesAllowed(statementsOf(serverless, 'PipelineLoaderRole'), 'redshift-data:BatchExecuteStatement'),
    ).toEqual([{ 'Fn::GetAtt': [lookup, 'workgroup.workgroupArn'] }]);
  });
});

describe('schedules', () => {
  it('run the batcher and the loader at their intervals with retries and a dead-letter queue', () => {
    const dlq = { 'Fn::GetAtt': [idOf(cluster, 'AWS::SQS::Queue', 'PipelineDeadLetters'), 'Arn'] };
    for (const [prefix, expression, age] of [
      ['PipelineBatcher', 'rate(5 minutes)', 600],
      ['PipelineLoader', 'rate(10 minutes)', 1200],
    ] as const) {
      cluster.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: expression,
        State: 'ENABLED',
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [idOf(cluster, 'AWS::Lambda::Function', prefix), 'Arn'] },
            RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: age },
            DeadLetterConfig: { Arn: dlq },
          }),
        ],
      });
    }
    serverless.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(3 minutes)' });
    serverless.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(15 minutes)' });
  });
});

describe('monitoring', () => {
  it('publishes every alarm to the KMS-encrypted topic', () => {
    const topic = idOf(cluster, 'AWS::SNS::Topic', 'MonitoringAlarms');
    cluster.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [idOf(cluster, 'AWS::KMS::Key', 'StorageKey'), 'Arn'] },
    });
    const alarms = Object.values(resourcesOf(cluster, 'AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(8);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topic }]);
    expect(resourcesOf(cluster, 'AWS::SNS::Subscription')).toEqual({});
    serverless.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'data-alerts@example.com',
    });
  });

  it('alarms on batcher and loader errors, a batch pending over 30 minutes, quarantine, failed backfills and dead letters', () => {
    const lambdaErrors = (prefix: string) =>
      Match.objectLike({
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [
          { Name: 'FunctionName', Value: { Ref: idOf(cluster, 'AWS::Lambda::Function', prefix) } },
        ],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    cluster.hasResourceProperties('AWS::CloudWatch::Alarm', lambdaErrors('PipelineBatcher'));
    cluster.hasResourceProperties('AWS::CloudWatch::Alarm', lambdaErrors('PipelineLoader'));
    cluster.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 1800,
      ComparisonOperator: 'GreaterThanThreshold',
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'MAX([m_events, m_merge_ids])' }),
        Match.objectLike({
          Id: 'm_events',
          MetricStat: Match.objectLike({
            Metric: {
              Namespace: METRIC_NAMESPACE,
              MetricName: METRICS.oldestPendingBatchAgeSeconds,
              Dimensions: Match.arrayWith([{ Name: 'Feed', Value: 'events' }]),
            },
          }),
        }),
      ]),
    });
    cluster.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 1,
      Metrics: Match.arrayWith([
        Match.objectLike({
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ MetricName: METRICS.rowsQuarantined }),
            Stat: 'Sum',
          }),
        }),
      ]),
    });
    cluster.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([
        Match.objectLike({
          MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'ExecutionsFailed' }) }),
        }),
      ]),
    });
    cluster.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 1,
    });
  });

  it('alarms, to the topic, when the p99 landing-to-commit delay of an hour is over 15 minutes in any feed', () => {
    const topic = { Ref: idOf(cluster, 'AWS::SNS::Topic', 'MonitoringAlarms') };
    const p99Of = (feed: string) =>
      Match.objectLike({
        Id: `m_${feed}`,
        ReturnData: false,
        MetricStat: {
          Metric: {
            Namespace: METRIC_NAMESPACE,
            MetricName: METRICS.landingToCommitSeconds,
            Dimensions: [
              { Name: 'Feed', Value: feed },
              { Name: 'service', Value: 'loader' },
            ],
          },
          Period: 3600,
          Stat: 'p99',
        },
      });
    const freshness = Object.values(resourcesOf(cluster, 'AWS::CloudWatch::Alarm')).filter((alarm) =>
      JSON.stringify(alarm.Properties.Metrics ?? []).includes(METRICS.landingToCommitSeconds),
    );
    expect(freshness).toHaveLength(1);
    expect(freshness[0]!.Properties).toMatchObject({
      Threshold: 900,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [topic],
    });
    cluster.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 900,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'MAX([m_events, m_merge_ids])', ReturnData: true }),
        p99Of('events'),
        p99Of('merge_ids'),
      ]),
    });
  });

  it('charts every pipeline metric on the dashboard', () => {
    const dashboard = Object.values(resourcesOf(cluster, 'AWS::CloudWatch::Dashboard'))[0]!;
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const name of Object.values(METRICS)) expect(body, name).toContain(name);
    expect(body).toContain('ExecutionsFailed');
  });

  it('charts every metric a backfill emits under the backfill service, per feed', () => {
    const oneChunk = backfillTotals({ chunks: 1, loaded: 1 });
    const emitted = backfillMetricPoints({ byFeed: { events: oneChunk, merge_ids: oneChunk } });
    const charted = new Set(
      dashboardMetrics(cluster)
        .filter(({ dimensions }) => dimensions.service === SERVICES.backfill)
        .map(({ name, dimensions }) => `${name} ${dimensions.Feed}`),
    );
    // Quarantined lines are charted by a search over every service (the by-reason widget).
    const missing = emitted
      .filter((point) => point.name !== METRICS.rowsQuarantined)
      .map((point) => `${point.name} ${point.feed}`)
      .filter((key) => !charted.has(key));
    expect(emitted.map((point) => point.name)).toContain(METRICS.rowsErased);
    expect(missing).toEqual([]);
  });

  it('shows the landing-to-commit p50 and p99 over the dashboard period, and the hours each load read', () => {
    const dashboard = Object.values(resourcesOf(cluster, 'AWS::CloudWatch::Dashboard'))[0]!;
    // The body is a Fn::Join of JSON text and the region reference: join it back with a region.
    const [, parts] = (dashboard.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
    const body = JSON.parse(
      parts.map((part) => (typeof part === 'string' ? part : 'eu-west-1')).join(''),
    ) as {
      widgets: {
        properties: { view?: string; title?: string; setPeriodToTimeRange?: boolean; metrics?: unknown[][] };
      }[];
    };
    const statsOf = (widget: (typeof body.widgets)[number], name: string) =>
      (widget.properties.metrics ?? [])
        .filter((metric) => metric[1] === name)
        // CloudWatch's default statistic, Average, is left out of the rendered options.
        .map((metric) => `${metric[3]} ${(metric.at(-1) as { stat?: string }).stat ?? 'Average'}`)
        .sort();
    const period = body.widgets.find((widget) => widget.properties.view === 'singleValue');
    expect(period?.properties.setPeriodToTimeRange).toBe(true);
    expect(statsOf(period!, METRICS.landingToCommitSeconds)).toEqual([
      'events p50',
      'events p99',
      'merge_ids p50',
      'merge_ids p99',
    ]);
    const hours = body.widgets.find((widget) =>
      widget.properties.title?.startsWith('Hours of the table read'),
    );
    expect(statsOf(hours!, METRICS.loadHoursRead)).toEqual([
      'events Average',
      'events Maximum',
      'merge_ids Average',
      'merge_ids Maximum',
    ]);
    expect(statsOf(hours!, METRICS.loadHoursSpan)).toEqual(['events Maximum', 'merge_ids Maximum']);
  });
});

describe('outputs', () => {
  it('say where things are and what to run next', () => {
    const outputs = cluster.findOutputs('*');
    expect(Object.keys(outputs).sort()).toEqual(
      [
        'AlarmTopicArn',
        'AssociateCopyRoleCommand',
        'BackfillConsoleUrl',
        'BackfillStateMachineArn',
        'CopyRoleArn',
        'DashboardUrl',
        'LandingBucketName',
        'RedshiftSecretArn',
        'SetupSqlCommand',
        'StagingBucketName',
        'VerifyCommand',
        'VerifyFunctionName',
        'RedshiftDatabase',
        'RedshiftClusterIdentifier',
        'WarehouseSchema',
        'ProjectId',
        'Feeds',
        'StagingRetentionDays',
        'QuarantineRetentionDays',
      ].sort(),
    );
    expect(outputs.RedshiftClusterIdentifier?.Value).toBe('analytics');
    expect(outputs.StagingRetentionDays?.Value).toBe('14');
    expect(outputs.QuarantineRetentionDays?.Value).toBe('90');
    expect(outputs.Feeds?.Value).toBe('events,merge_ids');
    const copyRoleArn = { 'Fn::GetAtt': [idOf(cluster, 'AWS::IAM::Role', 'StorageCopyRole'), 'Arn'] };
    expect(outputs.AssociateCopyRoleCommand?.Value).toEqual({
      'Fn::Join': [
        ' ',
        [
          'aws redshift modify-cluster-iam-roles --region eu-west-1 --cluster-identifier analytics --add-iam-roles',
          copyRoleArn,
        ],
      ],
    });
    expect(outputs.SetupSqlCommand?.Value).toEqual({
      'Fn::Join': [
        ' ',
        [
          'npx redshift-export setup-sql --dialect redshift --schema amplitude --project-id 187520 --user amplitude_export --database dev --feeds events,merge_ids --copy-role-arn',
          copyRoleArn,
        ],
      ],
    });
    expect(JSON.stringify(outputs.BackfillConsoleUrl?.Value)).toContain('#/statemachines/view/');
    expect(JSON.stringify(outputs.DashboardUrl?.Value)).toContain('#dashboards:name=');
  });

  it('include every output the CLI reads, under the keys it reads them by', () => {
    for (const [template, alternative] of [
      [cluster, 'workgroupName'],
      [serverless, 'clusterIdentifier'],
    ] as const) {
      const keys = Object.keys(template.findOutputs('*'));
      for (const [name, key] of Object.entries(STACK_OUTPUTS)) {
        if (name === alternative) expect(keys).not.toContain(key);
        else expect(keys).toContain(key);
      }
    }
    expect(serverless.findOutputs('RedshiftWorkgroupName').RedshiftWorkgroupName?.Value).toBe('exports');
  });

  it('tell Serverless users how to associate the role with the namespace of their workgroup', () => {
    const command = JSON.stringify(
      serverless.findOutputs('AssociateCopyRoleCommand').AssociateCopyRoleCommand?.Value,
    );
    expect(command).toContain('aws redshift-serverless update-namespace --region us-east-1');
    expect(command).toContain(
      'get-workgroup --region us-east-1 --workgroup-name exports --query workgroup.namespaceName',
    );
    expect(command).toContain('--iam-roles');
    expect(command).toContain('--default-iam-role-arn');
  });
});

describe('verify on deploy', () => {
  it('runs the verify function as a custom resource only when asked', () => {
    expect(resourcesOf(cluster, 'AWS::CloudFormation::CustomResource')).toEqual({});
    const verify = idOf(serverless, 'AWS::Lambda::Function', 'PipelineVerifyFunction');
    serverless.hasResourceProperties('AWS::CloudFormation::CustomResource', {
      secretArn: SERVERLESS_CONTEXT.redshiftSecretArn,
      database: 'analytics',
      schema: 'amplitude',
      feeds: 'events,merge_ids',
    });
    serverless.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ USER_ON_EVENT_FUNCTION_ARN: { 'Fn::GetAtt': [verify, 'Arn'] } }),
      },
    });
  });

  it('waits for everything it checks: the COPY role and its policy, the verify role and its policy, the bucket policy, the key', () => {
    const [check] = Object.values(
      serverless.findResources('AWS::CloudFormation::CustomResource') as Record<
        string,
        { DependsOn?: string[] }
      >,
    );
    const dependsOn = check?.DependsOn ?? [];
    for (const prefix of [
      'StorageCopyRole',
      'StorageCopyRoleDefaultPolicy',
      'PipelineVerifyRole',
      'PipelineVerifyRoleDefaultPolicy',
      'PipelineVerifyFunction',
      'StorageStagingPolicy',
      'StorageKey',
      'WarehouseWorkgroupLookup',
    ]) {
      expect(
        dependsOn.some((id) => id.startsWith(prefix)),
        `depends on ${prefix}`,
      ).toBe(true);
    }
  });

  it('lets the verify function read its own stack’s status, to skip the first deploy and rollbacks', () => {
    expect(
      resourcesAllowed(statementsOf(serverless, 'PipelineVerifyRole'), 'cloudformation:DescribeStacks'),
    ).toEqual([{ Ref: 'AWS::StackId' }]);
    expect(
      resourcesAllowed(statementsOf(cluster, 'PipelineVerifyRole'), 'cloudformation:DescribeStacks'),
    ).toEqual([]);
  });
});

/** Every `[namespace, name, dimension, value, ...]` metric of the dashboard's widgets. */
function dashboardMetrics(template: Template): { name: string; dimensions: Record<string, string> }[] {
  const dashboard = Object.values(resourcesOf(template, 'AWS::CloudWatch::Dashboard'))[0]!;
  const body = dashboard.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] } | string;
  // References (function names, the region) sit inside JSON strings: any text stands in.
  const text =
    typeof body === 'string'
      ? body
      : body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : 'ref')).join('');
  const widgets = (JSON.parse(text) as { widgets: { properties: { metrics?: unknown[][] } }[] }).widgets;
  return widgets
    .flatMap((widget) => widget.properties.metrics ?? [])
    .filter((metric) => metric[0] === METRIC_NAMESPACE)
    .map((metric) => {
      const parts = metric.filter((part): part is string => typeof part === 'string');
      const dimensions: Record<string, string> = {};
      for (let at = 2; at + 1 < parts.length; at += 2) dimensions[parts[at]!] = parts[at + 1]!;
      return { name: parts[1]!, dimensions };
    });
}

/** Every custom metric the alarms read, with its dimensions. */
function alarmMetrics(template: Template): { name: string; dimensions: Record<string, string> }[] {
  type Metric = { MetricName: string; Namespace: string; Dimensions?: { Name: string; Value: string }[] };
  const metrics: Metric[] = [];
  for (const alarm of Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm'))) {
    const properties = alarm.Properties as Partial<Metric> & {
      Metrics?: { MetricStat?: { Metric: Metric } }[];
    };
    if (properties.MetricName) metrics.push(properties as Metric);
    for (const query of properties.Metrics ?? []) if (query.MetricStat) metrics.push(query.MetricStat.Metric);
  }
  return metrics
    .filter((metric) => metric.Namespace === METRIC_NAMESPACE)
    .map((metric) => ({
      name: metric.MetricName,
      dimensions: Object.fromEntries((metric.Dimensions ?? []).map(({ Name, Value }) => [Name, Value])),
    }));
}

const EXPORT_API_NAMES: ReadonlySet<string> = new Set(Object.values(EXPORT_API_METRICS));

/** A finished run with a gap: what the pull handler turns into metrics. */
const PULL_RUN: LivePullSummary = {
  skipped: false,
  dueHours: 3,
  requests: 2,
  hoursPulled: 2,
  hoursWithData: 2,
  filesWritten: 3,
  filesUnchanged: 0,
  filesDeleted: 0,
  bytesDownloaded: 1000,
  events: 40,
  failures: [],
  gapHours: 1,
  oldestGapAgeSeconds: 3600,
  abandonedHours: [],
  hoursNeedingBackfill: [],
};

/** Logical ids that the connector adds: its own construct and its alarms. */
const CONNECTOR_IDS = /^(ExportApi|MonitoringExportApi)/;

describe('Export API connector', () => {
  it('is off by default: no pull function, schedule, secret, /tmp size, alarm, widget or output of it', () => {
    for (const template of [cluster, serverless]) {
      const ids = Object.keys(template.toJSON().Resources as object);
      expect(ids.filter((id) => CONNECTOR_IDS.test(id))).toEqual([]);
      for (const [id, fn] of Object.entries(resourcesOf(template, 'AWS::Lambda::Function'))) {
        const names = Object.keys(
          (fn.Properties.Environment as { Variables?: object } | undefined)?.Variables ?? {},
        );
        expect(
          names.filter((name) => name.startsWith('EXPORT_API_')),
          id,
        ).toEqual([]);
        expect(fn.Properties.EphemeralStorage, id).toBeUndefined();
      }
      expect(dashboardMetrics(template).filter(({ name }) => EXPORT_API_NAMES.has(name))).toEqual([]);
      expect(Object.keys(template.findOutputs('ExportApiPullFunctionName'))).toEqual([]);
      const prepare = statementsOf(template, 'BackfillPrepareFunctionRole');
      expect(JSON.stringify(resourcesAllowed(prepare, 's3:PutObject'))).not.toMatch(
        /StorageLanding|acme-amplitude-export/,
      );
      expect(JSON.stringify(template.toJSON())).not.toContain('export-api');
    }
  });

  it('turned on, adds its own resources and changes only the prepare step, the dead-letter queue policy and the dashboard', () => {
    const off = cluster.toJSON() as { Resources: Record<string, unknown>; Outputs: Record<string, unknown> };
    const on = clusterExportApi.toJSON() as typeof off;
    const changed = Object.keys(off.Resources)
      .filter((id) => JSON.stringify(off.Resources[id]) !== JSON.stringify(on.Resources[id]))
      .map((id) => id.replace(/[0-9A-F]{8}$/, ''));
    expect(changed.sort()).toEqual([
      'BackfillPrepareFunction',
      'BackfillPrepareFunctionRoleDefaultPolicy',
      'MonitoringDashboard',
      // EventBridge may now also drop the pull's undeliverable events into the queue.
      'PipelineDeadLettersPolicy',
    ]);
    const added = Object.keys(on.Resources).filter((id) => !(id in off.Resources));
    expect(added.length).toBeGreaterThanOrEqual(8);
    for (const id of added) expect(id).toMatch(CONNECTOR_IDS);
    const { ExportApiPullFunctionName: pullOutput, ...otherOutputs } = on.Outputs;
    expect(pullOutput).toBeDefined();
    expect(otherOutputs).toEqual(off.Outputs);
  });

  it('runs the pull in its own Lambda: 2048 MB, 15 minutes (within its hour), 8 GiB of /tmp, one at a time, failures to the DLQ without retries', () => {
    const pull = functionOf(clusterExportApi, 'ExportApiPullFunction');
    expect(pull.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      MemorySize: 2048,
      Timeout: 900,
      EphemeralStorage: { Size: 8192 },
      ReservedConcurrentExecutions: 1,
      LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: expect.stringMatching(/^ExportApiPullLogs/) } },
    });
    const dlq = { 'Fn::GetAtt': [idOf(clusterExportApi, 'AWS::SQS::Queue', 'PipelineDeadLetters'), 'Arn'] };
    clusterExportApi.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: idOf(clusterExportApi, 'AWS::Lambda::Function', 'ExportApiPullFunction') },
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 7200,
      DestinationConfig: { OnFailure: { Destination: dlq } },
    });
  });

  it('sets exactly the environment the pull handler reads, and the connector’s own readers accept it', () => {
    const secrets = new SecretsManagerClient({ region: 'eu-west-1' });
    for (const [template, expected] of [
      [
        clusterExportApi,
        { region: 'us', baseUrl: 'https://amplitude.com', prefix: '', delay: 3, lookback: 7 },
      ],
      [
        serverlessExportApi,
        {
          region: 'eu',
          baseUrl: 'https://analytics.eu.amplitude.com',
          prefix: 'amplitude/187520/',
          delay: 4,
          lookback: 10,
        },
      ],
    ] as const) {
      const variables = environmentOf(template, 'ExportApiPullFunction');
      expect(Object.keys(variables).sort()).toEqual(
        [
          'NODE_OPTIONS',
          'POWERTOOLS_SERVICE_NAME',
          'POWERTOOLS_METRICS_NAMESPACE',
          ENV.projectId,
          ENV.landingPrefix,
          ENV.landingBucket,
          ENV.stagingBucket,
          EXPORT_API_ENV.secretArn,
          EXPORT_API_ENV.region,
          EXPORT_API_ENV.delayHours,
          EXPORT_API_ENV.lookbackDays,
        ].sort(),
      );
      expect(variables.POWERTOOLS_SERVICE_NAME).toBe('export-api');
      const env = Object.fromEntries(
        Object.entries(variables).map(([name, value]) => [name, typeof value === 'string' ? value : 'token']),
      );
      expect(livePullSettingsFrom(env)).toEqual({
        projectId: '187520',
        landingPrefix: expected.prefix,
        delayHours: expected.delay,
        lookbackDays: expected.lookback,
        maxHoursPerRequest: 24,
        batcherLookbackDays: 2,
      });
      expect(exportApiClientFrom(env, { secrets }).baseUrl).toBe(expected.baseUrl);
    }
    expect(environmentOf(clusterExportApi, 'ExportApiPullFunction')).toMatchObject({
      [ENV.landingBucket]: { Ref: idOf(clusterExportApi, 'AWS::S3::Bucket', 'StorageLanding') },
      [ENV.stagingBucket]: { Ref: idOf(clusterExportApi, 'AWS::S3::Bucket', 'StorageStaging') },
      [EXPORT_API_ENV.secretArn]: EXPORT_API_SECRET_ARN,
    });

    const allowed = new Set<string>([
      ...Object.values(ENV),
      ...Object.values(EXPORT_API_ENV),
      'NODE_OPTIONS',
      'POWERTOOLS_SERVICE_NAME',
      'POWERTOOLS_METRICS_NAMESPACE',
    ]);
    for (const [id, fn] of Object.entries(resourcesOf(clusterExportApi, 'AWS::Lambda::Function'))) {
      if (!/^(Pipeline|Backfill|ExportApi)/.test(id)) continue;
      const names = Object.keys((fn.Properties.Environment as { Variables: object }).Variables);
      for (const name of names) expect(allowed.has(name), `${id} sets ${name}`).toBe(true);
    }
  });

  it('lets the pull write below the landing prefix and staging state/ only, and read only its secret', () => {
    const pull = statementsOf(clusterExportApi, 'ExportApiPullRole');
    expect(actionsOf(pull)).toEqual([
      'kms:Decrypt',
      'kms:GenerateDataKey',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      's3:AbortMultipartUpload',
      's3:DeleteObject',
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
      'sqs:SendMessage',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
    const landingObjects = {
      'Fn::Join': [
        '',
        [{ 'Fn::GetAtt': [idOf(clusterExportApi, 'AWS::S3::Bucket', 'StorageLanding'), 'Arn'] }, '/*'],
      ],
    };
    for (const action of ['s3:PutObject', 's3:DeleteObject', 's3:GetObject']) {
      expect(resourcesAllowed(pull, action)).toEqual([
        landingObjects,
        objectsBelow(clusterExportApi, 'state/'),
      ]);
    }
    expect(resourcesAllowed(pull, 'secretsmanager:GetSecretValue')).toEqual([EXPORT_API_SECRET_ARN]);

    // An imported landing bucket: the grants name it, below its prefix only.
    const imported = statementsOf(serverlessExportApi, 'ExportApiPullRole');
    expect(resourcesAllowed(imported, 's3:PutObject')).toContain(
      'arn:aws:s3:::acme-amplitude-export/amplitude/187520/*',
    );
    expect(resourcesAllowed(imported, 's3:ListBucket')).toContain('arn:aws:s3:::acme-amplitude-export');
    expect(resourcesAllowed(imported, 'secretsmanager:GetSecretValue')).toEqual([
      SERVERLESS_EXPORT_API_CONTEXT.exportApiSecretArn,
    ]);

    // Only the pull and the backfill's prepare step may read the Amplitude keys.
    const readers = Object.entries(resourcesOf(clusterExportApi, 'AWS::IAM::Policy'))
      .filter(([, policy]) =>
        JSON.stringify(policy.Properties.PolicyDocument).includes(EXPORT_API_SECRET_ARN),
      )
      .map(([id]) => id.replace(/[0-9A-F]{8}$/, ''));
    expect(readers.sort()).toEqual([
      'BackfillPrepareFunctionRoleDefaultPolicy',
      'ExportApiPullRoleDefaultPolicy',
    ]);
  });

  it('schedules the pull every exportApiIntervalMinutes, with retries and the dead-letter queue', () => {
    for (const [template, expression, seconds] of [
      [clusterExportApi, 'rate(1 hour)', 7200],
      [serverlessExportApi, 'rate(2 hours)', 14400],
    ] as const) {
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: expression,
        State: 'ENABLED',
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [idOf(template, 'AWS::Lambda::Function', 'ExportApiPullFunction'), 'Arn'] },
            RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: seconds },
            DeadLetterConfig: {
              Arn: { 'Fn::GetAtt': [idOf(template, 'AWS::SQS::Queue', 'PipelineDeadLetters'), 'Arn'] },
            },
          }),
        ],
      });
    }
  });

  it('gives the backfill prepare step the secret, the region, writes below the landing prefix and 8 GiB of /tmp', () => {
    const prepare = functionOf(serverlessExportApi, 'BackfillPrepareFunction');
    expect(prepare.Properties.EphemeralStorage).toEqual({ Size: 8192 });
    expect(environmentOf(serverlessExportApi, 'BackfillPrepareFunction')).toMatchObject({
      [EXPORT_API_ENV.secretArn]: SERVERLESS_EXPORT_API_CONTEXT.exportApiSecretArn,
      [EXPORT_API_ENV.region]: 'eu',
      [ENV.landingBucket]: 'acme-amplitude-export',
    });
    const statements = statementsOf(serverlessExportApi, 'BackfillPrepareFunctionRole');
    for (const action of ['s3:PutObject', 's3:DeleteObject']) {
      expect(resourcesAllowed(statements, action)).toContain(
        'arn:aws:s3:::acme-amplitude-export/amplitude/187520/*',
      );
    }
    expect(resourcesAllowed(statements, 'secretsmanager:GetSecretValue')).toEqual([
      SERVERLESS_EXPORT_API_CONTEXT.exportApiSecretArn,
    ]);
    // The Data API secret is the state machine's and the summarize step's, never the prepare step's.
    expect(environmentOf(serverlessExportApi, 'BackfillPrepareFunction')[ENV.secretArn]).toBeUndefined();
  });

  it('alarms on an hour missing over 3 hours (2 of 2 hourly periods; no report right after a deploy is not a gap), abandoned hours and the pull’s errors', () => {
    const topic = { Ref: idOf(clusterExportApi, 'AWS::SNS::Topic', 'MonitoringAlarms') };
    const alarms = Object.values(resourcesOf(clusterExportApi, 'AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(11);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toEqual([topic]);
    const exportApiMetric = (name: string, stat: string, period: number) =>
      Match.objectLike({
        MetricStat: {
          Metric: {
            Namespace: METRIC_NAMESPACE,
            MetricName: name,
            Dimensions: [
              { Name: 'Feed', Value: 'events' },
              { Name: 'service', Value: 'export-api' },
            ],
          },
          Period: period,
          Stat: stat,
        },
      });
    clusterExportApi.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: [exportApiMetric(EXPORT_API_METRICS.oldestGapAgeSeconds, 'Maximum', 3600)],
      Threshold: 10800,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      TreatMissingData: 'missing',
    });
    clusterExportApi.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: [exportApiMetric(EXPORT_API_METRICS.abandonedHours, 'Sum', 300)],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
    clusterExportApi.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [
        {
          Name: 'FunctionName',
          Value: { Ref: idOf(clusterExportApi, 'AWS::Lambda::Function', 'ExportApiPullFunction') },
        },
      ],
      Threshold: 1,
    });
    // A pull every 2 hours: periods as long as the interval, and three intervals of grace.
    serverlessExportApi.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: [exportApiMetric(EXPORT_API_METRICS.oldestGapAgeSeconds, 'Maximum', 7200)],
      Threshold: 21600,
      EvaluationPeriods: 2,
    });
  });

  it('charts and alarms on exactly the metrics the pull emits, under the dimensions it emits them with', () => {
    const emitted = new Set<string>(liveMetricValues(PULL_RUN).map(({ name }) => name));
    expect(emitted.size).toBe(Object.keys(EXPORT_API_METRICS).length);
    const read = [...dashboardMetrics(clusterExportApi), ...alarmMetrics(clusterExportApi)].filter(
      ({ name, dimensions }) => EXPORT_API_NAMES.has(name) || dimensions.service === 'export-api',
    );
    expect(new Set(read.map(({ name }) => name))).toEqual(emitted);
    for (const { name, dimensions } of read) {
      expect(dimensions, name).toEqual({ service: 'export-api', Feed: 'events' });
    }
    // The pipeline's own widgets and alarms still read the pipeline's names only.
    for (const { name } of [...dashboardMetrics(cluster), ...alarmMetrics(cluster)]) {
      expect(Object.values(METRICS) as string[], name).toContain(name);
    }
  });

  it('names the pull function in an output', () => {
    expect(
      clusterExportApi.findOutputs('ExportApiPullFunctionName').ExportApiPullFunctionName?.Value,
    ).toEqual({
      Ref: idOf(clusterExportApi, 'AWS::Lambda::Function', 'ExportApiPullFunction'),
    });
  });
});
