import {
  BatchExecuteStatementCommand,
  type ColumnMetadata,
  DescribeStatementCommand,
  type DescribeStatementResponse,
  ExecuteStatementCommand,
  type Field,
  GetStatementResultCommand,
  type RedshiftDataClient,
} from '@aws-sdk/client-redshift-data';
import { type Clock, systemClock } from '../base/clock.ts';
import { assertTransactionFits } from './data-api-limits.ts';
import { readRedshiftLoadErrorDetails } from './load-errors.ts';
import { warehouseErrorFromException, warehouseErrorFromStatement } from './redshift-errors.ts';
import {
  type LoadErrorDetails,
  PermanentWarehouseError,
  RetryableWarehouseError,
  rememberStatementId,
  type SqlRunner,
  type StatementDescription,
  type StatementStatus,
  type TransactionResult,
} from './sql-runner.ts';

export type RedshiftTarget = { readonly clusterIdentifier: string } | { readonly workgroupName: string };

export interface RedshiftDataApiRunnerOptions {
  readonly client: RedshiftDataClient;
  readonly database: string;
  /** Secrets Manager secret with the database user's `username` and `password`. */
  readonly secretArn: string;
  /** A provisioned cluster or a Serverless workgroup. */
  readonly target: RedshiftTarget;
  /** Shown in Redshift's query history. @default - none */
  readonly statementName?: string;
  /** First wait between DescribeStatement calls. @default 250 */
  readonly pollIntervalMs?: number;
  /** Longest wait between DescribeStatement calls. @default 5000 */
  readonly maxPollIntervalMs?: number;
  /** How long `transaction` and `query` wait for a statement. @default 600000 (10 minutes) */
  readonly timeoutMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Jitter source in [0, 1). @default Math.random */
  readonly random?: () => number;
  readonly clock?: Clock;
}

const TERMINAL: ReadonlySet<string> = new Set(['FINISHED', 'FAILED', 'ABORTED']);
const STATUSES: ReadonlySet<string> = new Set(['SUBMITTED', 'PICKED', 'STARTED', ...TERMINAL]);

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The warehouse in AWS: statements go through the Redshift Data API, authenticated with the
 * Secrets Manager secret. A transaction is one BatchExecuteStatement, which Redshift runs as
 * a single transaction.
 */
export class RedshiftDataApiRunner implements SqlRunner {
  readonly dialect = 'redshift' as const;
  readonly #options: RedshiftDataApiRunnerOptions;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #clock: Clock;

  constructor(options: RedshiftDataApiRunnerOptions) {
    const target = options.target as { clusterIdentifier?: string; workgroupName?: string };
    if (!target.clusterIdentifier === !target.workgroupName) {
      throw new PermanentWarehouseError(
        'RedshiftDataApiRunner needs exactly one of target.clusterIdentifier (provisioned) or target.workgroupName (Serverless).',
      );
    }
    this.#options = options;
    this.#sleep = options.sleep ?? defaultSleep;
    this.#random = options.random ?? Math.random;
    this.#clock = options.clock ?? systemClock;
  }

  async transaction(
    statements: readonly string[],
    options: { clientToken?: string } = {},
  ): Promise<TransactionResult> {
    const { statementId } = await this.startTransaction(statements, options);
    let final: DescribeStatementResponse;
    try {
      final = await this.#waitFor(statementId, 'Transaction');
    } catch (error) {
      rememberStatementId(error, statementId);
      throw error;
    }
    const rowCounts = [...(final.SubStatements ?? [])]
      .sort((a, b) => subStatementIndex(a.Id) - subStatementIndex(b.Id))
      .map((sub) => rowsOf(sub.ResultRows));
    return { statementId, rowCounts };
  }

  async startTransaction(
    statements: readonly string[],
    options: { clientToken?: string } = {},
  ): Promise<{ statementId: string }> {
    assertTransactionFits(statements);
    const response = await this.#send('BatchExecuteStatement', () =>
      this.#options.client.send(
        new BatchExecuteStatementCommand({
          ...this.#connection(),
          Sqls: [...statements],
          ...(options.clientToken ? { ClientToken: options.clientToken } : {}),
          ...(this.#options.statementName ? { StatementName: this.#options.statementName } : {}),
        }),
      ),
    );
    if (!response.Id) throw new RetryableWarehouseError('BatchExecuteStatement returned no statement id.');
    return { statementId: response.Id };
  }

  async describe(statementId: string): Promise<StatementDescription> {
    const response = await this.#describe(statementId);
    const status = statusOf(response);
    if (status === 'FAILED' || status === 'ABORTED') {
      return { statementId, status, error: errorTextOf(response) };
    }
    return { statementId, status };
  }

  /** From SYS_LOAD_ERROR_DETAIL, or STL_LOAD_ERRORS where that view does not exist (see load-errors.ts). */
  async loadErrorDetails(failed: { readonly files: readonly string[] }): Promise<LoadErrorDetails> {
    return readRedshiftLoadErrorDetails((sql) => this.query(sql), failed.files);
  }

  async query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string): Promise<T[]> {
    const submitted = await this.#send('ExecuteStatement', () =>
      this.#options.client.send(new ExecuteStatementCommand({ ...this.#connection(), Sql: sql })),
    );
    const statementId = submitted.Id;
    if (!statementId) throw new RetryableWarehouseError('ExecuteStatement returned no statement id.');
    const final = await this.#waitFor(statementId, 'Query');
    if (final.HasResultSet === false) return [];

    const rows: T[] = [];
    let columns: readonly ColumnMetadata[] | undefined;
    let nextToken: string | undefined;
    do {
      const page = await this.#send('GetStatementResult', () =>
        this.#options.client.send(
          new GetStatementResultCommand({ Id: statementId, ...(nextToken ? { NextToken: nextToken } : {}) }),
        ),
      );
      if (!columns?.length && page.ColumnMetadata?.length) columns = page.ColumnMetadata;
      for (const record of page.Records ?? []) rows.push(recordToObject(record, columns ?? []) as T);
      nextToken = page.NextToken || undefined;
    } while (nextToken);
    return rows;
  }

  async close(): Promise<void> {
    // The Data API has no connection to close; the SDK client belongs to the caller.
  }

  #connection() {
    const target = this.#options.target;
    return {
      Database: this.#options.database,
      SecretArn: this.#options.secretArn,
      ...('clusterIdentifier' in target
        ? { ClusterIdentifier: target.clusterIdentifier }
        : { WorkgroupName: target.workgroupName }),
    };
  }

  async #send<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw warehouseErrorFromException(operation, error);
    }
  }

  #describe(statementId: string): Promise<DescribeStatementResponse> {
    return this.#send('DescribeStatement', () =>
      this.#options.client.send(new DescribeStatementCommand({ Id: statementId })),
    );
  }

  /** Polls with exponential backoff and jitter until the statement ends; throws unless FINISHED. */
  async #waitFor(statementId: string, what: string): Promise<DescribeStatementResponse> {
    const first = this.#options.pollIntervalMs ?? 250;
    const cap = Math.max(first, this.#options.maxPollIntervalMs ?? 5_000);
    const timeoutMs = this.#options.timeoutMs ?? 600_000;
    const started = this.#clock().getTime();
    for (let attempt = 0; ; attempt++) {
      const response = await this.#describe(statementId);
      const status = statusOf(response);
      if (status === 'FINISHED') return response;
      if (status === 'FAILED') throw warehouseErrorFromStatement(statementId, errorTextOf(response), what);
      if (status === 'ABORTED') {
        throw new RetryableWarehouseError(
          `${what} ${statementId} was aborted in Redshift (cancelled, or its session ended): ${errorTextOf(response)}. Nothing was committed; it is retried.`,
          'StatementAborted',
        );
      }
      const elapsed = this.#clock().getTime() - started;
      if (elapsed >= timeoutMs) {
        throw new RetryableWarehouseError(
          `${what} ${statementId} is still ${status} in Redshift after ${Math.round(elapsed / 1000)} s and may still complete. Check it with DescribeStatement (aws redshift-data describe-statement --id ${statementId}) before resubmitting; a resubmission with the same client token is safe.`,
          'StatementStillRunning',
        );
      }
      const base = Math.min(cap, first * 2 ** attempt);
      // Equal jitter: never below half the step, so the wait still grows.
      const delay = Math.min(base / 2 + this.#random() * (base / 2), timeoutMs - elapsed);
      await this.#sleep(Math.max(1, Math.round(delay)));
    }
  }
}

function statusOf(response: DescribeStatementResponse): StatementStatus {
  const status = response.Status;
  if (!status || !STATUSES.has(status)) {
    throw new RetryableWarehouseError(
      `DescribeStatement returned an unexpected status ${JSON.stringify(status)} for statement ${response.Id}.`,
    );
  }
  return status as StatementStatus;
}

function errorTextOf(response: DescribeStatementResponse): string {
  if (response.Error) return response.Error;
  const failed = response.SubStatements?.find((sub) => sub.Error);
  if (failed?.Error) return failed.Error;
  return response.Status === 'ABORTED' ? 'the statement was aborted' : 'no error text was returned';
}

/** Sub-statement ids are `<batch id>:<1-based position>`. */
function subStatementIndex(id: string | undefined): number {
  const match = id ? /:(\d+)$/.exec(id) : null;
  return match ? Number(match[1]) : Number.MAX_SAFE_INTEGER;
}

/** The Data API reports -1 when a statement has no row count (DDL, SET). */
function rowsOf(resultRows: number | undefined): number {
  return resultRows !== undefined && resultRows >= 0 ? resultRows : 0;
}

function fieldValue(field: Field): unknown {
  if (field.isNull) return null;
  if (field.stringValue !== undefined) return field.stringValue;
  if (field.longValue !== undefined) return field.longValue;
  if (field.doubleValue !== undefined) return field.doubleValue;
  if (field.booleanValue !== undefined) return field.booleanValue;
  if (field.blobValue !== undefined) return Buffer.from(field.blobValue);
  return null;
}

function recordToObject(
  record: readonly Field[],
  columns: readonly ColumnMetadata[],
): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  record.forEach((field, index) => {
    const column = columns[index];
    row[column?.name ?? column?.label ?? `column_${index + 1}`] = fieldValue(field);
  });
  return row;
}
