import { failureClassOf } from '../../warehouse/failure-class.ts';

/**
 * How the loader treats a failed load transaction; the loader's names for the classes of
 * `failureClassOf` (shared with the backfill):
 * - `retryable` (transient): batches stay pending, nothing is counted, the run stops starting
 *   transactions (more would fail the same way).
 * - `systemic`: not about the batches (credentials, privileges, missing tables, a full disk,
 *   a SQL bug). Nothing is counted, so good batches are never moved to failed/; the run stops
 *   and the summary asks for attention.
 * - `batch`: the data is at fault (a file COPY rejects, a missing staged part): counted
 *   against the batches of the transaction, which are then loaded one per transaction.
 */
export type FailureKind = 'retryable' | 'systemic' | 'batch';

export function failureKindOf(error: unknown): FailureKind {
  const failureClass = failureClassOf(error);
  return failureClass === 'transient' ? 'retryable' : failureClass;
}

/** Longest error text kept in summaries and state files. */
const MAX_MESSAGE = 2000;

export interface ErrorFacts {
  readonly name: string;
  readonly code?: string;
  readonly message: string;
}

/**
 * PostgreSQL quotes the rejected value in some data errors (`invalid input syntax for type
 * bigint: "<value>"`); a value from an event must not reach logs or state files.
 */
const QUOTED_VALUE =
  /((?:invalid input syntax for type [a-z0-9 ()]+|out of range|invalid input value[^:]*)): "(?:[^"]|"")*"/gi;

/** Name, code and message of an error, without its cause chain or stack (which may hold SQL). */
export function errorFacts(error: unknown): ErrorFacts {
  const name = error instanceof Error ? error.name : 'Error';
  const raw = (error instanceof Error ? error.message : String(error)).replace(
    QUOTED_VALUE,
    '$1: (value withheld)',
  );
  const message = raw.length > MAX_MESSAGE ? `${raw.slice(0, MAX_MESSAGE)}...` : raw;
  const code = (error as { code?: unknown } | undefined)?.code;
  return { name, ...(typeof code === 'string' ? { code } : {}), message };
}
