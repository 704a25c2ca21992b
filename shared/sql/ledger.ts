import { assertBatchId } from '../base/staging-keys.ts';
import { FEEDS, type Feed } from '../schema/columns.ts';
import {
  LEDGER_COLUMNS,
  LEDGER_TABLE,
  type LedgerColumn,
  ledgerColumnSql,
  ledgerKeySql,
  ledgerTable,
} from './ddl.ts';
import type { DdlRunner, Dialect } from './dialect.ts';
import { assertIdentifier, quoteIdent, quoteLiteral } from './identifiers.ts';

/**
 * The first statement of every load transaction and of every erasure: loads, backfill chunks
 * and erasures of one schema run one after another, each seeing what the previous committed.
 */
export function lockLedgerSql(dialect: Dialect, schema: string): string {
  // Redshift's LOCK is always ACCESS EXCLUSIVE. In PostgreSQL SHARE ROW EXCLUSIVE is the
  // weakest mode that conflicts with itself (so loads queue one after another) while still
  // letting readers query the ledger.
  return dialect === 'redshift'
    ? `LOCK ${ledgerTable(schema)}`
    : `LOCK TABLE ${ledgerTable(schema)} IN SHARE ROW EXCLUSIVE MODE`;
}

/**
 * `target_table` of a ledger row written before the ledger knew its table, whose table
 * could not be told when the ledger was upgraded (several tables of its feed in the schema).
 * Such a row counts as loaded for every table: a merged-ID batch may then be missing from
 * one table, but a row is never loaded twice.
 */
export const UNKNOWN_TARGET = '';

/** Ledger rows of this target: its own and those of an unknown target. */
export function ledgerRowsOf(target: string): string {
  return `${quoteIdent('target_table')} IN (${quoteLiteral(assertIdentifier(target, 'table'))}, ${quoteLiteral(UNKNOWN_TARGET, 'unknown target')})`;
}

/**
 * The ledger rows of these batches for this target (one query): which are loaded already,
 * and by which load with what figures. Used by the live loader and the backfill report alike.
 */
export function loadedBatchesQuery(schema: string, target: string, batchIds: readonly string[]): string {
  if (batchIds.length === 0) throw new Error('loadedBatchesQuery needs at least one batch id.');
  const list = batchIds.map((batchId) => quoteLiteral(assertBatchId(batchId))).join(', ');
  // A row of the target itself sorts after one of an unknown target, so it wins in a map.
  return `SELECT ${quoteIdent('batch_id')}, ${quoteIdent('load_id')}, ${quoteIdent('rows_loaded')}, ${quoteIdent('duplicates_skipped')}, ${quoteIdent('quarantined')}, ${quoteIdent('rows_erased')} FROM ${ledgerTable(schema)} WHERE ${ledgerRowsOf(target)} AND ${quoteIdent('batch_id')} IN (${list}) ORDER BY ${quoteIdent('target_table')}`;
}

/**
 * What the ledger says is loaded into one target table: `batches` and `rows_loaded` (one
 * row; the sum is null when nothing is). The local runner tells a restarted run's user this.
 */
export function loadedTotalsQuery(schema: string, target: string): string {
  return `SELECT COUNT(*) AS ${quoteIdent('batches')}, SUM(${quoteIdent('rows_loaded')}) AS ${quoteIdent('rows_loaded')} FROM ${ledgerTable(schema)} WHERE ${ledgerRowsOf(target)}`;
}

/** Columns the ledger has (`column_name`); none when it does not exist. */
export function ledgerColumnsQuery(schema: string): string {
  return `SELECT column_name FROM information_schema.columns WHERE table_schema = ${quoteLiteral(assertIdentifier(schema, 'schema'))} AND table_name = ${quoteLiteral(LEDGER_TABLE)}`;
}

/** Name of the ledger's primary-key constraint (`constraint_name`). */
export function ledgerPrimaryKeyQuery(schema: string): string {
  return `SELECT c.conname AS constraint_name FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace WHERE c.contype = 'p' AND n.nspname = ${quoteLiteral(assertIdentifier(schema, 'schema'))} AND t.relname = ${quoteLiteral(LEDGER_TABLE)}`;
}

/** Table names in the schema (`table_name`). */
export function schemaTablesQuery(schema: string): string {
  return `SELECT table_name FROM information_schema.tables WHERE table_schema = ${quoteLiteral(assertIdentifier(schema, 'schema'))}`;
}

/** `events_` / `merge_ids_`: what every table of the feed starts with (see `tableName`). */
function tablePrefix(feed: Feed): string {
  return `${feed}_`;
}

export interface LedgerShape {
  /** Columns the existing ledger has. */
  readonly columns: ReadonlySet<string>;
  /** Its primary-key constraint, if any. */
  readonly primaryKey?: string;
  /** Tables in the schema, before this run creates any. */
  readonly tables: readonly string[];
}

/** Ledger columns the existing ledger lacks, in table order. */
export function missingLedgerColumns(columns: ReadonlySet<string>): LedgerColumn[] {
  return LEDGER_COLUMNS.filter((column) => !columns.has(column.name));
}

/**
 * Brings an existing ledger to the current shape without losing a row: adds every missing
 * column of `LEDGER_COLUMNS` (old rows take its default), and when `target_table` is new,
 * fills it for old rows whose table can be told (the schema holds exactly one table of their
 * feed) and re-keys the ledger by (target_table, batch_id). One transaction, the ledger
 * locked first like every load. Empty when there is nothing to do.
 */
export function ledgerMigration(dialect: Dialect, schema: string, shape: LedgerShape): string[] {
  const missing = missingLedgerColumns(shape.columns);
  if (missing.length === 0 || shape.columns.size === 0) return [];
  const ledger = ledgerTable(schema);
  const statements = [
    dialect === 'redshift' ? `LOCK ${ledger}` : `LOCK TABLE ${ledger} IN ACCESS EXCLUSIVE MODE`,
  ];
  for (const column of missing) {
    if (column.notNull && !column.defaultSql) {
      throw new Error(
        `Ledger column ${column.name} is NOT NULL without a default; an existing ledger cannot get it.`,
      );
    }
    statements.push(`ALTER TABLE ${ledger} ADD COLUMN ${ledgerColumnSql(column, dialect)}`);
  }
  if (missing.some((column) => column.name === 'target_table')) {
    for (const feed of FEEDS) {
      const tables = shape.tables.filter((table) => table.startsWith(tablePrefix(feed)));
      if (tables.length !== 1) continue;
      statements.push(
        `UPDATE ${ledger} SET ${quoteIdent('target_table')} = ${quoteLiteral(tables[0]!)} WHERE ${quoteIdent('target_table')} = ${quoteLiteral(UNKNOWN_TARGET, 'unknown target')} AND ${quoteIdent('feed')} = ${quoteLiteral(feed)}`,
      );
    }
    if (shape.primaryKey) {
      statements.push(`ALTER TABLE ${ledger} DROP CONSTRAINT ${quoteIdent(shape.primaryKey, 'constraint')}`);
    }
    statements.push(`ALTER TABLE ${ledger} ADD ${ledgerKeySql()}`);
  }
  return statements;
}

/**
 * Upgrades an existing ledger in place (the local runner, whose user owns it; in AWS the
 * setup SQL does it). Returns the columns it added; nothing when the ledger is current or
 * does not exist yet.
 */
export async function upgradeLedger(runner: DdlRunner, schema: string): Promise<string[]> {
  const columnRows = await runner.query<{ column_name: unknown }>(ledgerColumnsQuery(schema));
  const columns = new Set(columnRows.map((row) => String(row.column_name)));
  const missing = missingLedgerColumns(columns);
  if (columns.size === 0 || missing.length === 0) return [];
  const [key] = await runner.query<{ constraint_name: unknown }>(ledgerPrimaryKeyQuery(schema));
  const tableRows = await runner.query<{ table_name: unknown }>(schemaTablesQuery(schema));
  await runner.transaction(
    ledgerMigration(runner.dialect, schema, {
      columns,
      ...(key ? { primaryKey: String(key.constraint_name) } : {}),
      tables: tableRows.map((row) => String(row.table_name)),
    }),
  );
  return missing.map((column) => column.name);
}

/**
 * The same upgrade as `ledgerMigration`, as a procedure the setup SQL creates, calls and
 * drops (plain SQL has no "add the column if it is missing" in Redshift). It decides from the
 * catalog when it runs, so the setup SQL stays safe to run again.
 */
export function ledgerMigrationProcedureSql(dialect: Dialect, schema: string): string[] {
  const ledger = ledgerTable(schema);
  const procedure = `${quoteIdent(schema, 'schema')}.${quoteIdent('amplitude_export_upgrade_ledger')}`;
  const schemaLiteral = quoteLiteral(assertIdentifier(schema, 'schema'));
  const hasColumn = (name: string) =>
    `EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = ${schemaLiteral} AND table_name = ${quoteLiteral(LEDGER_TABLE)} AND column_name = ${quoteLiteral(name)})`;
  // Text inside EXECUTE '...': single quotes doubled.
  const inner = (sql: string) => quoteLiteral(sql);
  const body: string[] = [];
  body.push(
    `  IF NOT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = ${schemaLiteral} AND table_name = ${quoteLiteral(LEDGER_TABLE)}) THEN\n    RETURN;\n  END IF;`,
  );
  body.push(
    `  IF NOT ${hasColumn('target_table')} THEN\n    retarget := TRUE;\n    SELECT c.conname INTO key_name FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace WHERE c.contype = 'p' AND n.nspname = ${schemaLiteral} AND t.relname = ${quoteLiteral(LEDGER_TABLE)};\n  END IF;`,
  );
  for (const column of LEDGER_COLUMNS) {
    body.push(
      `  IF NOT ${hasColumn(column.name)} THEN\n    EXECUTE ${inner(`ALTER TABLE ${ledger} ADD COLUMN ${ledgerColumnSql(column, dialect)}`)};\n  END IF;`,
    );
  }
  const retarget: string[] = [];
  for (const feed of FEEDS) {
    const prefix = tablePrefix(feed);
    retarget.push(
      `    SELECT COUNT(*) INTO table_count FROM information_schema.tables WHERE table_schema = ${schemaLiteral} AND LEFT(table_name, ${prefix.length}) = ${quoteLiteral(prefix)};`,
      `    IF table_count = 1 THEN\n      SELECT table_name INTO only_table FROM information_schema.tables WHERE table_schema = ${schemaLiteral} AND LEFT(table_name, ${prefix.length}) = ${quoteLiteral(prefix)};\n      EXECUTE ${inner(`UPDATE ${ledger} SET ${quoteIdent('target_table')} = `)} || quote_literal(only_table) || ${inner(` WHERE ${quoteIdent('target_table')} = ${quoteLiteral(UNKNOWN_TARGET, 'unknown target')} AND ${quoteIdent('feed')} = ${quoteLiteral(feed)}`)};\n    END IF;`,
    );
  }
  body.push(
    `  IF retarget THEN\n${retarget.join('\n')}\n    IF key_name IS NOT NULL THEN\n      EXECUTE ${inner(`ALTER TABLE ${ledger} DROP CONSTRAINT `)} || quote_ident(key_name);\n    END IF;\n    EXECUTE ${inner(`ALTER TABLE ${ledger} ADD ${ledgerKeySql()}`)};\n  END IF;`,
  );
  const declare = `DECLARE\n  retarget BOOLEAN := FALSE;\n  key_name VARCHAR(128);\n  table_count INTEGER;\n  only_table VARCHAR(128);`;
  return [
    `CREATE OR REPLACE PROCEDURE ${procedure}()\nAS $$\n${declare}\nBEGIN\n${body.join('\n')}\nEND;\n$$ LANGUAGE plpgsql`,
    `CALL ${procedure}()`,
    `DROP PROCEDURE ${procedure}()`,
  ];
}
