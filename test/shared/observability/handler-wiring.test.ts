import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/util-stream';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { METRICS } from '#shared/observability/metric-names.ts';
import { type Captured, captureOutput, valuesFor } from './capture.ts';

const s3 = mockClient(S3Client);
let output: Captured | undefined;

beforeAll(() => {
  vi.stubEnv('PROJECT_ID', '187520');
  vi.stubEnv('FEEDS', 'events');
  vi.stubEnv('STAGING_BUCKET', 'staging-bucket');
  vi.stubEnv('REDSHIFT_DATABASE', 'dev');
  vi.stubEnv('REDSHIFT_SECRET_ARN', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf');
  vi.stubEnv('REDSHIFT_CLUSTER_IDENTIFIER', 'analytics');
  vi.stubEnv('AWS_REGION', 'eu-west-1');
});
afterAll(() => {
  output?.restore();
  vi.unstubAllEnvs();
  s3.restore();
});

const context = {
  functionName: 'export-loader',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:export-loader',
  memoryLimitInMB: '512',
  awsRequestId: 'c0ffee00-0000-4000-8000-000000000002',
  getRemainingTimeInMillis: () => 840_000,
} as unknown as Context;

describe('the loader handler', () => {
  it('logs one summary line and reports the backlog and its age when another run holds the lease', async () => {
    const pendingLastWeek = new Date(Date.now() - 7 * 24 * 3600 * 1000);
    s3.on(ListObjectsV2Command).callsFake((input: { Prefix?: string }) => ({
      Contents: [{ Key: `${input.Prefix}ev-old.json`, Size: 2, LastModified: pendingLastWeek, ETag: '"e"' }],
      IsTruncated: false,
    }));
    s3.on(PutObjectCommand).rejects(
      new S3ServiceException({
        name: 'PreconditionFailed',
        $fault: 'client',
        $metadata: { httpStatusCode: 412 },
      }),
    );
    const lease = JSON.stringify({
      owner: 'loader:other-run',
      token: 't',
      acquiredAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + 600_000).toISOString(),
    });
    s3.on(HeadObjectCommand).resolves({
      ETag: '"lease"',
      ContentLength: lease.length,
      LastModified: new Date(),
    });
    s3.on(GetObjectCommand).resolves({ Body: sdkStreamMixin(Readable.from([Buffer.from(lease)])) });
    const { handler } = await import('#lambdas/loader/handler.ts');
    output = captureOutput();
    const summary = await handler({}, context);
    output.restore();

    expect(summary.skipped?.heldBy).toBe('loader:other-run');
    const line = output.json().find((entry) => entry.message === 'run summary');
    expect(line).toMatchObject({
      service: 'loader',
      function_name: 'export-loader',
      runId: summary.runId,
      run: { kind: 'loader', status: 'skipped', runId: summary.runId, batchesPending: 1 },
    });
    const values = valuesFor(output.emf(), { service: 'loader', Feed: 'events' });
    expect(values[METRICS.batchesPending]).toBe(1);
    expect(values[METRICS.oldestPendingBatchAgeSeconds]).toBeGreaterThanOrEqual(7 * 24 * 3600);
    // A skipped run loaded nothing and says nothing about loads.
    expect(values[METRICS.rowsLoaded]).toBeUndefined();
  });
});
