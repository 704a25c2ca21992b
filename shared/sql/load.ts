import { assertBatchId } from '../base/staging-keys.ts';
import type { BatchSource } from '../format/manifest.ts';
import type { TimeRange } from '../format/time-ranges.ts';
import {
  BATCH_ID_COLUMN,
  columnsOf,
  type Feed,
  keyColumnsOf,
  tableName,
  timeColumnOf,
} from '../schema/columns.ts';
import { columnType, LEDGER_COLUMNS, ledgerColumn, ledgerTable, targetTable } from './ddl.ts';
import type { Dialect } from './dialect.ts';
import { dropErasedStageRowsStatements, ERASED_STAGE_TABLE } from './erasure.ts';
import { assertIdentifier, integerLiteral, quoteIdent, quoteLiteral } from './identifiers.ts';
import { ledgerRowsOf, lockLedgerSql } from './ledger.ts';
import { type TimeRead, timeRead } from './time-read.ts';

export { lockLedgerSql } from './ledger.ts';

/** What the load transaction needs to know about one batch besides its staged rows. */
export interface LoadBatch {
  readonly batchId: string;
  readonly source: BatchSource;
  /** Lines the batcher dropped as duplicates inside the batch. */
  readonly duplicatesInBatch: number;
  /** Lines the batcher quarantined (all reasons). */
  readonly quarantined: number;
  /**
   * Times of the batch's staged rows as sorted disjoint ranges (`timeRangesOfBatch` of its
   * manifest); `[]` when it has none. Absent when unknown: the load then restricts the target
   * to the stage's time range instead of to these ranges.
   */
  readonly timeRanges?: readonly TimeRange[];
  /** ISO time the batch's oldest landing file landed (`oldestLandedAt` of its manifest). */
  readonly landedAt?: string;
}

export interface LoadStatementsInput {
  readonly dialect: Dialect;
  readonly schema: string;
  readonly projectId: string;
  readonly feed: Feed;
  readonly batches: readonly LoadBatch[];
  /**
   * Address of the combined COPY manifest. Omit it when none of the batches has a staged
   * part (every line was a duplicate or quarantined): there is nothing to COPY, but the
   * batches still get their ledger rows.
   */
  readonly copyManifestUrl?: string;
  /** IAM role Redshift assumes to read the staged files. @default - the role set as the cluster's default (`IAM_ROLE default`) */
  readonly copyRoleArn?: string;
  /** Loader id: written to the ledger; also the Data API ClientToken. */
  readonly loadId: string;
  /** Format options of the staged CSV (REDSHIFT_COPY_FORMAT_OPTIONS). */
  readonly formatOptions: string;
}

/** Temporary tables of the load transaction; created and dropped inside it. */
export const STAGE_TABLE = 'amplitude_export_stage';
export const UNIQUE_STAGE_TABLE = 'amplitude_export_stage_unique';

const LOAD_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** The most statements `buildLoadStatements` returns, whatever the number of batches. */
export const MAX_LOAD_STATEMENTS = 11;

export function assertLoadId(loadId: string): string {
  if (!LOAD_ID_PATTERN.test(loadId)) {
    throw new Error(`Invalid load id ${JSON.stringify(loadId)}: expected ${LOAD_ID_PATTERN}.`);
  }
  return loadId;
}

/**
 * The load transaction for one feed: every statement runs in ONE transaction, so either all
 * of the batches' rows and ledger rows are committed or none are. The statement count does
 * not grow with the number of batches (the Data API takes at most 40 per transaction).
 *
 * 1. Lock the ledger first: loads and backfills of the same schema run one after another,
 *    and each sees what the previous one committed (the lock is taken before any snapshot).
 * 2. COPY every batch's parts into a temporary stage (each row carries its batch id).
 * 3. Drop stage rows of batches the ledger already has (a replay, or a concurrent loader).
 * 4. Drop stage rows of people on the erasure list (`forget`), counted per batch for the
 *    ledger's `rows_erased`: no replay, backfill or re-export brings an erased person back.
 * 5. Keep one row per key across the staged batches.
 * 6. Drop rows whose key is already in the target. The target side is restricted to the times
 *    of the staged rows (`loadTimeRead`: the batch manifests' ranges, each from a row's time to
 *    a row's time), written as literal ranges of the sort key: a row's time is part of the
 *    source record, so a duplicate has exactly its original's time, and a range of literals is
 *    what lets Redshift skip the blocks outside it by their zone maps. Not the span from the
 *    earliest to the latest row, and not whole hours: one late row adds about its own block.
 * 7. Insert the rest, and write one ledger row per batch, including batches that ended with
 *    no rows, so a replay of any of them is recognised.
 *
 * On Redshift the stage is distributed like the target (DISTKEY amplitude_id) and step 6 joins
 * on amplitude_id as well as the key, so each slice compares its own rows only.
 */
export function buildLoadStatements(input: LoadStatementsInput): string[] {
  const { dialect, schema, projectId, feed, batches } = input;
  if (batches.length === 0) throw new Error('buildLoadStatements needs at least one batch.');
  const seen = new Set<string>();
  for (const batch of batches) {
    assertBatchId(batch.batchId);
    if (seen.has(batch.batchId)) throw new Error(`Batch ${batch.batchId} is listed twice in one load.`);
    seen.add(batch.batchId);
  }
  const loadId = assertLoadId(input.loadId);
  const target = targetTable(schema, feed, projectId);
  const ledger = ledgerTable(schema);
  const stage = quoteIdent(STAGE_TABLE);
  const unique = quoteIdent(UNIQUE_STAGE_TABLE);
  const batchIdColumn = quoteIdent(BATCH_ID_COLUMN);
  const columns = columnsOf(feed);
  const columnList = columns.map((column) => quoteIdent(column.name)).join(', ');
  const keys = keyColumnsOf(feed).map((column) => quoteIdent(column.name));
  const time = quoteIdent(timeColumnOf(feed));
  const batchIdType = dialect === 'redshift' ? 'VARCHAR(128)' : 'character varying(128)';

  const statements = [lockLedgerSql(dialect, schema)];

  // The target's distribution key (ddl.ts): a stage distributed the same way joins it without
  // moving rows between slices ("Choose the best distribution style": collocate tables on their
  // common join column, https://docs.aws.amazon.com/redshift/latest/dg/c_best-practices-best-dist-key.html;
  // DS_DIST_NONE in the plan, https://docs.aws.amazon.com/redshift/latest/dg/t_explain_plan_example.html).
  // An explicit distribution style also keeps COPY from running its ANALYZE of an AUTO-distributed
  // table, which COMPUPDATE OFF does not stop
  // (https://repost.aws/knowledge-center/redshift-fix-copy-analyze-statupdate-off).
  const distribution = dialect === 'redshift' ? `\nDISTKEY (${quoteIdent(DISTRIBUTION_COLUMN)})` : '';
  statements.push(
    `CREATE TEMPORARY TABLE ${stage} (\n${columns
      .map((column) => `  ${quoteIdent(column.name)} ${columnType(column, dialect)}`)
      .join(',\n')},\n  ${batchIdColumn} ${batchIdType}\n)${distribution}`,
  );

  if (input.copyManifestUrl !== undefined) {
    const role =
      input.copyRoleArn === undefined ? 'default' : quoteLiteral(input.copyRoleArn, 'COPY role ARN');
    // A temporary stage read once needs neither compression analysis nor optimizer statistics:
    // COMPUPDATE OFF and STATUPDATE OFF skip both ("Data load operations",
    // https://docs.aws.amazon.com/redshift/latest/dg/copy-parameters-data-load.html).
    statements.push(
      `COPY ${stage} (${columnList}, ${batchIdColumn})\nFROM ${quoteLiteral(input.copyManifestUrl, 'COPY manifest URL')}\nIAM_ROLE ${role}\nMANIFEST\n${input.formatOptions}\nCOMPUPDATE OFF STATUPDATE OFF`,
    );
  }

  const targetName = tableName(feed, projectId);
  // The ledger rows of this target table only: another project's table may have the same
  // batches (merged IDs are per organization) and must not hide them from this one.
  const alreadyLoaded = `SELECT ${quoteIdent('batch_id')} FROM ${ledger} WHERE ${ledgerRowsOf(targetName)}`;
  statements.push(`DELETE FROM ${stage} WHERE ${batchIdColumn} IN (${alreadyLoaded})`);
  statements.push(...dropErasedStageRowsStatements(schema, feed, { stage, batchIdColumn }));

  statements.push(
    `CREATE TEMPORARY TABLE ${unique}${distribution} AS\nSELECT ${columnList}, ${batchIdColumn}\nFROM (\n  SELECT ${columnList}, ${batchIdColumn},\n    ROW_NUMBER() OVER (PARTITION BY ${keys.join(', ')} ORDER BY ${batchIdColumn}) AS ${quoteIdent('key_rank')}\n  FROM ${stage}\n) AS ${quoteIdent('ranked')}\nWHERE ${quoteIdent('key_rank')} = 1`,
  );

  // Redshift's DELETE takes plain table names in USING (no alias); the target's columns are
  // then named by its table name, as in Redshift's own examples.
  const targetIdent = quoteIdent(targetName);
  const joinColumns = keys.includes(quoteIdent(DISTRIBUTION_COLUMN))
    ? keys
    : [quoteIdent(DISTRIBUTION_COLUMN), ...keys];
  const read = loadTimeRead(batches);
  statements.push(
    `DELETE FROM ${unique}\nUSING ${target}\nWHERE ${joinColumns
      .map((key) => `${targetIdent}.${key} = ${unique}.${key}`)
      .join('\n  AND ')}\n  AND ${timeRestriction(`${targetIdent}.${time}`, read, `${time}`, unique)}`,
  );

  statements.push(`INSERT INTO ${target} (${columnList})\nSELECT ${columnList} FROM ${unique}`);

  statements.push(
    ledgerInsertSql(input, { ledger, stage, unique, batchIdColumn, time, loadId, targetName, alreadyLoaded }),
  );

  statements.push(`DROP TABLE ${stage}, ${unique}, ${quoteIdent(ERASED_STAGE_TABLE)}`);
  return statements;
}

/** The column both target tables are distributed by (`redshiftTableAttributes` in ddl.ts). */
const DISTRIBUTION_COLUMN = 'amplitude_id';

/**
 * What of the target a load of these batches reads for duplicates (see `timeRead`), or
 * `undefined` when a batch's times are unknown.
 */
export function loadTimeRead(batches: readonly Pick<LoadBatch, 'timeRanges'>[]): TimeRead | undefined {
  return timeRead(batches.map((batch) => batch.timeRanges));
}

/**
 * The restriction of the target's time column: one literal closed range per range of the
 * staged rows' times, so Redshift can compare each 1 MB block's min and max with known values
 * ("Sort keys": a range-restricted predicate lets the query processor skip blocks by their min
 * and max, https://docs.aws.amazon.com/redshift/latest/dg/t_Sorting_data.html; "Choose the
 * best sort key": with the timestamp as the leading sort key column, queries skip entire
 * blocks outside the time range, https://docs.aws.amazon.com/redshift/latest/dg/c_best-practices-sort-key.html;
 * "use predicates to restrict the dataset as much as possible", and no functions in them,
 * https://docs.aws.amazon.com/redshift/latest/dg/c_designing-queries-best-practices.html).
 * Both ends are included and written with all six fraction digits: TIMESTAMP keeps 1
 * microsecond ("Datetime types", https://docs.aws.amazon.com/redshift/latest/dg/r_Datetime_types.html),
 * as does PostgreSQL's timestamp(6), so a row at exactly the earliest or latest time is read.
 * Not a join to a list of times: Redshift takes no VALUES list in FROM, and the values of a
 * table are not known when the scan is planned. Without known times, the stage's own range.
 */
function timeRestriction(column: string, read: TimeRead | undefined, time: string, unique: string): string {
  if (read === undefined || read.ranges.length === 0) {
    return `${column} BETWEEN (SELECT MIN(${time}) FROM ${unique}) AND (SELECT MAX(${time}) FROM ${unique})`;
  }
  const ranges = read.ranges.map(
    (range) => `${column} >= ${quoteLiteral(range.min)} AND ${column} <= ${quoteLiteral(range.max)}`,
  );
  return ranges.length === 1 ? ranges[0]! : `(\n    ${ranges.join('\n    OR ')}\n  )`;
}

function ledgerInsertSql(
  input: LoadStatementsInput,
  names: {
    ledger: string;
    stage: string;
    unique: string;
    batchIdColumn: string;
    time: string;
    loadId: string;
    targetName: string;
    alreadyLoaded: string;
  },
): string {
  const { ledger, stage, unique, batchIdColumn, time } = names;
  // Literals are cast to the type of the ledger column they end up in.
  const typeOf = (name: string) => columnType(ledgerColumn(name), input.dialect);
  // A derived table of literals (not VALUES, which Redshift does not accept in FROM).
  const batchRows = input.batches
    .map(
      (batch) =>
        `SELECT CAST(${quoteLiteral(batch.batchId)} AS ${typeOf('batch_id')}) AS batch_id, CAST(${quoteLiteral(batch.source)} AS ${typeOf('source')}) AS source, CAST(${integerLiteral(batch.duplicatesInBatch, 'duplicatesInBatch')} AS ${typeOf('duplicates_skipped')}) AS duplicates_in_batch, CAST(${integerLiteral(batch.quarantined, 'quarantined')} AS ${typeOf('quarantined')}) AS quarantined, CAST(${batch.landedAt === undefined ? 'NULL' : quoteLiteral(utcTimestampText(batch.landedAt))} AS ${typeOf('landed_at')}) AS landed_at`,
    )
    .join('\n  UNION ALL ');
  // Seconds from landing to this statement, moments before the commit: Redshift's GETDATE() is
  // the current statement's start, PostgreSQL's clock_timestamp() the current time (now() would
  // be the transaction's start).
  const delay =
    input.dialect === 'redshift'
      ? 'DATEDIFF(second, b.landed_at, GETDATE())'
      : `CAST(EXTRACT(EPOCH FROM (clock_timestamp() AT TIME ZONE 'UTC') - b.landed_at) AS bigint)`;
  const read = loadTimeRead(input.batches);
  const countLiteral = (value: number | undefined, type: string) =>
    `CAST(${value === undefined ? 'NULL' : integerLiteral(value, 'time read')} AS ${type})`;
  // Every ledger column in table order but loaded_at, which takes its default; the SELECT
  // below gives the values in this order.
  const ledgerColumns = LEDGER_COLUMNS.filter((column) => column.name !== 'loaded_at')
    .map((column) => quoteIdent(column.name))
    .join(', ');
  return `INSERT INTO ${ledger} (${ledgerColumns})
SELECT b.batch_id, ${quoteLiteral(input.feed)}, COALESCE(u.loaded_rows, 0),
  b.duplicates_in_batch + COALESCE(s.staged_rows, 0) - COALESCE(u.loaded_rows, 0),
  b.quarantined, ${quoteLiteral(names.loadId)}, b.source, s.min_time, s.max_time, ${quoteLiteral(names.targetName)},
  COALESCE(e.erased_rows, 0), b.landed_at, ${delay}, ${countLiteral(read?.hours, typeOf('hours_read'))}, ${countLiteral(read?.span, typeOf('hours_span'))}, ${countLiteral(read?.seconds, typeOf('seconds_read'))}
FROM (
  ${batchRows}
) AS b
LEFT JOIN (
  SELECT ${batchIdColumn} AS batch_id, COUNT(*) AS staged_rows, MIN(${time}) AS min_time, MAX(${time}) AS max_time
  FROM ${stage} GROUP BY ${batchIdColumn}
) AS s ON s.batch_id = b.batch_id
LEFT JOIN (
  SELECT ${batchIdColumn} AS batch_id, COUNT(*) AS loaded_rows FROM ${unique} GROUP BY ${batchIdColumn}
) AS u ON u.batch_id = b.batch_id
LEFT JOIN ${quoteIdent(ERASED_STAGE_TABLE)} AS e ON e.batch_id = b.batch_id
WHERE b.batch_id NOT IN (${names.alreadyLoaded})`;
}

/** Which of these tables exist in the schema (`table_name` column). */
export function existingTablesQuery(schema: string, tables: readonly string[]): string {
  if (tables.length === 0) throw new Error('existingTablesQuery needs at least one table name.');
  const list = tables.map((table) => quoteLiteral(assertIdentifier(table, 'table'))).join(', ');
  return `SELECT table_name FROM information_schema.tables WHERE table_schema = ${quoteLiteral(assertIdentifier(schema, 'schema'))} AND table_name IN (${list})`;
}

/** `2024-03-02 11:02:00.000` (UTC) of an ISO-8601 time, as a warehouse timestamp literal's text. */
function utcTimestampText(iso: string): string {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) throw new Error(`Expected an ISO-8601 landing time, got ${JSON.stringify(iso)}.`);
  return new Date(ms).toISOString().slice(0, 23).replace('T', ' ');
}
