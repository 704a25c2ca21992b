import {
  type Column,
  columnsOf,
  type Feed,
  keyColumnsOf,
  tableName,
  timeColumnOf,
} from '../schema/columns.ts';
import type { Dialect } from './dialect.ts';
import { assertIdentifier, qualifiedName, quoteIdent } from './identifiers.ts';

/** The ledger: one row per loaded batch, written in the same transaction as its rows. */
export const LEDGER_TABLE = 'export_loads';

export interface LedgerColumn {
  readonly name: string;
  readonly redshiftType: string;
  readonly postgresType: string;
  readonly notNull: boolean;
  /**
   * SQL default per dialect. A NOT NULL column added after the first release needs one: an
   * existing ledger gets the column by `ALTER TABLE ... ADD COLUMN` (see `ledger.ts`), and its
   * old rows take the default.
   */
  readonly defaultSql?: Readonly<Record<Dialect, string>>;
}

/**
 * Columns of `<schema>.export_loads`, in table order. A column added here reaches existing
 * ledgers through `ledgerMigration` (local runner) and the setup SQL's upgrade procedure.
 */
export const LEDGER_COLUMNS: readonly LedgerColumn[] = [
  { name: 'batch_id', redshiftType: 'VARCHAR(128)', postgresType: 'character varying(128)', notNull: true },
  { name: 'feed', redshiftType: 'VARCHAR(16)', postgresType: 'character varying(16)', notNull: true },
  { name: 'rows_loaded', redshiftType: 'BIGINT', postgresType: 'bigint', notNull: true },
  { name: 'duplicates_skipped', redshiftType: 'BIGINT', postgresType: 'bigint', notNull: true },
  { name: 'quarantined', redshiftType: 'BIGINT', postgresType: 'bigint', notNull: true },
  // The loader's id: also the Data API ClientToken and the name of the combined COPY manifest.
  { name: 'load_id', redshiftType: 'VARCHAR(64)', postgresType: 'character varying(64)', notNull: true },
  // 'live' | 'backfill'
  { name: 'source', redshiftType: 'VARCHAR(16)', postgresType: 'character varying(16)', notNull: true },
  {
    name: 'min_time',
    redshiftType: 'TIMESTAMP',
    postgresType: 'timestamp(6) without time zone',
    notNull: false,
  },
  {
    name: 'max_time',
    redshiftType: 'TIMESTAMP',
    postgresType: 'timestamp(6) without time zone',
    notNull: false,
  },
  {
    name: 'loaded_at',
    redshiftType: 'TIMESTAMP',
    postgresType: 'timestamp(6) without time zone',
    notNull: true,
    defaultSql: { redshift: 'GETDATE()', postgres: "(now() AT TIME ZONE 'UTC')" },
  },
  // The table the batch's rows went to ("events_<projectId>"): the same landing files feed
  // several projects' tables (merged IDs are per organization), so a batch id alone does not
  // say whether a table has them. '' marks a row of a ledger from before this column whose
  // table could not be told (see ledger.ts); such a row counts as loaded for every table.
  {
    name: 'target_table',
    redshiftType: 'VARCHAR(127)',
    postgresType: 'character varying(127)',
    notNull: true,
    defaultSql: { redshift: "''", postgres: "''" },
  },
  // Staged rows of people on the erasure list that the load dropped (see shared/sql/erasure.ts).
  // Rows of a ledger from before erasure requests take 0, which is what those loads dropped.
  {
    name: 'rows_erased',
    redshiftType: 'BIGINT',
    postgresType: 'bigint',
    notNull: true,
    defaultSql: { redshift: '0', postgres: '0' },
  },
  // When the batch's oldest landing file landed (S3 LastModified), and the seconds from then
  // to the load's ledger insert, just before its commit: the freshness goal is about these.
  // NULL for batches whose manifest does not record it.
  {
    name: 'landed_at',
    redshiftType: 'TIMESTAMP',
    postgresType: 'timestamp(6) without time zone',
    notNull: false,
  },
  { name: 'landing_delay_seconds', redshiftType: 'BIGINT', postgresType: 'bigint', notNull: false },
  // Hours of the target the load's de-duplication read, and their span from first to last
  // (the same on every row of one load): what late rows cost. NULL when unknown.
  { name: 'hours_read', redshiftType: 'INTEGER', postgresType: 'integer', notNull: false },
  { name: 'hours_span', redshiftType: 'INTEGER', postgresType: 'integer', notNull: false },
  // Seconds of the target's time the de-duplication read (the ranges of the staged rows' times,
  // the same on every row of one load): far less than hours_read * 3600 when late rows are few.
  { name: 'seconds_read', redshiftType: 'BIGINT', postgresType: 'bigint', notNull: false },
];

/** The ledger column of this name; a name that is not one is a bug in the caller. */
export function ledgerColumn(name: string): LedgerColumn {
  const column = LEDGER_COLUMNS.find((candidate) => candidate.name === name);
  if (!column) throw new Error(`${name} is not a column of ${LEDGER_TABLE}; expected one of LEDGER_COLUMNS.`);
  return column;
}

/** The ledger's key: one row per batch and target table. */
export const LEDGER_KEY = ['target_table', 'batch_id'] as const;

export interface WarehouseObjects {
  readonly schema: string;
  readonly projectId: string;
  readonly feeds: readonly Feed[];
}

export function columnType(column: { redshiftType: string; postgresType: string }, dialect: Dialect): string {
  return dialect === 'redshift' ? column.redshiftType : column.postgresType;
}

/** `"schema"."events_<projectId>"` / `"schema"."merge_ids_<projectId>"` */
export function targetTable(schema: string, feed: Feed, projectId: string): string {
  return qualifiedName(schema, tableName(feed, projectId));
}

export function ledgerTable(schema: string): string {
  return qualifiedName(schema, LEDGER_TABLE);
}

export function createSchemaSql(schema: string): string {
  return `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema, 'schema')}`;
}

function columnDefinitions(columns: readonly Column[], dialect: Dialect): string {
  // `required` values are guaranteed by the transform; NOT NULL turns a bug there into a
  // failed COPY instead of rows that silently break the de-duplication key or time range.
  return columns
    .map(
      (column) =>
        `  ${quoteIdent(column.name, 'column')} ${columnType(column, dialect)}${column.required ? ' NOT NULL' : ''}`,
    )
    .join(',\n');
}

/**
 * Redshift distribution and sort keys, per table:
 * - DISTKEY(amplitude_id): analysts join events to merged IDs (and events to events of the
 *   same user) on amplitude_id, so both tables put a user's rows on the same slice and those
 *   joins need no redistribution. For merged IDs the de-duplication key starts with
 *   amplitude_id, so the loader's key join is co-located too.
 * - SORTKEY(event_time / merge_event_time): queries filter on time ranges, and the loader's
 *   de-duplication join restricts the target to the staged rows' time range, which the sort
 *   key's zone maps turn into reading only the blocks of that range.
 * Column encodings are left to Redshift (ENCODE AUTO is the default when none is given).
 */
function redshiftTableAttributes(feed: Feed): string {
  return `DISTKEY (${quoteIdent('amplitude_id')})\nSORTKEY (${quoteIdent(timeColumnOf(feed))})`;
}

export function createTargetTableSql(
  dialect: Dialect,
  schema: string,
  feed: Feed,
  projectId: string,
): string {
  const body = `CREATE TABLE IF NOT EXISTS ${targetTable(schema, feed, projectId)} (\n${columnDefinitions(columnsOf(feed), dialect)}\n)`;
  return dialect === 'redshift' ? `${body}\n${redshiftTableAttributes(feed)}` : body;
}

/**
 * PostgreSQL has no zone maps: an index on the de-duplication key keeps the loader's key join
 * from scanning the whole table on every load. Redshift gets no index (it has none).
 */
export function createKeyIndexSql(schema: string, feed: Feed, projectId: string): string {
  const table = tableName(feed, projectId);
  const index = assertIdentifier(`${table}_key_idx`, 'index');
  const keys = keyColumnsOf(feed)
    .map((column) => quoteIdent(column.name))
    .join(', ');
  return `CREATE INDEX IF NOT EXISTS ${quoteIdent(index)} ON ${targetTable(schema, feed, projectId)} (${keys})`;
}

/** `"name" TYPE [NOT NULL] [DEFAULT ...]`, as in CREATE TABLE and ALTER TABLE ADD COLUMN. */
export function ledgerColumnSql(column: LedgerColumn, dialect: Dialect): string {
  const defaultClause = column.defaultSql ? ` DEFAULT ${column.defaultSql[dialect]}` : '';
  return `${quoteIdent(column.name)} ${columnType(column, dialect)}${column.notNull ? ' NOT NULL' : ''}${defaultClause}`;
}

export function ledgerKeySql(): string {
  return `PRIMARY KEY (${LEDGER_KEY.map((name) => quoteIdent(name)).join(', ')})`;
}

export function createLedgerSql(dialect: Dialect, schema: string): string {
  return tableSql(dialect, ledgerTable(schema), LEDGER_COLUMNS, LEDGER_KEY);
}

/**
 * The erasure list: one row per erasure request (`redshift-export forget`). It holds personal
 * identifiers (the ones given), so it is granted to the pipeline's user only; see the README.
 */
export const ERASURES_TABLE = 'erasures';
/**
 * Every Amplitude ID an erasure covers: the one given and the IDs merged with it, found in
 * the merged-IDs table when the request was applied (those rows are deleted then, so later
 * loads could not find the link again). Loads drop staged rows with any of these IDs.
 */
export const ERASED_IDS_TABLE = 'erased_amplitude_ids';

const varchar = (bytes: number): Pick<LedgerColumn, 'redshiftType' | 'postgresType'> => ({
  redshiftType: `VARCHAR(${bytes})`,
  postgresType: `character varying(${bytes})`,
});
const BIGINT: Pick<LedgerColumn, 'redshiftType' | 'postgresType'> = {
  redshiftType: 'BIGINT',
  postgresType: 'bigint',
};
const TIMESTAMP: Pick<LedgerColumn, 'redshiftType' | 'postgresType'> = {
  redshiftType: 'TIMESTAMP',
  postgresType: 'timestamp(6) without time zone',
};
/** The identifier columns take the type of the events column they are compared with. */
const sameAs = (name: string): Pick<LedgerColumn, 'redshiftType' | 'postgresType'> => {
  const column = columnsOf('events').find((candidate) => candidate.name === name);
  if (!column) throw new Error(`The events table has no column ${name}.`);
  return { redshiftType: column.redshiftType, postgresType: column.postgresType };
};

/**
 * Columns of `<schema>.erasures`. The id is made by the client, not an IDENTITY column:
 * Redshift's IDENTITY values are unique but not consecutive and its syntax differs from
 * PostgreSQL's ("CREATE TABLE", IDENTITY: https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_TABLE_NEW.html),
 * and a client-made id doubles as the Data API ClientToken of the erasure transaction.
 * The per-table counts and time ranges are NULL for a feed the deployment does not export.
 */
export const ERASURE_COLUMNS: readonly LedgerColumn[] = [
  { name: 'erasure_id', ...varchar(64), notNull: true },
  // The operator's reference (a ticket id): never personal data by design, shown by `status`.
  { name: 'reference', ...varchar(256), notNull: true },
  { name: 'project_id', ...varchar(20), notNull: true },
  { name: 'amplitude_id', ...sameAs('amplitude_id'), notNull: false },
  { name: 'user_id', ...sameAs('user_id'), notNull: false },
  { name: 'device_id', ...sameAs('device_id'), notNull: false },
  { name: 'requested_at', ...TIMESTAMP, notNull: true },
  {
    name: 'applied_at',
    ...TIMESTAMP,
    notNull: true,
    defaultSql: { redshift: 'GETDATE()', postgres: "(now() AT TIME ZONE 'UTC')" },
  },
  // Amplitude IDs merged with the given one (directly or through other merged IDs).
  { name: 'linked_amplitude_ids', ...BIGINT, notNull: true },
  { name: 'events_removed', ...BIGINT, notNull: false },
  { name: 'events_min_time', ...TIMESTAMP, notNull: false },
  { name: 'events_max_time', ...TIMESTAMP, notNull: false },
  { name: 'merge_ids_removed', ...BIGINT, notNull: false },
  { name: 'merge_ids_min_time', ...TIMESTAMP, notNull: false },
  { name: 'merge_ids_max_time', ...TIMESTAMP, notNull: false },
];

export const ERASED_ID_COLUMNS: readonly LedgerColumn[] = [
  { name: 'erasure_id', ...varchar(64), notNull: true },
  { name: 'amplitude_id', ...BIGINT, notNull: true },
];

export function erasuresTable(schema: string): string {
  return qualifiedName(schema, ERASURES_TABLE);
}

export function erasedIdsTable(schema: string): string {
  return qualifiedName(schema, ERASED_IDS_TABLE);
}

function tableSql(
  dialect: Dialect,
  table: string,
  columns: readonly LedgerColumn[],
  primaryKey: readonly string[],
): string {
  const lines = columns.map((column) => `  ${ledgerColumnSql(column, dialect)}`);
  // Redshift does not enforce primary keys (the load transaction's lock and ledger check do);
  // it documents the key for the planner. PostgreSQL enforces it, a second guard.
  lines.push(`  PRIMARY KEY (${primaryKey.map((name) => quoteIdent(name)).join(', ')})`);
  return `CREATE TABLE IF NOT EXISTS ${table} (\n${lines.join(',\n')}\n)`;
}

export function createErasuresSql(dialect: Dialect, schema: string): string {
  return tableSql(dialect, erasuresTable(schema), ERASURE_COLUMNS, ['erasure_id']);
}

export function createErasedIdsSql(dialect: Dialect, schema: string): string {
  return tableSql(dialect, erasedIdsTable(schema), ERASED_ID_COLUMNS, ['erasure_id', 'amplitude_id']);
}

/** Every statement that creates the export's objects, idempotent, in dependency order. */
export function warehouseDdl(dialect: Dialect, objects: WarehouseObjects): string[] {
  const statements = [createSchemaSql(objects.schema)];
  for (const feed of objects.feeds) {
    statements.push(createTargetTableSql(dialect, objects.schema, feed, objects.projectId));
    if (dialect === 'postgres') statements.push(createKeyIndexSql(objects.schema, feed, objects.projectId));
  }
  statements.push(createLedgerSql(dialect, objects.schema));
  statements.push(createErasuresSql(dialect, objects.schema), createErasedIdsSql(dialect, objects.schema));
  return statements;
}
