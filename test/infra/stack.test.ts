import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '#shared/config/pipeline.ts';
import { STACK_OUTPUTS } from '#shared/config/stack-outputs.ts';
import { METRIC_NAMESPACE, METRICS } from '#shared/observability/metric-names.ts';
import { CALLER_USERID, CLUSTER_CONTEXT, resourcesOf, SERVERLESS_CONTEXT, synthesize } from './synth.ts';

type Resource = { Properties: Record<string, unknown> };

let cluster: Template;
let serverless: Template;

beforeAll(() => {
  cluster = synthesize(CLUSTER_CONTEXT).template;
  serverless = synthesize(SERVERLESS_CONTEXT).template;
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
    for (const [prefix, maxAge] of [
      ['PipelineBatcher', 300],
      ['PipelineLoader', 600],
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

  it('lets the batcher write staging, pending manifests, quarantine and state only; the loader read staged parts only', () => {
    const batcher = statementsOf(cluster, 'PipelineBatcherRole');
    for (const action of ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload']) {
      expect(resourcesAllowed(batcher, action)).toEqual(
        ['manifests/pending/', 'quarantine/', 'staging/', 'state/'].map((prefix) =>
          objectsBelow(cluster, prefix),
        ),
      );
    }
    const loader = statementsOf(cluster, 'PipelineLoaderRole');
    expect(resourcesAllowed(loader, 's3:PutObject')).toEqual(
      ['manifests/', 'state/'].map((prefix) => objectsBelow(cluster, prefix)),
    );
    expect(resourcesAllowed(loader, 's3:GetObject')).toContainEqual(objectsBelow(cluster, 'staging/'));
    expect(actionsOf(loader).filter((action) => action.includes('*'))).toEqual([]);
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
      ['PipelineBatcher', 'rate(5 minutes)', 300],
      ['PipelineLoader', 'rate(10 minutes)', 600],
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
    expect(alarms).toHaveLength(7);
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

  it('charts every pipeline metric on the dashboard', () => {
    const dashboard = Object.values(resourcesOf(cluster, 'AWS::CloudWatch::Dashboard'))[0]!;
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const name of Object.values(METRICS)) expect(body, name).toContain(name);
    expect(body).toContain('ExecutionsFailed');
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
      ].sort(),
    );
    expect(outputs.RedshiftClusterIdentifier?.Value).toBe('analytics');
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
});
