import { PermanentWarehouseError, RetryableWarehouseError } from './sql-runner.ts';

export type WarehouseError = RetryableWarehouseError | PermanentWarehouseError;

interface Rule {
  readonly test: RegExp;
  readonly retryable: boolean;
  readonly code: string;
  /** What the operator should do, appended to the database's own error text. */
  readonly advice: string;
}

// Order matters: S3 problems during COPY also say "does not exist" / "denied", so they go first.
const STATEMENT_RULES: readonly Rule[] = [
  {
    test: /ERROR:\s*1023\b|serializable isolation violation|could not serialize access|SQLSTATE 40001/i,
    retryable: true,
    code: 'SerializableIsolationViolation',
    advice:
      'Another transaction changed the same tables at the same time; the load is retried automatically.',
  },
  {
    test: /deadlock detected|could not obtain lock|lock (?:wait )?timeout|SQLSTATE (?:40P01|55P03)/i,
    retryable: true,
    code: 'LockConflict',
    advice: 'Another session holds a lock on the same tables; the load is retried automatically.',
  },
  {
    test: /not authorized to (?:assume|get credentials)|S3ServiceException|Access Denied|AccessDenied/i,
    retryable: false,
    code: 'CopyS3AccessDenied',
    advice:
      'COPY could not read the staged files from S3. Associate the COPY IAM role of this stack with the cluster or workgroup (Redshift console > Permissions > Associate IAM role) and check that its trust policy allows redshift.amazonaws.com.',
  },
  {
    test: /manifest|specified S3 prefix/i,
    retryable: false,
    code: 'CopyManifestError',
    advice:
      'COPY could not use the load manifest or the files it lists. Check that the staged files still exist (lifecycle rules must not expire them before they are loaded).',
  },
  {
    test: /stl_load_errors|sys_load_error_detail|load into table .* failed/i,
    retryable: false,
    code: 'CopyRejectedData',
    advice:
      'COPY rejected a staged row. Query sys_load_error_detail (Serverless) or stl_load_errors (provisioned) for the file, line and column, and report it as a bug.',
  },
  {
    test: /password authentication failed|authentication failed for user|no pg_hba\.conf entry/i,
    retryable: false,
    code: 'AuthenticationFailed',
    advice:
      "Redshift refused the database user's credentials. Set the user's current password in the Secrets Manager secret (keys username and password), then retry.",
  },
  {
    test: /permission denied|must be owner of/i,
    retryable: false,
    code: 'PermissionDenied',
    advice:
      'The database user lacks a privilege. Run the grants printed by `redshift-export setup-sql` as a superuser, then retry.',
  },
  {
    test: /does not exist/i,
    retryable: false,
    code: 'MissingObject',
    advice:
      'A schema or table the export needs is missing. Run the SQL printed by `redshift-export setup-sql` as a superuser, then retry.',
  },
  {
    test: /SQLSTATE (?:08[0-9A-Z]{3}|53[0-9A-Z]{3}|57P0[1-3]|57014)|could not connect|could not reach PostgreSQL|connection (?:reset|refused|closed)|server closed the connection|terminating connection|cluster .*(?:not available|paused|resizing|modifying)|temporarily unavailable/i,
    retryable: true,
    code: 'ConnectionUnavailable',
    advice:
      'The warehouse was not reachable (paused, resizing or restarting); the load is retried automatically.',
  },
];

/**
 * Turns the `error` of a FAILED statement (`SqlRunner.describe`) into a typed error with
 * advice: Redshift's text from the Data API, or the PostgreSQL runner's message.
 */
export function warehouseErrorFromStatement(
  statementId: string,
  errorText: string,
  what = 'Statement',
): WarehouseError {
  const rule = STATEMENT_RULES.find((candidate) => candidate.test.test(errorText));
  const text = errorText.trim() || 'no error text was returned';
  if (!rule) {
    return new PermanentWarehouseError(
      `${what} ${statementId} failed: ${text}. Nothing from this transaction was committed; fix the cause and retry.`,
      'StatementFailed',
    );
  }
  const message = `${what} ${statementId} failed: ${text}. ${rule.advice}`;
  return rule.retryable
    ? new RetryableWarehouseError(message, rule.code)
    : new PermanentWarehouseError(message, rule.code);
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
  const permanentAdvice = PERMANENT_EXCEPTIONS[name];
  if (permanentAdvice) {
    return new PermanentWarehouseError(`${operation} failed (${detail}). ${permanentAdvice}`, name, {
      cause: error,
    });
  }
  if (STATEMENT_EXCEPTIONS.has(name)) {
    const rule = STATEMENT_RULES.find((candidate) => candidate.test.test(message));
    const advice = rule?.advice ?? 'The warehouse reported an environmental error; it is retried later.';
    const message_ = `${operation} failed (${detail}). ${advice}`;
    return rule && !rule.retryable
      ? new PermanentWarehouseError(message_, rule.code, { cause: error })
      : new RetryableWarehouseError(message_, rule?.code ?? name, { cause: error });
  }
  if (retryable || (status !== undefined && (status >= 500 || status === 429))) {
    return new RetryableWarehouseError(
      `${operation} failed (${detail}). The request did not reach the Redshift Data API or it failed on the AWS side; it is retried later.`,
      name,
      { cause: error },
    );
  }
  return new PermanentWarehouseError(
    `${operation} failed (${detail}). This is not a known transient error; check the configuration and the message above.`,
    name,
    { cause: error },
  );
}
