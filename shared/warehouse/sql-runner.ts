import type { Dialect } from '../sql/dialect.ts';

export type StatementStatus = 'SUBMITTED' | 'PICKED' | 'STARTED' | 'FINISHED' | 'FAILED' | 'ABORTED';

export interface TransactionResult {
  /** Data API statement id (Redshift) or a generated id (PostgreSQL). */
  readonly statementId: string;
  /** Rows affected by each statement, in order (0 where not reported). */
  readonly rowCounts: readonly number[];
}

export interface StatementDescription {
  readonly statementId: string;
  readonly status: StatementStatus;
  /** Set when FAILED or ABORTED. */
  readonly error?: string;
}

/**
 * The warehouse port: the Redshift Data API in AWS, a `pg` connection locally.
 * SQL text is already in the runner's dialect (see `shared/sql`).
 */
export interface SqlRunner {
  readonly dialect: Dialect;
  /**
   * Runs the statements as ONE transaction and waits for it. Throws `RetryableWarehouseError`
   * or `PermanentWarehouseError`. `clientToken` makes a resubmission of the same work idempotent.
   */
  transaction(statements: readonly string[], options?: { clientToken?: string }): Promise<TransactionResult>;
  /** Submits the statements as one transaction without waiting (Step Functions polls `describe`). */
  startTransaction(
    statements: readonly string[],
    options?: { clientToken?: string },
  ): Promise<{ statementId: string }>;
  describe(statementId: string): Promise<StatementDescription>;
  /** Runs one read query and returns its rows with column names as keys. */
  query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string): Promise<T[]>;
  close(): Promise<void>;
}

/** A failure worth retrying later: throttling, too many active statements, serialization conflicts. */
export class RetryableWarehouseError extends Error {
  override readonly name = 'RetryableWarehouseError';
  constructor(
    message: string,
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A failure that a retry will not fix: authentication, permissions, missing objects, SQL errors. */
export class PermanentWarehouseError extends Error {
  override readonly name = 'PermanentWarehouseError';
  constructor(
    message: string,
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Most statements one transaction may hold: the Redshift Data API's BatchExecuteStatement
 * takes 1 to 40 (`Sqls`), and the local runner applies the same bound so a load that works
 * locally also fits in AWS.
 */
export const MAX_TRANSACTION_STATEMENTS = 40;
