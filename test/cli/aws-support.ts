import { Readable } from 'node:stream';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import { GetObjectCommand, ListObjectsV2Command, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { sdkStreamMixin } from '@smithy/util-stream';
import { mockClient } from 'aws-sdk-client-mock';
import type { AwsCommandDeps } from '#cli/aws/session.ts';
import type { CliIo } from '#cli/io.ts';

export const REGION = 'eu-west-1';
export const ACCOUNT = '123456789012';
export const STACK = 'AmplitudeRedshiftExport-187520';
export const BUCKET = 'export-staging-bucket';
export const STATE_MACHINE_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:BackfillStateMachine-Ab12`;
export const SECRET_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:redshift-export-AbCdEf`;

export const mocks = {
  cloudFormation: mockClient(CloudFormationClient),
  sfn: mockClient(SFNClient),
  s3: mockClient(S3Client),
  lambda: mockClient(LambdaClient),
  redshiftData: mockClient(RedshiftDataClient),
};

export function resetMocks(): void {
  for (const mock of Object.values(mocks)) mock.reset();
}

/** Every output the CLI reads. */
export const FULL_OUTPUTS: Readonly<Record<string, string>> = {
  StagingBucketName: BUCKET,
  RedshiftSecretArn: SECRET_ARN,
  BackfillStateMachineArn: STATE_MACHINE_ARN,
  VerifyFunctionName: 'AmplitudeRedshiftExport-187520-VerifyFunction-XyZ',
  RedshiftDatabase: 'dev',
  RedshiftClusterIdentifier: 'analytics',
  WarehouseSchema: 'amplitude',
  ProjectId: '187520',
  Feeds: 'events,merge_ids',
};

export function givenStack(outputs: Readonly<Record<string, string>> = FULL_OUTPUTS): void {
  mocks.cloudFormation.on(DescribeStacksCommand, { StackName: STACK }).resolves({
    Stacks: [
      {
        StackName: STACK,
        StackStatus: 'UPDATE_COMPLETE',
        CreationTime: new Date('2026-01-01T00:00:00Z'),
        Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
      },
    ],
  });
}

export function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: {}, $fault: 'client' });
}

export interface TestIo extends CliIo {
  readonly out: () => string;
  readonly err: () => string;
}

export function testIo(interrupted?: Promise<void>): TestIo {
  let out = '';
  let err = '';
  return {
    stdout: (text) => {
      out += text;
    },
    stderr: (text) => {
      err += text;
    },
    env: {},
    cwd: '/tmp',
    ...(interrupted ? { interrupted } : {}),
    out: () => out,
    err: () => err,
  };
}

export interface TestDeps extends AwsCommandDeps {
  readonly slept: number[];
}

export function testDeps(now = '2026-03-02T06:00:00.000Z'): TestDeps {
  const slept: number[] = [];
  return {
    slept,
    sleep: async (ms) => {
      slept.push(ms);
    },
    now: () => new Date(now),
    stderrIsTty: false,
  };
}

export function s3Body(text: string) {
  return sdkStreamMixin(Readable.from([Buffer.from(text)]));
}

/** The staging bucket as S3 would list and return it: key -> [content, last modified]. */
export function givenBucket(objects: Readonly<Record<string, readonly [string, string]>>): void {
  mocks.s3.on(ListObjectsV2Command).callsFake((input: { Prefix?: string }) => ({
    Contents: Object.entries(objects)
      .filter(([key]) => key.startsWith(input.Prefix ?? ''))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([Key, [content, modified]]) => ({
        Key,
        Size: Buffer.byteLength(content),
        LastModified: new Date(modified),
        ETag: '"etag"',
      })),
    IsTruncated: false,
  }));
  mocks.s3.on(GetObjectCommand).callsFake((input: { Key?: string }) => {
    const found = objects[input.Key ?? ''];
    if (!found) throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} });
    return { Body: s3Body(found[0]) };
  });
}

/** The error a command failed with; fails the test when it did not fail. */
export async function failureOf(run: Promise<number>): Promise<Error> {
  return run.then(
    (code) => {
      throw new Error(`expected the command to fail, it exited ${code}`);
    },
    (error: unknown) => error as Error,
  );
}
