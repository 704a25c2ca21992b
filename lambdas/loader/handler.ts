import type { Context } from 'aws-lambda';
import { systemClock } from '#shared/base/clock.ts';
import { pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { runInvocation } from '#shared/observability/invocation.ts';
import { SERVICES } from '#shared/observability/metric-names.ts';
import { sanitizeText } from '#shared/observability/redact.ts';
import { recordLoaderRun } from '#shared/observability/run-metrics.ts';
import { loaderRunSummary, logRunSummary } from '#shared/observability/run-summary.ts';
import { backlogAfter } from '#shared/pipeline/loader/backlog.ts';
import { runLoader } from '#shared/pipeline/loader/loader.ts';
import { attentionMessage, type LoaderSummary } from '#shared/pipeline/loader/summary.ts';
import { setUpLambda, warehouseOf } from '../setup.ts';

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

const setup = setUpLambda({ service: SERVICES.loader });
const { observability } = setup;
const settings = pipelineSettingsFrom(process.env);
const staging = setup.store('staging');
const runner = warehouseOf(setup, 'amplitude-export-loader');

/** Scheduled by EventBridge; the event carries nothing the loader needs. */
export async function handler(_event: unknown, context: Context): Promise<LoaderSummary> {
  const options = { kind: 'loader', budgetOf: 'loader' } as const;
  const summary = await runInvocation(observability, context, options, async ({ budgetMs }) => {
    const result = await runLoader({ store: staging, runner, settings, clock: systemClock, budgetMs });
    observability.logger.appendKeys({ runId: result.runId });
    const pending = await backlogAfter(result, staging, systemClock, (error) =>
      observability.logger.warn('could not list the pending batches; their age is not reported this run', {
        error,
      }),
    );
    recordLoaderRun(observability.metrics, result, pending);
    logRunSummary(observability.logger, loaderRunSummary(result, pending));
    return result;
  });
  // Thrown after the invocation's summary line, which already says needs_attention.
  if (summary.needsAttention) throw new LoaderNeedsAttentionError(sanitizeText(attentionMessage(summary)));
  return summary;
}
