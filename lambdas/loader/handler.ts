import { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { systemClock } from '#shared/base/clock.ts';
import { ENV, pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { timeBudgetMs } from '#shared/config/scheduled-run.ts';
import { requireString } from '#shared/config/validate.ts';
import { runInvocation } from '#shared/observability/invocation.ts';
import { SERVICES } from '#shared/observability/metric-names.ts';
import { type PendingBatchStats, pendingBatchStats } from '#shared/observability/pending.ts';
import { createObservability, traceClient } from '#shared/observability/powertools.ts';
import { sanitizeText } from '#shared/observability/redact.ts';
import { recordLoaderRun } from '#shared/observability/run-metrics.ts';
import { loaderRunSummary, logRunSummary } from '#shared/observability/run-summary.ts';
import { runLoader } from '#shared/pipeline/loader/loader.ts';
import type { LoaderSummary } from '#shared/pipeline/loader/summary.ts';
import type { Feed } from '#shared/schema/columns.ts';
import { S3ObjectStore } from '#shared/storage/s3-store.ts';
import { redshiftDataRunnerFrom } from '#shared/warehouse/redshift-data-env.ts';

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
const observability = createObservability({ service: SERVICES.loader });
const settings = pipelineSettingsFrom(process.env);
const store = new S3ObjectStore({
  client: traceClient(observability, new S3Client({})),
  bucket: requireString(process.env, ENV.stagingBucket, 'the bucket for staged parts, manifests and state'),
});
const runner = redshiftDataRunnerFrom(
  process.env,
  traceClient(observability, new RedshiftDataClient({})),
  'amplitude-export-loader',
);

/** Scheduled by EventBridge; the event carries nothing the loader needs. */
export async function handler(_event: unknown, context: Context): Promise<LoaderSummary> {
  const summary = await runInvocation(observability, context, { kind: 'loader' }, async () => {
    const budgetMs = timeBudgetMs(context.getRemainingTimeInMillis(), 'loader');
    const result = await runLoader({ store, runner, settings, clock: systemClock, budgetMs });
    observability.logger.appendKeys({ runId: result.runId });
    const pending = await backlog(result);
    recordLoaderRun(observability.metrics, result, pending);
    logRunSummary(observability.logger, loaderRunSummary(result, pending));
    return result;
  });
  // Thrown after the invocation's summary line, which already says needs_attention.
  if (summary.needsAttention) throw new LoaderNeedsAttentionError(sanitizeText(attentionMessage(summary)));
  return summary;
}

/**
 * The backlog after the run, for the pending-age alarm. A run that left nothing pending needs
 * no listing; when the listing fails, the run's own count is reported without an age.
 */
async function backlog(
  summary: LoaderSummary,
): Promise<Partial<Record<Feed, PendingBatchStats>> | undefined> {
  if (!summary.skipped && summary.feeds.every((feed) => feed.batchesPending === 0)) {
    return Object.fromEntries(summary.feeds.map((feed) => [feed.feed, { count: 0 }]));
  }
  try {
    return await pendingBatchStats(store, settings.feeds, systemClock);
  } catch (error) {
    observability.logger.warn('could not list the pending batches; their age is not reported this run', {
      error,
    });
    return undefined;
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
