import { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { systemClock } from '#shared/base/clock.ts';
import { ENV, pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { timeBudgetMs } from '#shared/config/scheduled-run.ts';
import { requireString } from '#shared/config/validate.ts';
import { runInvocation } from '#shared/observability/invocation.ts';
import { SERVICES } from '#shared/observability/metric-names.ts';
import { createObservability, traceClient } from '#shared/observability/powertools.ts';
import { recordBatcherRun } from '#shared/observability/run-metrics.ts';
import { batcherRunSummary, logRunSummary } from '#shared/observability/run-summary.ts';
import { type BatcherSummary, runBatcher } from '#shared/pipeline/batcher/batcher.ts';
import { S3ObjectStore } from '#shared/storage/s3-store.ts';

// Built once per container, so configuration errors fail the first invocation loudly.
const observability = createObservability({ service: SERVICES.batcher });
const settings = pipelineSettingsFrom(process.env);
const s3 = traceClient(observability, new S3Client({}));
const landing = new S3ObjectStore({
  client: s3,
  bucket: requireString(process.env, ENV.landingBucket, 'the bucket Amplitude exports into'),
});
const staging = new S3ObjectStore({
  client: s3,
  bucket: requireString(process.env, ENV.stagingBucket, 'the bucket for staged parts, manifests and state'),
});

/** Scheduled by EventBridge; the event carries nothing the batcher needs. */
export async function handler(_event: unknown, context: Context): Promise<BatcherSummary> {
  const runId = context.awsRequestId;
  return runInvocation(observability, context, { kind: 'batcher', correlation: { runId } }, async () => {
    const budgetMs = timeBudgetMs(context.getRemainingTimeInMillis(), 'batcher');
    const summary = await runBatcher({ landing, staging, settings, clock: systemClock, budgetMs, runId });
    recordBatcherRun(observability.metrics, summary);
    logRunSummary(observability.logger, batcherRunSummary(summary));
    return summary;
  });
}
