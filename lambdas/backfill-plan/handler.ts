import { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { ENV, pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { requireString } from '#shared/config/validate.ts';
import { runInvocation } from '#shared/observability/invocation.ts';
import { SERVICES } from '#shared/observability/metric-names.ts';
import { createObservability, traceClient } from '#shared/observability/powertools.ts';
import { backfillPlanRunSummary, logRunSummary } from '#shared/observability/run-summary.ts';
import { type BackfillPlan, type PlanEvent, planBackfill } from '#shared/pipeline/backfill/plan.ts';
import { S3ObjectStore } from '#shared/storage/s3-store.ts';

// Built once per container, so configuration errors fail the first invocation loudly.
const observability = createObservability({ service: SERVICES.backfill, component: 'backfill-plan' });
const settings = pipelineSettingsFrom(process.env);
const store = new S3ObjectStore({
  client: traceClient(observability, new S3Client({})),
  bucket: requireString(
    process.env,
    ENV.stagingBucket,
    'the bucket for staged parts, manifests and backfill files',
  ),
});

/**
 * First state of the backfill. A `BackfillInputError` (the error name is kept) ends the
 * execution with its message as the cause: the state machine catches it by name.
 */
export async function handler(event: PlanEvent, context: Context): Promise<BackfillPlan> {
  const executionName = typeof event?.executionName === 'string' ? event.executionName : undefined;
  return runInvocation(
    observability,
    context,
    { kind: 'backfill-plan', correlation: { executionName } },
    async () => {
      const plan = await planBackfill({ store, settings }, event);
      logRunSummary(observability.logger, backfillPlanRunSummary(plan, event.executionName));
      return plan;
    },
  );
}
