import { FEEDS, tableName } from '#shared/schema/columns.ts';
import { ledgerTable } from '#shared/sql/ddl.ts';
import { recentErasuresQuery } from '#shared/sql/erasure.ts';
import { integerLiteral, quoteIdent, quoteLiteral } from '#shared/sql/identifiers.ts';
import { UNKNOWN_TARGET } from '#shared/sql/ledger.ts';
import type { SqlRunner } from '#shared/warehouse/sql-runner.ts';
import { parseUtc } from './format.ts';

/** One load transaction, from its ledger rows (one per batch). */
export interface LedgerLoad {
  readonly loadId: string;
  readonly feed: string;
  /** `live` or `backfill`. */
  readonly source: string;
  readonly batches: number;
  readonly rowsLoaded: number;
  readonly duplicatesSkipped: number;
  readonly quarantined: number;
  /** Staged rows of people on the erasure list that the load dropped. */
  readonly rowsErased: number;
  readonly loadedAt?: Date;
}

export interface LedgerFeed {
  readonly feed: string;
  readonly lastLoadAt?: Date;
  /** Newest time-column value (event_time / merge_event_time) of any loaded batch. */
  readonly newestTime?: Date;
  readonly rowsLoaded: number;
}

export interface LedgerView {
  readonly loads: readonly LedgerLoad[];
  readonly feeds: readonly LedgerFeed[];
}

const column = (name: string) => quoteIdent(name);

/**
 * The ledger rows of one project's tables (and rows from before the ledger knew its table):
 * a schema may hold several projects' tables, and one stack's status shows its own loads.
 * No restriction for a stack that does not say its project (deployed by an older version).
 */
function projectRows(projectId: string | undefined): string {
  if (projectId === undefined) return '';
  const targets = [...FEEDS.map((feed) => tableName(feed, projectId)), UNKNOWN_TARGET];
  return ` WHERE ${column('target_table')} IN (${targets.map((target) => quoteLiteral(target)).join(', ')})`;
}

/** The newest load transactions: the ledger is small (a row per batch), so a sort of it is cheap. */
export function recentLoadsQuery(schema: string, limit: number, projectId?: string): string {
  return (
    `SELECT ${column('load_id')}, ${column('feed')}, ${column('source')}, COUNT(*) AS batches, ` +
    `SUM(${column('rows_loaded')}) AS rows_loaded, SUM(${column('duplicates_skipped')}) AS duplicates_skipped, ` +
    `SUM(${column('quarantined')}) AS quarantined, SUM(${column('rows_erased')}) AS rows_erased, ` +
    `MAX(${column('loaded_at')}) AS loaded_at ` +
    `FROM ${ledgerTable(schema)}${projectRows(projectId)} GROUP BY ${column('load_id')}, ${column('feed')}, ${column('source')} ` +
    `ORDER BY loaded_at DESC LIMIT ${integerLiteral(limit, 'limit')}`
  );
}

export function feedTotalsQuery(schema: string, projectId?: string): string {
  return (
    `SELECT ${column('feed')}, MAX(${column('loaded_at')}) AS last_loaded_at, MAX(${column('max_time')}) AS newest_time, ` +
    `SUM(${column('rows_loaded')}) AS rows_loaded FROM ${ledgerTable(schema)}${projectRows(projectId)} GROUP BY ${column('feed')}`
  );
}

function count(value: unknown): number {
  const number = Number(value ?? 0);
  return Number.isFinite(number) ? number : 0;
}

function withDate<K extends string>(key: K, value: unknown): Partial<Record<K, Date>> {
  const date = parseUtc(value);
  return date ? ({ [key]: date } as Record<K, Date>) : {};
}

/** Two read queries on the ledger table, for one project's tables when `projectId` is given. */
export async function readLedger(
  runner: SqlRunner,
  schema: string,
  limit: number,
  projectId?: string,
): Promise<LedgerView> {
  const loads = await runner.query(recentLoadsQuery(schema, limit, projectId));
  const feeds = await runner.query(feedTotalsQuery(schema, projectId));
  return {
    loads: loads.map((row) => ({
      loadId: String(row.load_id),
      feed: String(row.feed),
      source: String(row.source),
      batches: count(row.batches),
      rowsLoaded: count(row.rows_loaded),
      duplicatesSkipped: count(row.duplicates_skipped),
      quarantined: count(row.quarantined),
      rowsErased: count(row.rows_erased),
      ...withDate('loadedAt', row.loaded_at),
    })),
    feeds: feeds.map((row) => ({
      feed: String(row.feed),
      rowsLoaded: count(row.rows_loaded),
      ...withDate('lastLoadAt', row.last_loaded_at),
      ...withDate('newestTime', row.newest_time),
    })),
  };
}

/** One erasure request as `status` shows it: which kinds of identifier, never their values. */
export interface ErasureSummary {
  readonly erasureId: string;
  readonly reference: string;
  readonly projectId: string;
  readonly identifiers: readonly ('amplitude_id' | 'user_id' | 'device_id')[];
  readonly linkedAmplitudeIds: number;
  /** Null for a feed the deployment does not export. */
  readonly eventsRemoved: number | null;
  readonly mergeIdsRemoved: number | null;
  readonly requestedAt?: Date;
  readonly appliedAt?: Date;
}

export interface ErasureView {
  readonly total: number;
  readonly recent: readonly ErasureSummary[];
}

/** The newest erasure requests of the schema, and how many there are. */
export async function readErasures(runner: SqlRunner, schema: string, limit: number): Promise<ErasureView> {
  const rows = await runner.query(recentErasuresQuery(schema, limit));
  const optionalCount = (value: unknown) => (value === null || value === undefined ? null : count(value));
  return {
    total: count(rows[0]?.total),
    recent: rows.map((row) => ({
      erasureId: String(row.erasure_id),
      reference: String(row.reference),
      projectId: String(row.project_id),
      identifiers: (['amplitude_id', 'user_id', 'device_id'] as const).filter(
        (kind) => count(row[`has_${kind}`]) === 1,
      ),
      linkedAmplitudeIds: count(row.linked_amplitude_ids),
      eventsRemoved: optionalCount(row.events_removed),
      mergeIdsRemoved: optionalCount(row.merge_ids_removed),
      ...withDate('requestedAt', row.requested_at),
      ...withDate('appliedAt', row.applied_at),
    })),
  };
}
