import type { Context } from 'aws-lambda';
import { systemClock } from '#shared/base/clock.ts';
import { pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { backfillQuarantineReasons, readBackfillReport } from '#shared/observability/backfill-reasons.ts';
import { runInvocation } from '#shared/observability/invocation.ts';
import { SERVICES } from '#shared/observability/metric-names.ts';
import { recordBackfillRun } from '#shared/observability/run-metrics.ts';
import { backfillSummarizeRunSummary, logRunSummary } from '#shared/observability/run-summary.ts';
import {
  type BackfillSummary,
  type SummarizeEvent,
  summarizeBackfill,
} from '#shared/pipeline/backfill/summarize.ts';
import { setUpLambda, warehouseOf } from '../setup.ts';

const setup = setUpLambda({ service: SERVICES.backfill, component: 'backfill-summarize' });
const { observability } = setup;
const settings = pipelineSettingsFrom(process.env);
const staging = setup.store('staging');
const runner = warehouseOf(setup, 'amplitude-export-backfill-summary');

/**
 * Last state of the backfill: the report, the metrics, and the verdict the state machine
 * reads. A `RetryableWarehouseError` (the ledger query) is retried by the state machine.
 */
export async function handler(event: SummarizeEvent, context: Context): Promise<BackfillSummary> {
  const correlation = { runId: event?.plan?.runId };
  return runInvocation(observability, context, { kind: 'backfill-summarize', correlation }, async () => {
    const summary = await summarizeBackfill(
      { store: staging, runner, schema: settings.schema, projectId: settings.projectId, clock: systemClock },
      event,
    );
    const reasons = await backfillQuarantineReasons(
      staging,
      await readBackfillReport(staging, summary.reportKey),
    );
    recordBackfillRun(observability.metrics, summary, reasons);
    logRunSummary(observability.logger, backfillSummarizeRunSummary(summary));
    return summary;
  });
}
