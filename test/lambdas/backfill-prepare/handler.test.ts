import {
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PrepareEvent } from '#shared/pipeline/backfill/prepare.ts';
import { FakeExportApi } from '#test/shared/sources/amplitude-export-api/fake-export-api.ts';
import {
  API_KEY,
  expectNoSecrets,
  PROJECT_ID,
  SECRET_KEY,
} from '#test/shared/sources/amplitude-export-api/support.ts';
import { lambdaContext, s3NotFound, useHandlerHarness } from '#test/support/lambda-handler.ts';

const s3 = mockClient(S3Client);
const secrets = mockClient(SecretsManagerClient);
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:amplitude-export-api-AbCdEf';
const HOUR = Date.UTC(2024, 4, 1, 7) / 3_600_000;

const context = lambdaContext('backfill-prepare', '2048', 14 * 60_000);

function eventFor(source?: 'export-api'): PrepareEvent {
  return {
    chunk: {
      runId: 'bf-2024050107-2024050107-events-c1-export-api',
      chunkId: 'events-2024050107-2024050107',
      feed: 'events',
      startHour: '2024-05-01T07',
      endHour: '2024-05-01T07',
      ...(source ? { source } : {}),
    },
    attempt: 1,
  };
}

let api: FakeExportApi;

beforeEach(async () => {
  s3.reset();
  secrets.reset();
  api = await new FakeExportApi({ apiKey: API_KEY, secretKey: SECRET_KEY, projectId: PROJECT_ID }).start();
  s3.on(HeadObjectCommand).rejects(s3NotFound());
  s3.on(ListObjectsV2Command).resolves({ Contents: [] });
  s3.on(PutObjectCommand).resolves({ ETag: '"etag-1"' });
  s3.on(DeleteObjectCommand).resolves({});
  secrets.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({
    SecretString: JSON.stringify({ apiKey: API_KEY, secretKey: SECRET_KEY }),
  });
});
afterEach(async () => {
  await api.stop();
});
const { output } = useHandlerHarness(() => ({
  AWS_REGION: 'eu-west-1',
  PROJECT_ID,
  FEEDS: 'events',
  LANDING_BUCKET: 'landing-bucket',
  STAGING_BUCKET: 'staging-bucket',
}));

const loadHandler = async () => (await import('#lambdas/backfill-prepare/handler.ts')).handler;

function withConnector(): void {
  process.env.EXPORT_API_SECRET_ARN = SECRET_ARN;
  process.env.EXPORT_API_BASE_URL = api.url;
}

describe('backfill prepare Lambda handler and the Export API', () => {
  it('fails an export-api chunk without the connector with ExportApiNotConfiguredError, saying how to turn it on, before touching S3', async () => {
    const handler = await loadHandler();

    const error = (await handler(eventFor('export-api'), context).catch(
      (caught: unknown) => caught,
    )) as Error;

    // Step Functions records this name as the chunk's error and does not retry it.
    expect(error.name).toBe('ExportApiNotConfiguredError');
    expect(error.message).toMatch(
      /Chunk events-2024050107-2024050107 asks for "source": "export-api", but this deployment has no Export API connector\. Deploy with -c exportApiSecretArn=/,
    );
    expect(s3.calls()).toHaveLength(0);
    expect(secrets.calls()).toHaveLength(0);
    expect(api.requests).toHaveLength(0);
  });

  it("pulls an export-api chunk's hours into landing with the secret's keys before staging them", async () => {
    withConnector();
    const [file] = api.setHour(HOUR, [['{"uuid":"a"}', '{"uuid":"b"}']]);
    const handler = await loadHandler();

    const prepared = await handler(eventFor('export-api'), context);

    expect(api.requests.map(({ start, end }) => [start, end])).toEqual([['20240501T07', '20240501T07']]);
    expect(secrets.commandCalls(GetSecretValueCommand)[0]?.args[0].input).toEqual({ SecretId: SECRET_ARN });
    const landed = s3
      .commandCalls(PutObjectCommand)
      .map((call) => call.args[0].input)
      .filter((put) => put.Bucket === 'landing-bucket');
    expect(landed.map((put) => put.Key)).toEqual([`${PROJECT_ID}_2024-05-01_7#0.json.gz`]);
    expect(Buffer.from(landed[0]!.Body as Uint8Array).equals(file!)).toBe(true);
    // The S3 mock lists no landing files, so there is nothing to stage after the pull.
    expect(prepared).toMatchObject({ chunkId: 'events-2024050107-2024050107', empty: true });
    expect(expectNoSecrets(output.join('\n'))).toEqual([]);
  });

  it('reads landing as it is for a chunk without a source, even with the connector', async () => {
    withConnector();
    api.setHour(HOUR, [['{"uuid":"a"}']]);
    const handler = await loadHandler();

    const prepared = await handler(eventFor(), context);

    expect(prepared.empty).toBe(true);
    expect(api.requests).toHaveLength(0);
    expect(secrets.calls()).toHaveLength(0);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });
});
