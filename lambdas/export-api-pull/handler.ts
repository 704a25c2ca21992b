import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { systemClock } from '#shared/base/clock.ts';
import { ENV } from '#shared/config/pipeline.ts';
import { timeBudgetMs } from '#shared/config/scheduled-run.ts';
import { requireString } from '#shared/config/validate.ts';
import { liveMetricValues } from '#shared/observability/export-api-metrics.ts';
import { DIMENSIONS, SERVICES } from '#shared/observability/metric-names.ts';
import { createObservability, traceClient } from '#shared/observability/powertools.ts';
import { type LivePullSummary, runLivePull } from '#shared/sources/amplitude-export-api/live.ts';
import { exportApiClientFrom, livePullSettingsFrom } from '#shared/sources/amplitude-export-api/settings.ts';
import { S3ObjectStore } from '#shared/storage/s3-store.ts';

/**
 * Thrown after the summary is logged and the metrics are sent when no retry can help
 * (refused credentials, an answer this connector cannot place): the invocation fails, so the
 * function's Errors alarm and on-failure destination fire. Failed hours alone do not throw:
 * the next run retries them, and `ExportApiOldestGapAgeSeconds` alarms when they stay.
 */
export class ExportApiPullNeedsAttentionError extends Error {
  override readonly name = 'ExportApiPullNeedsAttentionError';
}

// Built once per container, so configuration errors fail the first invocation loudly.
const { logger, metrics, ...observability } = createObservability({
  service: SERVICES.exportApi,
  component: 'export-api-pull',
});
const settings = livePullSettingsFrom(process.env);
const s3 = traceClient(observability, new S3Client({}));
const landing = new S3ObjectStore({
  client: s3,
  bucket: requireString(process.env, ENV.landingBucket, 'the bucket the Export API files are written to'),
});
const staging = new S3ObjectStore({
  client: s3,
  bucket: requireString(process.env, ENV.stagingBucket, 'the bucket for state records and leases'),
});
const api = exportApiClientFrom(process.env, {
  secrets: traceClient(observability, new SecretsManagerClient({})),
  onRetry: (retry) => logger.warn('Export API request failed; retrying', { retry }),
});

/** Scheduled by EventBridge (hourly); the event carries nothing the pull needs. */
export async function handler(_event: unknown, context: Context): Promise<LivePullSummary> {
  logger.addContext(context);
  const budgetMs = timeBudgetMs(context.getRemainingTimeInMillis(), 'exportApiPull');
  const summary = await runLivePull({
    api,
    landing,
    staging,
    settings,
    clock: systemClock,
    budgetMs,
    runId: context.awsRequestId,
  });
  publishMetrics(summary);
  logSummary(summary);
  if (summary.fatal) {
    throw new ExportApiPullNeedsAttentionError(
      `The Export API pull stopped: ${summary.fatal.message} The ${summary.gapHours} missing hour(s) are retried on every run once this is fixed.`,
    );
  }
  return summary;
}

function publishMetrics(summary: LivePullSummary): void {
  const values = liveMetricValues(summary);
  if (values.length === 0) return;
  metrics.addDimension(DIMENSIONS.feed, 'events');
  for (const { name, unit, value } of values) metrics.addMetric(name, unit, value);
  metrics.publishStoredMetrics();
}

function logSummary(summary: LivePullSummary): void {
  if (summary.skipped) {
    logger.info('export API pull skipped: another run holds the lease', { summary });
    return;
  }
  if (summary.fatal) logger.error('export API pull stopped on an error a person must fix', { summary });
  else if (summary.gapHours > 0) logger.warn('export API pull finished with missing hours', { summary });
  else logger.info('export API pull finished', { summary });
  if (summary.abandonedHours.length > 0) {
    logger.error(
      'hours left the look-back window without being pulled; backfill them with "source": "export-api"',
      {
        hours: summary.abandonedHours,
      },
    );
  }
  if (summary.hoursNeedingBackfill.length > 0) {
    logger.warn("hours were pulled after the batcher's look-back window; backfill them to load them", {
      hours: summary.hoursNeedingBackfill,
    });
  }
}
