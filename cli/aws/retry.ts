import { isThrottling } from './errors.ts';

export interface RetryOptions {
  readonly sleep: (ms: number) => Promise<void>;
  /** Calls in all, the first included. @default 5 */
  readonly attempts?: number;
  /** First wait; doubled each time. @default 1000 */
  readonly baseDelayMs?: number;
}

/**
 * Retries a call that AWS throttled, with exponential backoff. The SDK retries too, but a
 * command that polls for minutes must not fail on a burst of throttling that outlasts the
 * SDK's three attempts. Any other error is thrown at once.
 */
export async function retryThrottled<T>(call: () => Promise<T>, options: RetryOptions): Promise<T> {
  const attempts = options.attempts ?? 5;
  const base = options.baseDelayMs ?? 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isThrottling(error) || attempt >= attempts) throw error;
      await options.sleep(base * 2 ** (attempt - 1));
    }
  }
}
