import { Readable } from 'node:stream';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/util-stream';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '#shared/config/validate.ts';
import { lambdaContext, s3NotFound, useHandlerHarness } from '#test/support/lambda-handler.ts';

const s3 = mockClient(S3Client);
const lambda = mockClient(LambdaClient);

const ENVIRONMENT = {
  AWS_REGION: 'eu-west-1',
  PROJECT_ID: '777',
  FEEDS: 'events,merge_ids',
  LANDING_BUCKET: 'landing-bucket',
  STAGING_BUCKET: 'staging-bucket',
  LOOKBACK_DAYS: '1',
  LOADER_FUNCTION_NAME: 'stack-loader',
};

const context = lambdaContext('batcher', '1769', 14 * 60_000);

beforeEach(() => {
  s3.reset();
  lambda.reset();
});
const harness = useHandlerHarness(() => ENVIRONMENT);

const loadHandler = async () => await import('#lambdas/batcher/handler.ts');

const summaryLines = () => harness.jsonLines('"run summary"');

describe('batcher Lambda handler', () => {
  it('fails at load time, naming the variable, when the landing bucket is not configured', async () => {
    delete process.env.LANDING_BUCKET;
    await expect(loadHandler()).rejects.toMatchObject({
      name: ConfigError.name,
      message: expect.stringMatching(/^LANDING_BUCKET is required/),
    });
  });

  it('takes the lease, lists each day of the window in the landing bucket and logs one summary line', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [], IsTruncated: false });
    s3.on(HeadObjectCommand).rejects(s3NotFound());
    s3.on(PutObjectCommand).resolves({ ETag: '"lease-1"' });
    s3.on(DeleteObjectCommand).resolves({});
    const today = new Date().toISOString().slice(0, 10);

    const { handler } = await loadHandler();
    const summary = await handler({}, context);

    expect(summary.skipped).toBeUndefined();
    expect(summary.runId).toBe('request-1');
    // 14 minutes left, less the batcher's 90-second margin (shared/config/scheduled-run.ts).
    expect(summary.budgetMs).toBe(14 * 60_000 - 90_000);
    expect(summary.feeds.events).toMatchObject({ files: 0, rows: 0, batches: [] });
    const [lease] = s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input);
    expect(lease).toMatchObject({
      Bucket: 'staging-bucket',
      Key: 'state/leases/batcher.json',
      IfNoneMatch: '*',
    });
    const landingPrefixes = s3
      .commandCalls(ListObjectsV2Command)
      .filter((call) => call.args[0].input.Bucket === 'landing-bucket')
      .map((call) => call.args[0].input.Prefix);
    expect(landingPrefixes).toContain(`777_${today}_`);
    expect(landingPrefixes).toContain('-');
    expect(s3.commandCalls(DeleteObjectCommand)[0]!.args[0].input).toMatchObject({
      Key: 'state/leases/batcher.json',
      IfMatch: '"lease-1"',
    });
    const lines = summaryLines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'INFO',
      run: { kind: 'batcher', runId: 'request-1', status: 'ok' },
    });
  });

  it('reports a skipped run when another run holds the lease', async () => {
    const until = new Date(Date.now() + 10 * 60_000).toISOString();
    s3.on(PutObjectCommand).rejects(
      Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), {
        name: 'PreconditionFailed',
        $metadata: { httpStatusCode: 412 },
      }),
    );
    s3.on(HeadObjectCommand, { Key: 'state/leases/batcher.json' }).resolves({
      ETag: '"other"',
      ContentLength: 100,
    });
    s3.on(GetObjectCommand, { Key: 'state/leases/batcher.json' }).resolves({
      Body: sdkStreamMixin(
        Readable.from([
          Buffer.from(
            JSON.stringify({
              owner: 'batcher:earlier',
              token: 't',
              acquiredAt: new Date().toISOString(),
              expiresAt: until,
            }),
          ),
        ]),
      ),
    });

    const { handler } = await loadHandler();
    const summary = await handler({}, context);

    expect(summary.skipped).toEqual({ reason: 'lease-held', heldBy: 'batcher:earlier', expiresAt: until });
    expect(s3.commandCalls(ListObjectsV2Command)).toHaveLength(0);
    expect(summaryLines()[0]).toMatchObject({ run: { kind: 'batcher', status: 'skipped' } });
  });

  it('starts the loader asynchronously by the name it was given, and only when batches were staged', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [], IsTruncated: false });
    s3.on(HeadObjectCommand).rejects(s3NotFound());
    s3.on(PutObjectCommand).resolves({ ETag: '"lease-1"' });
    s3.on(DeleteObjectCommand).resolves({});
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });

    const { handler, startLoader } = await loadHandler();
    const summary = await handler({}, context);
    // Nothing landed, nothing staged: no load to start.
    expect(summary.loadStart).toBeUndefined();
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);

    await startLoader('stack-loader');
    expect(lambda.commandCalls(InvokeCommand).map((call) => call.args[0].input)).toEqual([
      { FunctionName: 'stack-loader', InvocationType: 'Event' },
    ]);
  });
});
