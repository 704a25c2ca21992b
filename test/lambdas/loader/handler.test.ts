import { Readable } from 'node:stream';
import {
  BatchExecuteStatementCommand,
  ExecuteStatementCommand,
  RedshiftDataClient,
} from '@aws-sdk/client-redshift-data';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/util-stream';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '#shared/config/validate.ts';
import { lambdaContext, useHandlerHarness } from '#test/support/lambda-handler.ts';

const s3 = mockClient(S3Client);
const redshift = mockClient(RedshiftDataClient);

const ENVIRONMENT = {
  AWS_REGION: 'eu-west-1',
  PROJECT_ID: '777',
  FEEDS: 'events,merge_ids',
  STAGING_BUCKET: 'staging-bucket',
  REDSHIFT_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:redshift-abc',
  REDSHIFT_DATABASE: 'dev',
  REDSHIFT_WORKGROUP_NAME: 'analytics',
};

const context = lambdaContext('loader', '512', 14 * 60_000);

beforeEach(() => {
  s3.reset();
  redshift.reset();
});
const { output } = useHandlerHarness(() => ENVIRONMENT);

const loadHandler = async () => await import('#lambdas/loader/handler.ts');

const manifest = {
  entries: [
    {
      url: 's3://staging-bucket/staging/events/2024-03-01/ev-1/part-00000.csv.gz',
      mandatory: true,
      meta: { content_length: 10 },
    },
  ],
  batch: {
    batchId: 'ev-1',
    feed: 'events',
    projectId: '777',
    source: 'live',
    createdAt: '2024-03-01T10:00:00.000Z',
    sourceKeys: ['777_2024-03-01_10#0.json.gz'],
    lines: 1,
    rowCount: 1,
    duplicatesInBatch: 0,
    quarantined: {},
    adjusted: {},
    bytesIn: 5,
    bytesOut: 10,
  },
};

describe('loader Lambda handler', () => {
  it('fails at load time, naming the variable, when configuration is missing', async () => {
    delete process.env.STAGING_BUCKET;
    // Compared by name: each import after resetModules has its own copy of the class.
    await expect(loadHandler()).rejects.toMatchObject({
      name: ConfigError.name,
      message: expect.stringMatching(/^STAGING_BUCKET is required/),
    });
  });

  it('lists each feed once and issues no SQL when nothing is pending', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [], IsTruncated: false });
    const { handler } = await loadHandler();
    const summary = await handler({}, context);
    expect(summary.feeds.map((feed) => [feed.feed, feed.batchesPending])).toEqual([
      ['events', 0],
      ['merge_ids', 0],
    ]);
    expect(s3.commandCalls(ListObjectsV2Command).map((call) => call.args[0].input.Prefix)).toEqual([
      'manifests/pending/events/',
      'manifests/pending/merge_ids/',
    ]);
    expect(redshift.calls()).toHaveLength(0);
    const lines = output.filter((line) => line.includes('"message":"run summary"'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'INFO',
      service: 'loader',
      component: 'loader',
      run: { kind: 'loader', status: 'ok', batchesPending: 0 },
    });
    expect(JSON.parse(lines[0]!).run).not.toHaveProperty('errors');
  });

  it('throws after logging when a setup problem stops the load, so alarms fire', async () => {
    // The general answer first: aws-sdk-client-mock lets later, narrower matchers win.
    s3.on(ListObjectsV2Command).resolves({ Contents: [], IsTruncated: false });
    s3.on(ListObjectsV2Command, { Prefix: 'manifests/pending/events/' }).resolves({
      Contents: [
        { Key: 'manifests/pending/events/ev-1.json', Size: 100, ETag: '"a"', LastModified: new Date() },
      ],
      IsTruncated: false,
    });
    s3.on(PutObjectCommand).resolves({ ETag: '"lease"' });
    s3.on(DeleteObjectCommand).resolves({});
    s3.on(GetObjectCommand, { Key: 'manifests/pending/events/ev-1.json' }).resolves({
      Body: sdkStreamMixin(Readable.from([Buffer.from(JSON.stringify(manifest))])),
    });
    const denied = Object.assign(new Error('User is not authorized to access the secret'), {
      name: 'AccessDeniedException',
    });
    redshift.on(ExecuteStatementCommand).rejects(denied);
    const { handler, LoaderNeedsAttentionError } = await loadHandler();

    const attempt = handler({}, context);
    await expect(attempt).rejects.toBeInstanceOf(LoaderNeedsAttentionError);
    await expect(attempt).rejects.toThrow(
      /needs attention\. Loading stopped on a setup problem \[AccessDeniedException\]/,
    );
    expect(redshift.commandCalls(BatchExecuteStatementCommand)).toHaveLength(0);
    const logged = output.filter((line) => line.includes('"message":"run summary"'));
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0]!)).toMatchObject({
      level: 'ERROR',
      run: {
        status: 'needs_attention',
        note: expect.stringContaining('setup problem'),
        errors: [{ kind: 'systemic', code: 'AccessDeniedException' }],
      },
    });
  });
});
