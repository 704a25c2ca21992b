import { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { systemClock } from '#shared/base/clock.ts';
import { ENV, pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { requireString } from '#shared/config/validate.ts';
import { backfillQuarantineReasons, readBackfillReport } from '#shared/observability/backfill-reasons.ts';
import { runInvocation } from '#shared/observability/invocation.ts';
import { SERVICES } from '#shared/observability/metric-names.ts';
import { createObservability, traceClient } from '#shared/observability/powertools.ts';
import { recordBackfillRun } from '#shared/observability/run-metrics.ts';
import { backfillSummarizeRunSummary, logRunSummary } from '#shared/observability/run-summary.ts';
import {
  type BackfillSummary,
  type SummarizeEvent,
  summarizeBackfill,
} from '#shared/pipeline/backfill/summarize.ts';
import { S3ObjectStore } from '#shared/storage/s3-store.ts';
import { redshiftDataRunnerFrom } from '#shared/warehouse/redshift-data-env.ts';

// Built once per container, so configuration errors fail the first invocation loudly.
const observability = createObservability({ service: SERVICES.backfill, component: 'backfill-summarize' });
const settings = pipelineSettingsFrom(process.env);
const store = new S3ObjectStore({
  client: traceClient(observability, new S3Client({})),
  bucket: requireString(
    process.env,
    ENV.stagingBucket,
    'the bucket for staged parts, manifests and backfill files',
  ),
});
const runner = redshiftDataRunnerFrom(
  process.env,
  traceClient(observability, new RedshiftDataClient({})),
  'amplitude-export-backfill-summary',
);

/**
 * Last state of the backfill: the report, the metrics, and the verdict the state machine
 * reads. A `RetryableWarehouseError` (the ledger query) is retried by the state machine.
 */
export async function handler(event: SummarizeEvent, context: Context): Promise<BackfillSummary> {
  const correlation = { runId: event?.plan?.runId };
  return runInvocation(observability, context, { kind: 'backfill-summarize', correlation }, async () => {
    const summary = await summarizeBackfill(
      { store, runner, schema: settings.schema, projectId: settings.projectId, clock: systemClock },
      event,
    );
    const reasons = await backfillQuarantineReasons(
      store,
      await readBackfillReport(store, summary.reportKey),
    );
    recordBackfillRun(observability.metrics, summary, reasons);
    logRunSummary(observability.logger, backfillSummarizeRunSummary(summary));
    return summary;
  });
}
