import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { lambdaContext, useHandlerHarness } from '#test/support/lambda-handler.ts';

const s3 = mockClient(S3Client);

const context = lambdaContext('backfill-plan', '512', 60_000);

beforeEach(() => {
  s3.reset();
});
useHandlerHarness(() => ({
  AWS_REGION: 'eu-west-1',
  PROJECT_ID: '777',
  FEEDS: 'events',
  STAGING_BUCKET: 'staging-bucket',
}));

const loadHandler = async () => (await import('#lambdas/backfill-plan/handler.ts')).handler;

describe('backfill plan Lambda handler', () => {
  it('writes the chunk list to the staging bucket and returns the plan', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"e1"' });
    const handler = await loadHandler();

    const plan = await handler(
      { request: { start: '2026-01-01', end: '2026-01-02' }, executionName: 'jan' },
      context,
    );

    expect(plan).toMatchObject({
      runId: 'jan',
      feeds: ['events'],
      chunkCount: 2,
      chunksKey: 'backfill/runs/jan/chunks.json',
    });
    const puts = s3.commandCalls(PutObjectCommand);
    expect(puts).toHaveLength(1);
    expect(puts[0]?.args[0].input).toMatchObject({
      Bucket: 'staging-bucket',
      Key: 'backfill/runs/jan/chunks.json',
    });
  });

  it('throws BackfillInputError by name, so the state machine catches it, and writes nothing', async () => {
    const handler = await loadHandler();

    await expect(
      handler(
        { request: { start: '2026-01-01', end: '2026-01-01', feeds: ['merge_ids'] }, executionName: 'x' },
        context,
      ),
    ).rejects.toMatchObject({
      name: 'BackfillInputError',
      message: expect.stringMatching(
        /^Feed "merge_ids" is not exported by this deployment \(its feeds: events\)/,
      ),
    });
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });
});
