import { PermanentWarehouseError, RetryableWarehouseError } from './sql-runner.ts';

/**
 * How a failed load transaction is treated, by the live loader and by a backfill chunk alike:
 * - `transient`: the warehouse was busy, unreachable or raced another load. Nothing is blamed,
 *   no attempt is counted, the work is retried later.
 * - `batch`: the data of the transaction is at fault (a staged file COPY cannot find or
 *   parse). The attempt counts against the batches; after the allowed attempts a batch alone
 *   is moved to failed/, never blocking the others.
 * - `systemic`: every load would fail the same way (credentials, privileges, missing tables,
 *   a full disk, a bug in the SQL). Nothing is blamed, the run stops and asks for attention.
 */
export type FailureClass = 'transient' | 'batch' | 'systemic';

/**
 * The class of any error a `SqlRunner` throws. An error that is not a classified warehouse
 * error (nothing we have seen before) gets the safe default: transient, so no batch is
 * blamed; if it keeps happening, the batches stay pending and the pending-age alarm fires.
 */
export function failureClassOf(error: unknown): FailureClass {
  if (error instanceof RetryableWarehouseError) return 'transient';
  if (error instanceof PermanentWarehouseError) return error.blame === 'batch' ? 'batch' : 'systemic';
  return 'transient';
}

/** Only a failure of the batch's own data moves its attempt counter. */
export function countsAttempt(failureClass: FailureClass): boolean {
  return failureClass === 'batch';
}
