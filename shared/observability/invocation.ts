import type { Context } from 'aws-lambda';
import { type ScheduledFunction, timeBudgetMs } from '../config/scheduled-run.ts';
import type { Observability } from './powertools.ts';
import { sanitizedErrorFor } from './redact.ts';
import { logRunFailure, type RunKind } from './run-summary.ts';

export interface InvocationOptions {
  /** What runs, for the failure line. */
  readonly kind: RunKind;
  /**
   * Ids that tie this invocation's lines together (a backfill's run id, a chunk id). Added
   * to every log line and, as X-Ray annotations, to the trace. Undefined values are skipped.
   */
  readonly correlation?: Readonly<Record<string, string | undefined>>;
  /**
   * The scheduled function whose time budget the work gets as `budgetMs` (the remaining time
   * less its margin, `config/scheduled-run.ts`). @default - no budget
   */
  readonly budgetOf?: ScheduledFunction;
}

/** What the wrapper hands the work. */
export interface Invocation {
  /** How long the work may keep starting new steps; set when `budgetOf` is. */
  readonly budgetMs?: number;
}

type Segment = NonNullable<ReturnType<Observability['tracer']['getSegment']>>;

/**
 * Runs one invocation's work inside the Powertools lifecycle: the Lambda context and the
 * correlation keys on every log line, a `## <function>` trace subsegment annotated with the
 * cold start, the service and the correlation ids, metrics flushed at the end whatever
 * happens; with `budgetOf`, the work's time budget. A thrown error is logged as the run's
 * failed summary line, recorded on the trace and rethrown sanitized (same name and code, so
 * Step Functions Retry/Catch still match).
 */
export async function runInvocation<T>(
  observability: Observability,
  context: Context | undefined,
  options: InvocationOptions,
  work: (invocation: Invocation) => Promise<T>,
): Promise<T> {
  const { logger, metrics, tracer } = observability;
  const correlation = Object.fromEntries(
    Object.entries(options.correlation ?? {}).filter(
      (entry): entry is [string, string] => entry[1] !== undefined,
    ),
  );
  if (context) logger.addContext(context);
  logger.appendKeys(correlation);

  let parent: Segment | undefined;
  let handlerSegment: Segment | undefined;
  if (tracer.isTracingEnabled()) {
    parent = tracer.getSegment();
    handlerSegment = parent?.addNewSubsegment(`## ${context?.functionName ?? observability.service}`);
    if (handlerSegment) tracer.setSegment(handlerSegment);
    tracer.annotateColdStart();
    tracer.addServiceNameAnnotation();
    for (const [key, value] of Object.entries(correlation)) tracer.putAnnotation(key, value);
  }

  try {
    const budgetMs =
      context && options.budgetOf !== undefined
        ? timeBudgetMs(context.getRemainingTimeInMillis(), options.budgetOf)
        : undefined;
    return await work(budgetMs === undefined ? {} : { budgetMs });
  } catch (error) {
    logRunFailure(
      logger,
      { kind: options.kind, runId: correlation.runId, executionName: correlation.executionName },
      error,
    );
    const clean = sanitizedErrorFor(error);
    if (tracer.isTracingEnabled()) tracer.addErrorAsMetadata(clean);
    throw clean;
  } finally {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    if (handlerSegment && parent) {
      try {
        handlerSegment.close();
      } catch {
        // A trace that cannot be closed must not fail the invocation.
      }
      tracer.setSegment(parent);
    }
    logger.resetKeys();
  }
}
