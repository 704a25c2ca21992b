import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { systemClock } from '#shared/base/clock.ts';
import { ENV, pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { requireString } from '#shared/config/validate.ts';
import { runInvocation } from '#shared/observability/invocation.ts';
import { SERVICES } from '#shared/observability/metric-names.ts';
import { createObservability, traceClient } from '#shared/observability/powertools.ts';
import { backfillPrepareRunSummary, logRunSummary } from '#shared/observability/run-summary.ts';
import { type PreparedChunk, type PrepareEvent, prepareChunk } from '#shared/pipeline/backfill/prepare.ts';
import { EXPORT_API_ENV, exportApiClientFrom } from '#shared/sources/amplitude-export-api/settings.ts';
import { S3ObjectStore } from '#shared/storage/s3-store.ts';

// Built once per container, so configuration errors fail the first invocation loudly.
const observability = createObservability({ service: SERVICES.backfill, component: 'backfill-prepare' });
const settings = pipelineSettingsFrom(process.env);
const s3 = traceClient(observability, new S3Client({}));
const landing = new S3ObjectStore({
  client: s3,
  bucket: requireString(process.env, ENV.landingBucket, 'the bucket Amplitude exports into'),
});
const staging = new S3ObjectStore({
  client: s3,
  bucket: requireString(
    process.env,
    ENV.stagingBucket,
    'the bucket for staged parts, manifests and backfill files',
  ),
});
// Set by the stack only with the Export API connector. Without it, a chunk of a backfill
// started with "source": "export-api" fails with ExportApiNotConfiguredError, which the state
// machine does not retry (it retries Lambda service errors only): the chunk's outcome is
// "failed" with the error's name and its message (how to turn the connector on) as the cause.
const exportApi = process.env[EXPORT_API_ENV.secretArn]
  ? exportApiClientFrom(process.env, {
      secrets: traceClient(observability, new SecretsManagerClient({})),
      onRetry: (retry) => observability.logger.warn('Export API request failed; retrying', { retry }),
    })
  : undefined;

/** One chunk of the Distributed Map: stage its files and return its load transaction. */
export async function handler(event: PrepareEvent, context: Context): Promise<PreparedChunk> {
  const correlation = { runId: event?.chunk?.runId, chunkId: event?.chunk?.chunkId };
  return runInvocation(observability, context, { kind: 'backfill-prepare', correlation }, async () => {
    const prepared = await prepareChunk(
      {
        landing,
        staging,
        settings,
        dialect: 'redshift',
        clock: systemClock,
        ...(exportApi ? { exportApi } : {}),
      },
      event,
    );
    logRunSummary(observability.logger, backfillPrepareRunSummary(event.chunk, prepared, event.attempt));
    return prepared;
  });
}
