import { type Feed, tableName } from '../schema/columns.ts';
import { ERASED_IDS_TABLE, ERASURES_TABLE, LEDGER_TABLE, warehouseDdl } from './ddl.ts';
import type { DdlRunner } from './dialect.ts';
import { upgradeLedger } from './ledger.ts';
import { existingTablesQuery } from './load.ts';

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
  // First, so that an old ledger's rows are attributed to the tables that exist before this
  // run creates its own.
  await upgradeLedger(runner, options.schema);
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
