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
import { ConfigError } from '#shared/config/validate.ts';
import { FakeExportApi } from '#test/shared/sources/amplitude-export-api/fake-export-api.ts';
import {
  API_KEY,
  expectNoSecrets,
  PROJECT_ID,
  SECRET_KEY,
} from '#test/shared/sources/amplitude-export-api/support.ts';
import { lambdaContext, s3NotFound, useHandlerHarness } from '#test/support/lambda-handler.ts';

const HOUR = 3_600_000;
const s3 = mockClient(S3Client);
const secrets = mockClient(SecretsManagerClient);
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:amplitude-AbCdEf';

const context = lambdaContext('export-api-pull', '2048', 14 * 60_000);

let api: FakeExportApi;
/** The newest hour the 3-hour delay lets the pull fetch now. */
let dueHour: number;

beforeEach(async () => {
  s3.reset();
  secrets.reset();
  api = await new FakeExportApi({ apiKey: API_KEY, secretKey: SECRET_KEY, projectId: PROJECT_ID }).start();
  dueHour = Math.floor((Date.now() - 3 * HOUR) / HOUR) - 1;
  s3.on(HeadObjectCommand).rejects(s3NotFound());
  s3.on(ListObjectsV2Command).resolves({ Contents: [] });
  s3.on(PutObjectCommand).resolves({ ETag: '"etag-1"' });
  s3.on(DeleteObjectCommand).resolves({});
});
afterEach(async () => {
  await api.stop();
});
const { output } = useHandlerHarness(() => ({
  AWS_REGION: 'eu-west-1',
  PROJECT_ID,
  LANDING_BUCKET: 'landing-bucket',
  STAGING_BUCKET: 'staging-bucket',
  EXPORT_API_SECRET_ARN: SECRET_ARN,
  EXPORT_API_BASE_URL: api.url,
  EXPORT_API_FIRST_HOUR: new Date((dueHour - 1) * HOUR).toISOString().slice(0, 13),
}));

const loadHandler = async () => await import('#lambdas/export-api-pull/handler.ts');

function emf(): Record<string, unknown>[] {
  return output
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('export-api-pull Lambda handler', () => {
  it('fails at load time, naming the variable, without a secret ARN', async () => {
    delete process.env.EXPORT_API_SECRET_ARN;
    await expect(loadHandler()).rejects.toMatchObject({
      name: ConfigError.name,
      message: expect.stringMatching(/^EXPORT_API_SECRET_ARN is required/),
    });
  });

  it('pulls the due hours into the landing bucket, records them in staging and emits the gap metrics', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({
      SecretString: JSON.stringify({ apiKey: API_KEY, secretKey: SECRET_KEY }),
    });
    const [file] = api.setHour(dueHour, [['{"uuid":"a"}']]);
    const { handler } = await loadHandler();

    const summary = await handler({}, context);

    expect(summary).toMatchObject({
      skipped: false,
      dueHours: 2,
      hoursPulled: 2,
      filesWritten: 1,
      gapHours: 0,
    });
    const puts = s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input);
    const landed = puts.filter((put) => put.Bucket === 'landing-bucket');
    const iso = new Date(dueHour * HOUR).toISOString();
    expect(landed.map((put) => put.Key)).toEqual([
      `${PROJECT_ID}_${iso.slice(0, 10)}_${Number(iso.slice(11, 13))}#0.json.gz`,
    ]);
    expect(Buffer.from(landed[0]!.Body as Uint8Array).equals(file!)).toBe(true);
    expect(puts.filter((put) => put.Bucket === 'staging-bucket').map((put) => put.Key)).toEqual([
      'state/leases/export-api-pull.json',
      `state/export-api/${PROJECT_ID}.json`,
    ]);
    const metrics = emf().find((doc) => 'ExportApiGapHours' in doc);
    expect(metrics).toMatchObject({
      service: 'export-api',
      Feed: 'events',
      ExportApiGapHours: 0,
      ExportApiOldestGapAgeSeconds: 0,
      ExportApiHoursPulled: 2,
      ExportApiFilesWritten: 1,
    });
  });

  it('throws after recording the gaps when the credentials are refused, and logs no key', async () => {
    secrets.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ apiKey: API_KEY, secretKey: 'revoked-secret' }),
    });
    const { handler, ExportApiPullNeedsAttentionError } = await loadHandler();

    const error = await handler({}, context).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ExportApiPullNeedsAttentionError);
    expect((error as Error).message).toMatch(/refused the credentials \(HTTP 401/);
    expect(emf().find((doc) => 'ExportApiGapHours' in doc)).toMatchObject({ ExportApiGapHours: 2 });
    const stateWrite = s3
      .commandCalls(PutObjectCommand)
      .find((call) => call.args[0].input.Key === `state/export-api/${PROJECT_ID}.json`);
    expect(stateWrite).toBeDefined();
    expect(expectNoSecrets([output.join('\n'), (error as Error).message].join('\n'))).toEqual([]);
    expect(output.join('\n')).not.toContain('revoked-secret');
  });

  it('runs inside the invocation wrapper: a failure becomes the failed run summary line and is rethrown by name', async () => {
    secrets.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ apiKey: API_KEY, secretKey: SECRET_KEY }),
    });
    s3.on(PutObjectCommand).rejects(
      Object.assign(new Error('Access Denied'), {
        name: 'AccessDenied',
        $metadata: { httpStatusCode: 403 },
      }),
    );
    const { handler } = await loadHandler();

    const error = (await handler({}, context).catch((caught: unknown) => caught)) as Error;

    expect(error.name).toBe('StorageAccessError');
    expect(error.message).toMatch(/^S3 refused PutObject on s3:\/\/staging-bucket\/state\/leases\//);
    const [line] = output
      .flatMap((chunk) => chunk.split('\n'))
      .filter((text) => text.includes('"run summary"'))
      .map((text) => JSON.parse(text) as Record<string, unknown>);
    expect(line).toMatchObject({
      level: 'ERROR',
      function_name: 'export-api-pull',
      runId: 'request-1',
      run: {
        kind: 'export-api-pull',
        runId: 'request-1',
        status: 'failed',
        errors: [{ name: 'StorageAccessError' }],
      },
    });
  });
});
