import { PermanentWarehouseError, RetryableWarehouseError } from './sql-runner.ts';
import { type StatementRule, statementRuleFor, UNRECOGNIZED_RULE } from './statement-rules.ts';

export type WarehouseError = RetryableWarehouseError | PermanentWarehouseError;

/** A warehouse error of the class the rule says, carrying the rule's code. */
export function warehouseErrorOf(rule: StatementRule, message: string, cause?: unknown): WarehouseError {
  const options = cause === undefined ? {} : { cause };
  if (rule.failureClass === 'transient') return new RetryableWarehouseError(message, rule.code, options);
  return new PermanentWarehouseError(message, rule.code, {
    ...options,
    blame: rule.failureClass === 'batch' ? 'batch' : 'setup',
  });
}

/**
 * Turns the `error` of a FAILED statement (`SqlRunner.describe`) into a typed error with
 * advice: Redshift's text from the Data API, or the PostgreSQL runner's message. A text no
 * rule knows is retried later (see `UNRECOGNIZED_RULE`).
 */
export function warehouseErrorFromStatement(
  statementId: string,
  errorText: string,
  what = 'Statement',
): WarehouseError {
  const rule = statementRuleFor(errorText);
  const text = errorText.trim() || 'no error text was returned';
  return warehouseErrorOf(rule, `${what} ${statementId} failed: ${text}. ${rule.advice}`);
}

const RETRYABLE_EXCEPTIONS: Readonly<Record<string, string>> = {
  ThrottlingException: 'The Redshift Data API throttled the request; it is retried later.',
  TooManyRequestsException: 'The Redshift Data API throttled the request; it is retried later.',
  ActiveStatementsExceededException:
    'Too many Data API statements are running on this cluster or workgroup (quota: active statements); the load is retried later.',
  ActiveSessionsExceededException:
    'Too many Data API sessions are open on this cluster or workgroup; the load is retried later.',
  ActiveWaitingRequestsExceededException:
    'Too many requests are waiting on the same statement; retried later.',
  InternalServerException: 'The Redshift Data API had an internal error; retried later.',
  ServiceUnavailableException: 'The Redshift Data API is unavailable; retried later.',
  QueryTimeoutException: 'The Redshift Data API timed out; retried later.',
  TimeoutError: 'The request to the Redshift Data API timed out; retried later.',
  InsufficientCapacityException:
    'The Redshift Serverless workgroup had no capacity for the load (it is at its maximum RPU); retried later. Raise the workgroup maximum capacity if this persists.',
};

const PERMANENT_EXCEPTIONS: Readonly<Record<string, string>> = {
  ValidationException:
    'The Redshift Data API rejected the request. Check the database name, the secret ARN and the cluster identifier or workgroup name in the configuration.',
  ResourceNotFoundException:
    'The Redshift Data API could not find the statement, cluster or workgroup. Statement results expire after 24 hours; check the cluster identifier or workgroup name.',
  AccessDeniedException:
    'The Lambda role may not call the Redshift Data API or read the database secret. Grant redshift-data:* on the cluster or workgroup and secretsmanager:GetSecretValue on the secret (the stack does this; check for an SCP or a permission boundary).',
  UnrecognizedClientException:
    'AWS did not recognise the credentials of the caller. Check the AWS credentials.',
};

// The "environmental error" exceptions carry the database's own text: classify by it.
const STATEMENT_EXCEPTIONS = new Set([
  'BatchExecuteStatementException',
  'ExecuteStatementException',
  'DatabaseConnectionException',
]);

function describeError(error: unknown): {
  name: string;
  message: string;
  status?: number;
  retryable: boolean;
} {
  if (error instanceof Error) {
    const meta = (error as { $metadata?: { httpStatusCode?: number } }).$metadata;
    const code = (error as { code?: unknown }).code;
    const transient =
      (error as { $retryable?: unknown }).$retryable !== undefined ||
      (typeof code === 'string' &&
        /^(?:ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EAI_AGAIN|ENOTFOUND)$/.test(code));
    return { name: error.name, message: error.message, status: meta?.httpStatusCode, retryable: transient };
  }
  return { name: 'Error', message: String(error), retryable: false };
}

/** Maps an exception thrown by a Data API call (`operation`) to a typed warehouse error. */
export function warehouseErrorFromException(operation: string, error: unknown): WarehouseError {
  if (error instanceof RetryableWarehouseError || error instanceof PermanentWarehouseError) return error;
  const { name, message, status, retryable } = describeError(error);
  const detail = message ? `${name}: ${message}` : name;
  const retryableAdvice = RETRYABLE_EXCEPTIONS[name];
  if (retryableAdvice) {
    return new RetryableWarehouseError(`${operation} failed (${detail}). ${retryableAdvice}`, name, {
      cause: error,
    });
  }
  if (name === 'ValidationException' && message.includes('larger than 100kB')) {
    return new PermanentWarehouseError(
      `${operation} failed (${detail}). A statement exceeded the Redshift Data API's 100 KB limit. The export measures every statement before submitting it, so this is a bug: lower MAX_BATCHES_PER_LOAD to get loads through, and report it.`,
      'StatementTooLarge',
      { cause: error },
    );
  }
  const permanentAdvice = PERMANENT_EXCEPTIONS[name];
  if (permanentAdvice) {
    return new PermanentWarehouseError(`${operation} failed (${detail}). ${permanentAdvice}`, name, {
      cause: error,
    });
  }
  if (STATEMENT_EXCEPTIONS.has(name)) {
    const rule = statementRuleFor(message);
    return warehouseErrorOf(rule, `${operation} failed (${detail}). ${rule.advice}`, error);
  }
  if (retryable || (status !== undefined && (status >= 500 || status === 429))) {
    return new RetryableWarehouseError(
      `${operation} failed (${detail}). The request did not reach the Redshift Data API or it failed on the AWS side; it is retried later.`,
      name,
      { cause: error },
    );
  }
  // Never seen before: the safe default, which blames nothing and retries later.
  return new RetryableWarehouseError(`${operation} failed (${detail}). ${UNRECOGNIZED_RULE.advice}`, name, {
    cause: error,
  });
}
