import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  DescribeMapRunCommand,
  ListMapRunsCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { compactHour, formatHour } from '#shared/base/hours.ts';
import { reportKey, runIdOf } from '#shared/base/staging-keys.ts';
import type { ParsedRequest } from '#shared/pipeline/backfill/plan.ts';
import type { BackfillReport, BackfillSummary } from '#shared/pipeline/backfill/summarize.ts';
import { ObjectNotFoundError, type ObjectStore } from '#shared/storage/object-store.ts';
import { awsErrorName, explainAwsFailure } from './errors.ts';
import { retryThrottled } from './retry.ts';

/** Step Functions execution names: 1-80 characters; we use only [a-z0-9_-]. */
const MAX_EXECUTION_NAME = 80;

/**
 * The execution name of a backfill: the same range, feeds and chunk size always give the
 * same name, so starting it twice finds the first execution instead of loading twice. Step
 * Functions keeps a name for 90 days per state machine; `attempt` > 1 names a deliberate
 * rerun (after a failure, say).
 *
 * `bf-2026010100-2026013123-events-merge_ids-c24`, `...-c24-a2`, `...-c24-export-api`
 */
export function backfillExecutionName(request: ParsedRequest, attempt = 1): string {
  if (!Number.isInteger(attempt) || attempt < 1 || attempt > 99) {
    throw new RangeError(`attempt must be a whole number from 1 to 99, got ${attempt}.`);
  }
  const name = [
    'bf',
    compactHour(request.range.first),
    compactHour(request.range.last),
    ...request.feeds,
    `c${request.chunkHours}`,
    // Only when not the default, so the names of landing backfills stay what they were.
    ...(request.source === 'export-api' ? ['export-api'] : []),
    ...(attempt > 1 ? [`a${attempt}`] : []),
  ].join('-');
  if (name.length > MAX_EXECUTION_NAME)
    throw new Error(`Execution name ${name} is longer than 80 characters.`);
  return name;
}

/**
 * The execution input the state machine's plan step parses: the normalized request, so that
 * "2026-01-01" and "2026-01-01T00" start identical executions (Step Functions treats a
 * StartExecution with the same name and input as the same call).
 */
export function backfillExecutionInput(request: ParsedRequest): string {
  return JSON.stringify({
    start: formatHour(request.range.first),
    end: formatHour(request.range.last),
    feeds: request.feeds,
    chunkHours: request.chunkHours,
    ...(request.source === undefined ? {} : { source: request.source }),
  });
}

export interface ChunkProgress {
  readonly total: number;
  /** Child executions that ended, whatever their chunk's outcome. */
  readonly finished: number;
  /** Child executions that failed, timed out or were aborted (chunk failures caught inside count as finished). */
  readonly failed: number;
  readonly running: number;
}

export async function describeExecution(
  sfn: SFNClient,
  executionArn: string,
  sleep: (ms: number) => Promise<void>,
): Promise<DescribeExecutionCommandOutput | undefined> {
  try {
    return await retryThrottled(() => sfn.send(new DescribeExecutionCommand({ executionArn })), { sleep });
  } catch (error) {
    if (awsErrorName(error) === 'ExecutionDoesNotExist') return undefined;
    throw explainAwsFailure(error, 'read the backfill execution (states:DescribeExecution)', undefined);
  }
}

/** Progress of the execution's Distributed Map, once its map run exists. */
export async function chunkProgress(
  sfn: SFNClient,
  executionArn: string,
  known: { mapRunArn?: string },
  sleep: (ms: number) => Promise<void>,
): Promise<ChunkProgress | undefined> {
  try {
    if (!known.mapRunArn) {
      const runs = await retryThrottled(() => sfn.send(new ListMapRunsCommand({ executionArn })), { sleep });
      known.mapRunArn = runs.mapRuns?.[0]?.mapRunArn;
      if (!known.mapRunArn) return undefined;
    }
    const mapRunArn = known.mapRunArn;
    const run = await retryThrottled(() => sfn.send(new DescribeMapRunCommand({ mapRunArn })), { sleep });
    const counts = run.itemCounts;
    if (!counts) return undefined;
    const failed = (counts.failed ?? 0) + (counts.timedOut ?? 0) + (counts.aborted ?? 0);
    return {
      total: counts.total ?? 0,
      finished: (counts.succeeded ?? 0) + failed,
      failed,
      running: counts.running ?? 0,
    };
  } catch (error) {
    throw explainAwsFailure(
      error,
      'read the backfill progress (states:ListMapRuns, states:DescribeMapRun)',
      undefined,
    );
  }
}

/** `[##########..........] 12/24 chunks finished, 1 failed, 4 running` */
export function progressLine(progress: ChunkProgress | undefined, width = 30): string {
  if (!progress || progress.total === 0) return 'planning the chunks…';
  const filled = Math.round((progress.finished / progress.total) * width);
  const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
  const failed = progress.failed > 0 ? `, ${progress.failed} failed` : '';
  const running = progress.running > 0 ? `, ${progress.running} running` : '';
  return `[${bar}] ${progress.finished}/${progress.total} chunks finished${failed}${running}`;
}

/**
 * The report the summarize step wrote: its key is in the output of a succeeded execution;
 * a failed one (the report exists whenever summarize ran) is found by the execution's name.
 */
export async function readExecutionReport(
  staging: ObjectStore,
  execution: Pick<DescribeExecutionCommandOutput, 'name' | 'output'>,
): Promise<{ readonly key: string; readonly report?: BackfillReport; readonly summary?: BackfillSummary }> {
  let summary: BackfillSummary | undefined;
  if (execution.output) {
    try {
      summary = JSON.parse(execution.output) as BackfillSummary;
    } catch {
      summary = undefined;
    }
  }
  const key = summary?.reportKey ?? reportKey(runIdOf(execution.name ?? ''));
  try {
    const report = JSON.parse((await staging.getBytes(key)).toString('utf8')) as BackfillReport;
    return { key, report, ...(summary ? { summary } : {}) };
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return { key, ...(summary ? { summary } : {}) };
    throw error;
  }
}
