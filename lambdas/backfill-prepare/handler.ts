import type { Context } from 'aws-lambda';
import { systemClock } from '#shared/base/clock.ts';
import { pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { runInvocation } from '#shared/observability/invocation.ts';
import { SERVICES } from '#shared/observability/metric-names.ts';
import { backfillPrepareRunSummary, logRunSummary } from '#shared/observability/run-summary.ts';
import { type PreparedChunk, type PrepareEvent, prepareChunk } from '#shared/pipeline/backfill/prepare.ts';
import { EXPORT_API_ENV } from '#shared/sources/amplitude-export-api/settings.ts';
import { exportApiOf, setUpLambda } from '../setup.ts';

const setup = setUpLambda({ service: SERVICES.backfill, component: 'backfill-prepare' });
const { observability } = setup;
const settings = pipelineSettingsFrom(process.env);
const landing = setup.store('landing');
const staging = setup.store('staging');
// Set by the stack only with the Export API connector. Without it, a chunk of a backfill
// started with "source": "export-api" fails with ExportApiNotConfiguredError, which the state
// machine does not retry (it retries Lambda service errors only): the chunk's outcome is
// "failed" with the error's name and its message (how to turn the connector on) as the cause.
const api = process.env[EXPORT_API_ENV.secretArn] ? exportApiOf(setup) : undefined;

/** One chunk of the Distributed Map: stage its files and return its load transaction. */
export async function handler(event: PrepareEvent, context: Context): Promise<PreparedChunk> {
  const correlation = { runId: event?.chunk?.runId, chunkId: event?.chunk?.chunkId };
  return runInvocation(observability, context, { kind: 'backfill-prepare', correlation }, async () => {
    const prepared = await prepareChunk(
      {
        landing,
        staging,
        settings,
        dialect: 'redshift',
        clock: systemClock,
        ...(api ? { exportApi: api } : {}),
      },
      event,
    );
    logRunSummary(observability.logger, backfillPrepareRunSummary(event.chunk, prepared, event.attempt));
    return prepared;
  });
}
