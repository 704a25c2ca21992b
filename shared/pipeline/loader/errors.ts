import { PermanentWarehouseError, RetryableWarehouseError } from '../../warehouse/sql-runner.ts';

/**
 * How the loader treats a failed load transaction:
 * - `retryable`: the warehouse was busy or unreachable. Batches stay pending, nothing is
 *   counted, the run stops starting transactions (more would fail the same way).
 * - `systemic`: a permanent failure that is not about the batches (credentials, privileges,
 *   missing tables, a SQL bug). Every batch would fail the same way, so counting it against
 *   each batch would wrongly move good batches to `failed`: nothing is counted, the run stops,
 *   and the summary asks for attention.
 * - `batch`: anything else permanent (a file COPY rejects, a missing staged part): counted
 *   against the batches of the transaction, which are then loaded one per transaction.
 */
export type FailureKind = 'retryable' | 'systemic' | 'batch';

/**
 * Error codes of both runners that say "the setup is wrong", not "this data is wrong":
 * Redshift Data API exception names and the codes of `redshift-errors.ts`, PostgreSQL
 * SQLSTATEs (privileges 42501, undefined table/column/schema 42P01/42703/3F000, bad SQL
 * 42601, authentication 28000/28P01, missing database 3D000) and the local runner's own.
 */
const SYSTEMIC_CODES = new Set([
  'PermissionDenied',
  'MissingObject',
  'AuthenticationFailed',
  'CopyS3AccessDenied',
  'AccessDeniedException',
  'ValidationException',
  'ResourceNotFoundException',
  'UnrecognizedClientException',
  'TooManyStatements',
  'CopyStatementUnsupported',
  'CopySourceOutsideStore',
  '42501',
  '42P01',
  '42703',
  '3F000',
  '42601',
  '28000',
  '28P01',
  '3D000',
]);

export function failureKindOf(error: unknown): FailureKind {
  if (error instanceof RetryableWarehouseError) return 'retryable';
  if (
    error instanceof PermanentWarehouseError &&
    error.code !== undefined &&
    SYSTEMIC_CODES.has(error.code)
  ) {
    return 'systemic';
  }
  return 'batch';
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
