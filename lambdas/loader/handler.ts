import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { ENV, pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { optionalString, requireString } from '#shared/config/validate.ts';
import { DIMENSIONS, METRICS } from '#shared/observability/metric-names.ts';
import { systemClock } from '#shared/pipeline/clock.ts';
import { type LoaderSummary, runLoader } from '#shared/pipeline/loader.ts';
import { S3ObjectStore } from '#shared/storage/s3-store.ts';
import { RedshiftDataApiRunner } from '#shared/warehouse/redshift-data.ts';

/**
 * Time kept back from the Lambda timeout: no load transaction starts later than this before
 * the end. One that outlives the Lambda still commits in Redshift (the Data API runs it), and
 * the next run finds it in the ledger, so this only avoids wasted work.
 */
export const BUDGET_MARGIN_MS = 5 * 60_000;
const MIN_BUDGET_MS = 10_000;

/**
 * Thrown after the summary is logged when a person must act (a batch moved to
 * manifests/failed/, or a setup problem such as a missing grant): the invocation fails, so
 * the function's Errors metric, alarms and on-failure destination fire. Retryable warehouse
 * errors and a held lease do not throw: the next scheduled run retries them, and a long
 * outage shows in the freshness alarm.
 */
export class LoaderNeedsAttentionError extends Error {
  override readonly name = 'LoaderNeedsAttentionError';
}

// Built once per container, so configuration errors fail the first invocation loudly.
const logger = new Logger({ persistentKeys: { function: 'loader' } });
const metrics = new Metrics();
const settings = pipelineSettingsFrom(process.env);
const store = new S3ObjectStore({
  client: new S3Client({}),
  bucket: requireString(process.env, ENV.stagingBucket, 'the bucket for staged parts, manifests and state'),
});
const clusterIdentifier = optionalString(process.env, ENV.clusterIdentifier);
const runner = new RedshiftDataApiRunner({
  client: new RedshiftDataClient({}),
  database: requireString(process.env, ENV.database, 'the Redshift database'),
  secretArn: requireString(process.env, ENV.secretArn, 'the ARN of the Redshift credentials secret'),
  target: clusterIdentifier
    ? { clusterIdentifier }
    : {
        workgroupName: requireString(
          process.env,
          ENV.workgroupName,
          `the Serverless workgroup (or ${ENV.clusterIdentifier} for a provisioned cluster)`,
        ),
      },
  statementName: 'amplitude-export-loader',
});

/** Scheduled by EventBridge; the event carries nothing the loader needs. */
export async function handler(_event: unknown, context: Context): Promise<LoaderSummary> {
  logger.addContext(context);
  const budgetMs = Math.max(MIN_BUDGET_MS, context.getRemainingTimeInMillis() - BUDGET_MARGIN_MS);
  const summary = await runLoader({ store, runner, settings, clock: systemClock, budgetMs });
  publishMetrics(summary);

  if (summary.skipped) logger.info('loader skipped: another run holds the lease', { summary });
  else if (summary.needsAttention) logger.error('loader run needs attention', { summary });
  else if (summary.errors.length > 0) logger.warn('loader run finished with retryable errors', { summary });
  else logger.info('loader run finished', { summary });

  if (summary.needsAttention) throw new LoaderNeedsAttentionError(attentionMessage(summary));
  return summary;
}

function publishMetrics(summary: LoaderSummary): void {
  if (summary.skipped) return;
  for (const feed of summary.feeds) {
    metrics.addDimension(DIMENSIONS.feed, feed.feed);
    metrics.addMetric(METRICS.rowsLoaded, MetricUnit.Count, feed.rowsLoaded);
    metrics.addMetric(METRICS.duplicatesSkipped, MetricUnit.Count, feed.duplicatesSkipped);
    metrics.addMetric(METRICS.batchesPending, MetricUnit.Count, feed.batchesPending);
    metrics.addMetric(
      METRICS.loadFailures,
      MetricUnit.Count,
      summary.errors.filter((error) => error.feed === feed.feed).length,
    );
    for (const load of feed.loads)
      metrics.addMetric(METRICS.loadDurationMs, MetricUnit.Milliseconds, load.durationMs);
    if (feed.freshnessSeconds !== undefined) {
      metrics.addMetric(METRICS.freshnessSeconds, MetricUnit.Seconds, feed.freshnessSeconds);
    }
    metrics.publishStoredMetrics();
  }
}

function attentionMessage(summary: LoaderSummary): string {
  const failed = summary.feeds.flatMap((feed) =>
    feed.failedBatchIds.map((batchId) => `${feed.feed}/${batchId}`),
  );
  const setup = summary.errors.filter((error) => error.kind === 'systemic');
  const parts: string[] = [];
  if (failed.length > 0) {
    parts.push(
      `${failed.length} batch(es) were moved to manifests/failed/ (${failed.join(', ')}); each has an .error.json beside it saying why and how to load it again.`,
    );
  }
  if (setup.length > 0) {
    const first = setup[0]!;
    parts.push(`Loading stopped on a setup problem [${first.code ?? first.name}]: ${first.message}`);
  }
  return `Loader run ${summary.runId} needs attention. ${parts.join(' ')}`;
}
