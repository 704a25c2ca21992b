import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { Context } from 'aws-lambda';
import { systemClock } from '#shared/base/clock.ts';
import { ENV, pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { runInvocation } from '#shared/observability/invocation.ts';
import { SERVICES } from '#shared/observability/metric-names.ts';
import { recordBatcherRun } from '#shared/observability/run-metrics.ts';
import { batcherRunSummary, logRunSummary } from '#shared/observability/run-summary.ts';
import { type BatcherSummary, runBatcher } from '#shared/pipeline/batcher/batcher.ts';
import { setUpLambda } from '../setup.ts';

const setup = setUpLambda({ service: SERVICES.batcher });
const { observability } = setup;
const settings = pipelineSettingsFrom(process.env);
const landing = setup.store('landing');
const staging = setup.store('staging');
const loaderFunction = process.env[ENV.loaderFunctionName]?.trim() || undefined;
const lambda = setup.traced(new LambdaClient({}));

/**
 * Starts the loader without waiting for it (InvocationType Event). One already running makes
 * this invocation wait in Lambda's queue (reserved concurrency 1) and then find nothing, or the
 * batches it missed; the loader's schedule remains the floor.
 */
export async function startLoader(functionName: string): Promise<void> {
  await lambda.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'Event' }));
}

/** Scheduled by EventBridge; the event carries nothing the batcher needs. */
export async function handler(_event: unknown, context: Context): Promise<BatcherSummary> {
  const runId = context.awsRequestId;
  const options = { kind: 'batcher', correlation: { runId }, budgetOf: 'batcher' } as const;
  return runInvocation(observability, context, options, async ({ budgetMs }) => {
    const summary = await runBatcher({
      landing,
      staging,
      settings,
      clock: systemClock,
      budgetMs,
      runId,
      ...(loaderFunction ? { startLoad: () => startLoader(loaderFunction) } : {}),
    });
    recordBatcherRun(observability.metrics, summary);
    logRunSummary(observability.logger, batcherRunSummary(summary));
    return summary;
  });
}
