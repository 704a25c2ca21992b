import { type Feed, tableName } from '../schema/columns.ts';
import { ERASED_IDS_TABLE, ERASURES_TABLE, LEDGER_TABLE, warehouseDdl } from './ddl.ts';
import type { Dialect } from './dialect.ts';
import { existingTablesQuery } from './load.ts';

/** The part of the warehouse port that creating the tables needs (a `SqlRunner` has it). */
export interface DdlRunner {
  readonly dialect: Dialect;
  transaction(statements: readonly string[]): Promise<unknown>;
  query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string): Promise<T[]>;
}

export interface WarehouseObjectsOptions {
  readonly schema: string;
  readonly projectId: string;
  readonly feeds: readonly Feed[];
}

/**
 * Creates the schema, tables and ledger when any is missing (the local runner; in AWS an
 * administrator runs `setup-sql` instead, since the pipeline's user may not create tables).
 * Returns the tables that were missing.
 */
export async function ensureWarehouseObjects(
  runner: DdlRunner,
  options: WarehouseObjectsOptions,
): Promise<string[]> {
  const wanted = [
    ...options.feeds.map((feed) => tableName(feed, options.projectId)),
    LEDGER_TABLE,
    ERASURES_TABLE,
    ERASED_IDS_TABLE,
  ];
  const rows = await runner.query<{ table_name: unknown }>(existingTablesQuery(options.schema, wanted));
  const present = new Set(rows.map((row) => String(row.table_name)));
  const missing = wanted.filter((table) => !present.has(table));
  if (missing.length > 0) await runner.transaction(warehouseDdl(runner.dialect, options));
  return missing;
}
