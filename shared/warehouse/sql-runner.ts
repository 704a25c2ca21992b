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

/**
 * A timestamp as `query` returns it (`YYYY-MM-DD HH:MM:SS[.ffffff]` text in UTC from the Data
 * API and from the PostgreSQL runner, which keeps timestamps as text) or an ISO time, as a Date.
 */
export function parseUtc(text: unknown): Date | undefined {
  if (text instanceof Date) return text;
  if (typeof text !== 'string') return undefined;
  const match = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}(?::?\d{2})?)?$/.exec(
    text.trim(),
  );
  if (!match) return undefined;
  const millis = Date.parse(`${match[1]}T${match[2]}${(match[3] ?? '').slice(0, 4)}${match[4] ?? 'Z'}`);
  return Number.isNaN(millis) ? undefined : new Date(millis);
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

/**
 * Who a permanent failure is about: `batch` when the data of the transaction is at fault (a
 * staged file COPY cannot find or parse), `setup` when every load would fail the same way
 * (credentials, privileges, missing tables, a bug in the SQL).
 */
export type Blame = 'batch' | 'setup';

/**
 * A failure that a retry will not fix. It blames the setup unless the classifier knows the
 * data is at fault: blaming the setup stops the run without moving good batches to failed/.
 */
export class PermanentWarehouseError extends Error {
  override readonly name = 'PermanentWarehouseError';
  readonly blame: Blame;
  constructor(
    message: string,
    readonly code?: string,
    options?: { cause?: unknown; blame?: Blame },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.blame = options?.blame ?? 'setup';
  }
}

/**
 * Most statements one transaction may hold: the Redshift Data API's BatchExecuteStatement
 * takes 1 to 40 (`Sqls`), and the local runner applies the same bound so a load that works
 * locally also fits in AWS.
 */
export const MAX_TRANSACTION_STATEMENTS = 40;
