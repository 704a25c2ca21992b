import type { Dialect } from '../sql/dialect.ts';

export type StatementStatus = 'SUBMITTED' | 'PICKED' | 'STARTED' | 'FINISHED' | 'FAILED' | 'ABORTED';

/**
 * What an operator needs to fix a batch whose COPY rejected a row: which staged file, which
 * line and column, the warehouse's code and reason. Never the row's values: event payloads
 * stay out of reports and logs, so raw-value columns are never selected and quoted values
 * are cut out of reasons.
 */
export interface LoadErrorDetail {
  /** The staged part COPY was reading (`s3://...` or `file://...`): it names the batch. */
  readonly file: string;
  /** Line in that file (1-based; the staged CSV has no header line). */
  readonly line?: number;
  readonly column?: string;
  /** Redshift's load error code (`1207`, see the Load error reference) or PostgreSQL's SQLSTATE. */
  readonly code: string;
  /** The warehouse's reason, with any quoted value of the row withheld. */
  readonly reason: string;
}

export type LoadErrorSource = 'sys_load_error_detail' | 'stl_load_errors' | 'postgresql';

/** What `SqlRunner.loadErrorDetails` found. */
export interface LoadErrorDetails {
  readonly source: LoadErrorSource;
  readonly details: readonly LoadErrorDetail[];
  /** More rows were recorded than were read (`MAX_LOAD_ERROR_DETAILS`). */
  readonly more?: boolean;
}

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
  /**
   * What the warehouse recorded about the rows a failed COPY rejected in these staged files:
   * file, line, column, code and reason, never the rows' values. Redshift reads its load error
   * tables; PostgreSQL gives what it said when `statementId` failed. Throws when it cannot.
   */
  loadErrorDetails(failed: {
    readonly statementId?: string;
    readonly files: readonly string[];
  }): Promise<LoadErrorDetails>;
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

const STATEMENT_OF_ERROR = new WeakMap<object, string>();

/** Records which submitted transaction an error came from (`statementIdOf` reads it). */
export function rememberStatementId(error: unknown, statementId: string): void {
  if (typeof error === 'object' && error !== null) STATEMENT_OF_ERROR.set(error, statementId);
}

/** The statement id of the transaction `transaction` failed with, once it was submitted. */
export function statementIdOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? STATEMENT_OF_ERROR.get(error) : undefined;
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
