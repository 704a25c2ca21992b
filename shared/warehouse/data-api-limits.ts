import { MAX_TRANSACTION_STATEMENTS, PermanentWarehouseError } from './sql-runner.ts';

/**
 * Largest SQL text the Redshift Data API accepts in one statement: "The maximum query
 * statement size is 100 KB" (https://docs.aws.amazon.com/redshift/latest/mgmt/data-api.html,
 * considerations when calling the Data API). A larger one is refused with
 * `ValidationException: Cannot process query string larger than 100kB`
 * (https://www.volcengine.com/article/3024638, relaying a Stack Exchange report), before it
 * reaches Redshift, whose own limit is 16 MB. Bytes of UTF-8 are measured, and 100 KB is read
 * as 100,000 bytes, the smaller of its two meanings.
 */
export const MAX_STATEMENT_BYTES = 100_000;

/** Size of the statement as the Data API receives it (UTF-8). */
export function statementBytes(sql: string): number {
  return Buffer.byteLength(sql, 'utf8');
}

/**
 * Both runners refuse what BatchExecuteStatement would refuse, before doing any work, and
 * the load builder checks the same where it builds a transaction: 1 to 40 statements
 * (`Sqls`), none larger than `MAX_STATEMENT_BYTES`.
 */
export function assertTransactionFits(statements: readonly string[]): void {
  if (statements.length === 0) {
    throw new PermanentWarehouseError('A transaction needs at least one SQL statement; none were given.');
  }
  if (statements.length > MAX_TRANSACTION_STATEMENTS) {
    throw new PermanentWarehouseError(
      `A transaction has ${statements.length} SQL statements, but the Redshift Data API runs at most ${MAX_TRANSACTION_STATEMENTS} in one BatchExecuteStatement. Split the work into smaller loads.`,
      'TooManyStatements',
    );
  }
  for (const [index, sql] of statements.entries()) {
    const bytes = statementBytes(sql);
    if (bytes > MAX_STATEMENT_BYTES) {
      throw new PermanentWarehouseError(
        `Statement ${index + 1} of ${statements.length} is ${bytes} bytes of UTF-8, but the Redshift Data API refuses a statement larger than 100 kB (${MAX_STATEMENT_BYTES} bytes counted here). Nothing was submitted; lower MAX_BATCHES_PER_LOAD, and report this, since the load builder splits loads to fit.`,
        'StatementTooLarge',
      );
    }
  }
}
