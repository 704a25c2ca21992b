import type { Context } from 'aws-lambda';
import { pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { runInvocation } from '#shared/observability/invocation.ts';
import { SERVICES } from '#shared/observability/metric-names.ts';
import { backfillPlanRunSummary, logRunSummary } from '#shared/observability/run-summary.ts';
import { type BackfillPlan, type PlanEvent, planBackfill } from '#shared/pipeline/backfill/plan.ts';
import { setUpLambda } from '../setup.ts';

const setup = setUpLambda({ service: SERVICES.backfill, component: 'backfill-plan' });
const { observability } = setup;
const settings = pipelineSettingsFrom(process.env);
const staging = setup.store('staging');

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
      const plan = await planBackfill({ store: staging, settings }, event);
      logRunSummary(observability.logger, backfillPlanRunSummary(plan, event.executionName));
      return plan;
    },
  );
}
