/**
 * How a scheduled function's run fits its tick: the one place that derives the Lambda timeout,
 * the time budget and the maximum event age from the schedule interval. The stack (timeouts,
 * event ages) and the handlers (time budgets) both read it, so they cannot drift apart.
 *
 * The model: a run never outlives its tick. Its timeout is the interval less a little slack
 * (EventBridge delivery and a cold start), so with one run at a time (reserved concurrency 1)
 * the next tick finds the function free and is not throttled. Inside the timeout the run stops
 * taking new work at its time budget, leaving `margin` to finish the piece under way and log its
 * summary; what is left waits for the next tick. An event may wait up to two intervals (a late
 * run, Lambda's retry back-off after a throttle) before it expires; older than that means the
 * function could not run for two ticks, which is a real failure. So the dead-letter queue only
 * receives real failures: an error the handler throws, a timeout, an event that could not be
 * run for two intervals, or one EventBridge could not deliver.
 */

/** Time each function keeps back from its timeout (never more than half the run). */
export const RUN_MARGINS_MS = {
  /** Finish writing the batch under way and log the summary. */
  batcher: 90_000,
  /** No load transaction starts later than this before the end (one outliving the Lambda still commits in Redshift). */
  loader: 5 * 60_000,
  /** One Export API request (download, check, write) and the state record must still fit. */
  exportApiPull: 5 * 60_000,
} as const;

export type ScheduledFunction = keyof typeof RUN_MARGINS_MS;

/** Lambda's longest timeout. */
const MAX_TIMEOUT_SECONDS = 15 * 60;
/** Kept between the end of the longest run and the next tick. */
const MAX_SLACK_SECONDS = 60;
/** Lambda's and EventBridge's bounds on the maximum event age (the lower of the two upper bounds). */
const EVENT_AGE_BOUNDS_SECONDS = { min: 60, max: 6 * 3600 } as const;

/**
 * The Lambda timeout of a function run every `intervalSeconds` (at least 60): the interval less
 * the slack, so a run ends before the next tick. Its time budget is `timeBudgetMs` of it.
 */
export function scheduledTimeoutSeconds(intervalSeconds: number): number {
  if (!Number.isInteger(intervalSeconds) || intervalSeconds < 60) {
    throw new Error(`A schedule interval must be whole seconds, at least 60, got ${intervalSeconds}.`);
  }
  const slack = Math.min(MAX_SLACK_SECONDS, Math.floor(intervalSeconds / 5));
  return Math.min(MAX_TIMEOUT_SECONDS, intervalSeconds - slack);
}

/** Two intervals, within what Lambda and EventBridge accept. */
export function maxEventAgeSeconds(intervalSeconds: number): number {
  return Math.min(EVENT_AGE_BOUNDS_SECONDS.max, Math.max(EVENT_AGE_BOUNDS_SECONDS.min, 2 * intervalSeconds));
}

/**
 * The time budget of a run that has `remainingMs` left (Lambda's getRemainingTimeInMillis at
 * its start): the remaining time less the function's margin, the margin being at most half.
 */
export function timeBudgetMs(remainingMs: number, fn: ScheduledFunction): number {
  return Math.max(0, remainingMs - Math.min(RUN_MARGINS_MS[fn], remainingMs / 2));
}
