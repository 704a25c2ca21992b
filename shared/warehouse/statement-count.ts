import { MAX_TRANSACTION_STATEMENTS, PermanentWarehouseError } from './sql-runner.ts';

/** Both runners refuse what BatchExecuteStatement would refuse, before doing any work. */
export function assertStatementCount(statements: readonly string[]): void {
  if (statements.length === 0) {
    throw new PermanentWarehouseError('A transaction needs at least one SQL statement; none were given.');
  }
  if (statements.length > MAX_TRANSACTION_STATEMENTS) {
    throw new PermanentWarehouseError(
      `A transaction has ${statements.length} SQL statements, but the Redshift Data API runs at most ${MAX_TRANSACTION_STATEMENTS} in one BatchExecuteStatement. Split the work into smaller loads.`,
      'TooManyStatements',
    );
  }
}
