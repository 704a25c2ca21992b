import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { ObjectStore } from '../storage/object-store.ts';
import { assertTransactionFits } from './data-api-limits.ts';
import { copyFromManifest, loadErrorDetailOf } from './manifest-copy.ts';
import { warehouseErrorFromPg } from './pg-errors.ts';
import { CopyStatementError, isCopyStatement, parseRedshiftCopy } from './redshift-copy.ts';
import {
  type LoadErrorDetails,
  PermanentWarehouseError,
  rememberStatementId,
  type SqlRunner,
  type StatementDescription,
  type TransactionResult,
} from './sql-runner.ts';

export interface PostgresRunnerOptions {
  /** `postgres://user:password@host:port/database` */
  readonly connectionString: string;
  /** Where the manifests and staged files that COPY statements name are read from. */
  readonly store: ObjectStore;
  /** @default 5 */
  readonly poolSize?: number;
  /**
   * Isolation of `transaction`. Redshift runs every transaction SERIALIZABLE, so that is the
   * default: concurrent loads conflict locally the way they do in Redshift.
   * @default 'serializable'
   */
  readonly isolation?: 'serializable' | 'read committed';
  /** How many finished statements `describe` still knows. @default 1000 */
  readonly rememberStatements?: number;
}

interface Run {
  readonly id: string;
  status: 'STARTED' | 'FINISHED' | 'FAILED';
  error?: Error;
  done: Promise<TransactionResult>;
}

const { types } = pg;
// Query results look as they do through the Data API: BIGINT as a number (longValue),
// timestamps, dates and JSON as the text Redshift returns (stringValue), never a Date in
// the local time zone or a parsed object.
const AS_TEXT = new Set([
  types.builtins.DATE,
  types.builtins.TIMESTAMP,
  types.builtins.TIMESTAMPTZ,
  types.builtins.JSON,
  types.builtins.JSONB,
]);
const TYPE_PARSERS = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === types.builtins.INT8) return (value: string) => Number(value);
    if (AS_TEXT.has(oid)) return (value: string) => value;
    return types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/**
 * The warehouse locally: a PostgreSQL connection pool. Statements run as written, except a
 * Redshift manifest COPY, which the runner carries out itself by streaming the files the
 * manifest lists from the object store into `COPY ... FROM STDIN` on the same transaction.
 */
export class PostgresRunner implements SqlRunner {
  readonly dialect = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #store: ObjectStore;
  readonly #begin: string;
  readonly #remember: number;
  readonly #runs = new Map<string, Run>();
  readonly #byToken = new Map<string, string>();
  #closing: Promise<void> | undefined;

  constructor(options: PostgresRunnerOptions) {
    this.#pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSize ?? 5,
      types: TYPE_PARSERS,
    });
    // An idle client whose server went away emits here; the pool drops it, and the next
    // checkout reports the problem, so nothing is lost by not crashing the process.
    this.#pool.on('error', () => undefined);
    this.#store = options.store;
    this.#begin =
      options.isolation === 'read committed'
        ? 'BEGIN ISOLATION LEVEL READ COMMITTED'
        : 'BEGIN ISOLATION LEVEL SERIALIZABLE';
    this.#remember = options.rememberStatements ?? 1000;
  }

  async transaction(
    statements: readonly string[],
    options: { clientToken?: string } = {},
  ): Promise<TransactionResult> {
    return await this.#submit(statements, options.clientToken).done;
  }

  async startTransaction(
    statements: readonly string[],
    options: { clientToken?: string } = {},
  ): Promise<{ statementId: string }> {
    return { statementId: this.#submit(statements, options.clientToken).id };
  }

  async describe(statementId: string): Promise<StatementDescription> {
    const run = this.#runs.get(statementId);
    if (!run) {
      throw new PermanentWarehouseError(
        `Statement ${statementId} is unknown to this PostgreSQL runner; it only remembers the last ${this.#remember} statements it ran since it started.`,
        'StatementNotFound',
      );
    }
    return run.status === 'FAILED'
      ? { statementId, status: 'FAILED', error: run.error?.message ?? 'unknown error' }
      : { statementId, status: run.status };
  }

  /**
   * What PostgreSQL said when the transaction failed on a COPY row (see manifest-copy.ts): the
   * runner keeps no load error table, so only a statement it still remembers has details.
   */
  async loadErrorDetails(failed: {
    readonly statementId?: string;
    readonly files: readonly string[];
  }): Promise<LoadErrorDetails> {
    const run = failed.statementId ? this.#runs.get(failed.statementId) : undefined;
    if (!run) {
      throw new PermanentWarehouseError(
        `Statement ${failed.statementId ?? '(none)'} is unknown to this PostgreSQL runner; it only remembers the last ${this.#remember} statements it ran since it started.`,
        'StatementNotFound',
      );
    }
    const detail = loadErrorDetailOf(run.error);
    const files = new Set(failed.files);
    return { source: 'postgresql', details: detail && files.has(detail.file) ? [detail] : [] };
  }

  async query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string): Promise<T[]> {
    this.#assertOpen();
    try {
      const result = await this.#pool.query(sql);
      return result.rows as T[];
    } catch (error) {
      throw warehouseErrorFromPg(error, 'Query');
    }
  }

  async close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#runs.values()].map((run) => run.done));
      await this.#pool.end();
    })();
    await this.#closing;
  }

  #assertOpen(): void {
    if (this.#closing) throw new PermanentWarehouseError('The PostgreSQL runner is closed.');
  }

  /** Like the Data API, a repeated client token returns the statement it first started. */
  #submit(statements: readonly string[], clientToken: string | undefined): Run {
    this.#assertOpen();
    assertTransactionFits(statements);
    const known = clientToken ? this.#runs.get(this.#byToken.get(clientToken) ?? '') : undefined;
    if (known) return known;

    const id = `pg-${randomUUID()}`;
    const run = { id, status: 'STARTED' } as Run;
    run.done = this.#execute(id, statements).then(
      (rowCounts) => {
        run.status = 'FINISHED';
        return { statementId: id, rowCounts };
      },
      (error: Error) => {
        run.status = 'FAILED';
        run.error = error;
        rememberStatementId(error, id);
        throw error;
      },
    );
    // Started in the background: the outcome is read through describe(), not awaited.
    run.done.catch(() => undefined);
    this.#runs.set(id, run);
    if (clientToken) this.#byToken.set(clientToken, id);
    this.#forgetOldest();
    return run;
  }

  #forgetOldest(): void {
    for (const [id, run] of this.#runs) {
      if (this.#runs.size <= this.#remember) break;
      if (run.status === 'STARTED') continue;
      this.#runs.delete(id);
    }
    for (const [token, id] of this.#byToken) {
      if (!this.#runs.has(id)) this.#byToken.delete(token);
    }
  }

  async #execute(id: string, statements: readonly string[]): Promise<number[]> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw warehouseErrorFromPg(error, `Transaction ${id}`);
    }
    let broken = false;
    try {
      await this.#run(client, this.#begin, `Transaction ${id} (BEGIN)`);
      const rowCounts: number[] = [];
      for (const [index, sql] of statements.entries()) {
        const context = `Statement ${index + 1} of ${statements.length} in transaction ${id}`;
        rowCounts.push(await this.#run(client, sql, context));
      }
      await this.#run(client, 'COMMIT', `Transaction ${id} (COMMIT)`);
      return rowCounts;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async #run(client: pg.PoolClient, sql: string, context: string): Promise<number> {
    try {
      if (isCopyStatement(sql)) return await copyFromManifest(client, this.#store, parseCopy(sql));
      return rowCountOf(await client.query(sql));
    } catch (error) {
      throw warehouseErrorFromPg(error, context);
    }
  }
}

function parseCopy(sql: string) {
  try {
    return parseRedshiftCopy(sql);
  } catch (error) {
    if (error instanceof CopyStatementError) {
      throw new PermanentWarehouseError(error.message, 'CopyStatementUnsupported', { cause: error });
    }
    throw error;
  }
}

function rowCountOf(result: pg.QueryResult | pg.QueryResult[]): number {
  const results = Array.isArray(result) ? result : [result];
  return results.reduce((sum, one) => sum + (one.rowCount ?? 0), 0);
}
