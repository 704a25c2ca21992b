import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { beforeAll, describe, expect, it } from 'vitest';
import { handlerEntry, PipelineFunction } from '#infra/constructs/pipeline-function.ts';
import { RedshiftWarehouse } from '#infra/constructs/redshift-warehouse.ts';
import { ENV } from '#shared/config/pipeline.ts';
import { parseRedshiftHost } from '#shared/config/redshift-host.ts';
import { METRIC_NAMESPACE } from '#shared/observability/metric-names.ts';
import { CALLER_USERID, CDK_JSON_CONTEXT } from './synth.ts';

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };

function newStack(): Stack {
  const app = new App({ context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
  return new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
}

function statements(template: Template): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement,
  );
}

function allowed(template: Template, action: string): unknown[] {
  return statements(template)
    .filter((statement) => [statement.Action].flat().includes(action))
    .flatMap((statement) => [statement.Resource].flat());
}

describe('PipelineFunction', () => {
  let template: Template;
  let fn: PipelineFunction;
  let stack: Stack;

  beforeAll(() => {
    stack = newStack();
    const key = new kms.Key(stack, 'Key');
    const encrypted = new s3.Bucket(stack, 'Encrypted', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: key,
    });
    const plain = s3.Bucket.fromBucketName(stack, 'Plain', 'landing-bucket');
    const secret = new secretsmanager.Secret(stack, 'Secret');
    const warehouse = new RedshiftWarehouse(stack, 'Warehouse', {
      endpoint: parseRedshiftHost('c1.abc123.eu-west-1.redshift.amazonaws.com'),
      database: 'dev',
    });
    fn = new PipelineFunction(stack, 'Fn', {
      entry: handlerEntry('verify'),
      description: 'test function',
      serviceName: 'verify',
      logRetention: logs.RetentionDays.ONE_WEEK,
      timeout: Duration.seconds(30),
    });
    fn.readBucket('LANDING', plain, 'exports/')
      .readWriteBucket('STAGING', encrypted, ['state/'])
      .useDataApi(warehouse, secret)
      .setEnv('PLAIN', 'value');
    template = Template.fromStack(stack);
  });

  it('runs the tests on the Node.js major the Lambdas run on (npm ci installs it as the `node` dev dependency)', () => {
    const runtimes = Object.values(template.findResources('AWS::Lambda::Function')).map(
      (fn) => (fn as { Properties: { Runtime: string } }).Properties.Runtime,
    );
    expect(runtimes.length).toBeGreaterThan(0);
    for (const runtime of runtimes) {
      expect(
        `nodejs${process.versions.node.split('.')[0]}.x`,
        'the tests run on another Node.js than the Lambdas: run `npm ci`, which installs Node 22 (the `node` dev dependency) and npm puts it first on PATH',
      ).toBe(runtime);
    }
  });

  it('applies the fixed defaults: Node.js 22, ARM64, X-Ray, JSON logs to its own log group, source maps, Powertools names', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 1024,
      Timeout: 30,
      Description: 'test function',
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: {
        LogFormat: 'JSON',
        LogGroup: { Ref: stack.getLogicalId(fn.logGroup.node.defaultChild as never) },
      },
      Environment: {
        Variables: {
          NODE_OPTIONS: '--enable-source-maps',
          POWERTOOLS_SERVICE_NAME: 'verify',
          POWERTOOLS_METRICS_NAMESPACE: METRIC_NAMESPACE,
          LANDING: 'landing-bucket',
          STAGING: { Ref: stack.getLogicalId(stack.node.findChild('Encrypted').node.defaultChild as never) },
          [ENV.database]: 'dev',
          [ENV.clusterIdentifier]: 'c1',
          [ENV.secretArn]: {
            Ref: stack.getLogicalId(stack.node.findChild('Secret').node.defaultChild as never),
          },
          PLAIN: 'value',
        },
      },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });

  it('uses its own role, allowed to write only to its own log group, instead of the managed basic role', () => {
    const role = Object.values(template.findResources('AWS::IAM::Role')).find((candidate) =>
      JSON.stringify(candidate).includes('lambda.amazonaws.com'),
    );
    expect(role?.Properties.ManagedPolicyArns).toBeUndefined();
    expect(allowed(template, 'logs:PutLogEvents')).toEqual([
      { 'Fn::GetAtt': [stack.getLogicalId(fn.logGroup.node.defaultChild as never), 'Arn'] },
    ]);
  });

  it('grants reading below the prefix it names, and no writes, for readBucket', () => {
    expect(allowed(template, 's3:GetObject')).toContain('arn:aws:s3:::landing-bucket/exports/*');
    expect(allowed(template, 's3:ListBucket')).toContain('arn:aws:s3:::landing-bucket');
    expect(JSON.stringify(allowed(template, 's3:PutObject'))).not.toContain('landing-bucket');
  });

  it('grants read, write, delete below each prefix and exactly Decrypt/GenerateDataKey on the key, for readWriteBucket', () => {
    const bucketArn = {
      'Fn::GetAtt': [stack.getLogicalId(stack.node.findChild('Encrypted').node.defaultChild as never), 'Arn'],
    };
    const objects = { 'Fn::Join': ['', [bucketArn, '/state/*']] };
    for (const action of ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload']) {
      expect(allowed(template, action), action).toContainEqual(objects);
    }
    const keyArn = {
      'Fn::GetAtt': [stack.getLogicalId(stack.node.findChild('Key').node.defaultChild as never), 'Arn'],
    };
    expect(allowed(template, 'kms:GenerateDataKey')).toContainEqual(keyArn);
    expect(
      statements(template)
        .flatMap((statement) => [statement.Action].flat())
        .filter((a) => a.startsWith('kms:')),
    ).not.toContain('kms:ReEncrypt*');
  });

  it('grants the Data API on the cluster only and statement reads on its own statements', () => {
    expect(allowed(template, 'redshift-data:BatchExecuteStatement')).toEqual([
      'arn:aws:redshift:eu-west-1:123456789012:cluster:c1',
    ]);
    const reads = statements(template).filter((statement) =>
      [statement.Action].flat().includes('redshift-data:DescribeStatement'),
    );
    expect(reads).toEqual([
      expect.objectContaining({
        Resource: '*',
        Condition: { StringEquals: { 'redshift-data:statement-owner-iam-userid': CALLER_USERID } },
      }),
    ]);
    expect(allowed(template, 'secretsmanager:GetSecretValue')).toHaveLength(1);
  });

  it('refuses to set one variable twice with different values, and accepts the same value again', () => {
    expect(() => fn.setEnv('PLAIN', 'value')).not.toThrow();
    expect(() => fn.setEnv('PLAIN', 'other')).toThrow(/PLAIN is already set to a different value/);
  });
});
