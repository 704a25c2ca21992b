import type { Context } from 'aws-lambda';
import { systemClock } from '#shared/base/clock.ts';
import { liveMetricValues } from '#shared/observability/export-api-metrics.ts';
import { runInvocation } from '#shared/observability/invocation.ts';
import { DIMENSIONS, SERVICES } from '#shared/observability/metric-names.ts';
import { sanitizeText } from '#shared/observability/redact.ts';
import { type LivePullSummary, runLivePull } from '#shared/sources/amplitude-export-api/live.ts';
import { livePullSettingsFrom } from '#shared/sources/amplitude-export-api/settings.ts';
import { exportApiOf, setUpLambda } from '../setup.ts';

/**
 * Thrown after the summary is logged and the metrics are sent when no retry can help
 * (refused credentials, an answer this connector cannot place): the invocation fails, so the
 * function's Errors alarm and on-failure destination fire. Failed hours alone do not throw:
 * the next run retries them, and `ExportApiOldestGapAgeSeconds` alarms when they stay.
 */
export class ExportApiPullNeedsAttentionError extends Error {
  override readonly name = 'ExportApiPullNeedsAttentionError';
}

const setup = setUpLambda({ service: SERVICES.exportApi, component: 'export-api-pull' });
const { observability } = setup;
const { logger, metrics } = observability;
const settings = livePullSettingsFrom(process.env);
const landing = setup.store('landing');
const staging = setup.store('staging');
const api = exportApiOf(setup);

/** Scheduled by EventBridge (hourly); the event carries nothing the pull needs. */
export async function handler(_event: unknown, context: Context): Promise<LivePullSummary> {
  const runId = context.awsRequestId;
  const options = {
    kind: 'export-api-pull',
    correlation: { runId },
    budgetOf: 'exportApiPull',
  } as const;
  const summary = await runInvocation(
    observability,
    context,
    options,
    async ({ budgetMs = Number.POSITIVE_INFINITY }) => {
      const result = await runLivePull({
        api,
        landing,
        staging,
        settings,
        clock: systemClock,
        budgetMs,
        runId,
      });
      recordMetrics(result);
      logSummary(result);
      return result;
    },
  );
  // Thrown after the summary is logged and the metrics are flushed, like the loader's.
  if (summary.fatal) {
    throw new ExportApiPullNeedsAttentionError(
      sanitizeText(
        `The Export API pull stopped: ${summary.fatal.message} The ${summary.gapHours} missing hour(s) are retried on every run once this is fixed.`,
      ),
    );
  }
  return summary;
}

/** Stored for the wrapper to flush at the end of the invocation, as every handler's are. */
function recordMetrics(summary: LivePullSummary): void {
  const values = liveMetricValues(summary);
  if (values.length === 0) return;
  metrics.addDimension(DIMENSIONS.feed, 'events');
  for (const { name, unit, value } of values) metrics.addMetric(name, unit, value);
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
