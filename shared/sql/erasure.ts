import { type Feed, timeColumnOf } from '../schema/columns.ts';
import {
  ERASED_ID_COLUMNS,
  ERASURE_COLUMNS,
  erasedIdsTable,
  erasuresTable,
  ledgerTable,
  targetTable,
} from './ddl.ts';
import type { Dialect } from './dialect.ts';
import { integerLiteral, quoteIdent, quoteLiteral, SqlIdentifierError } from './identifiers.ts';
import { ledgerRowsOf, lockLedgerSql } from './ledger.ts';

/**
 * One erasure request as the warehouse records it. At least one identifier is set; all of
 * them identify the same person, so a row matching ANY of them is removed.
 */
export interface ErasureRequest {
  /** Made by the client (`newErasureId`); the primary key and the Data API ClientToken. */
  readonly erasureId: string;
  readonly reference: string;
  readonly projectId: string;
  /** Decimal digits (a signed 64-bit value), kept as text so no precision is lost. */
  readonly amplitudeId?: string;
  readonly userId?: string;
  readonly deviceId?: string;
  readonly requestedAt: Date;
}

export interface ErasureStatementsInput {
  readonly dialect: Dialect;
  readonly schema: string;
  /** Feeds the deployment exports: only their tables exist. */
  readonly feeds: readonly Feed[];
  readonly request: ErasureRequest;
}

/** Temporary table of the erasure transaction: the Amplitude IDs it covers. */
export const ERASURE_IDS_TABLE = 'amplitude_export_erasure_ids';

/**
 * How far the merged-IDs graph is followed from the given Amplitude ID. Amplitude merges
 * every ID of a user into one original ID (`merged_amplitude_id` -> `amplitude_id`,
 * https://amplitude.com/docs/data/sources/amplitude-id-assignment), so the IDs of one person
 * are at most two hops apart (given merged ID -> original -> the other merged IDs). The
 * closure is followed in both directions and transitively, up to this bound, so longer
 * chains (a merge of already merged users) are covered too; each hop is one statement.
 */
export const MERGE_HOPS = 6;

const ERASURE_ID_PATTERN = /^er-[a-z0-9-]{1,60}$/;

export function assertErasureId(erasureId: string): string {
  if (!ERASURE_ID_PATTERN.test(erasureId)) {
    throw new SqlIdentifierError(
      `Invalid erasure id ${JSON.stringify(erasureId)}: expected ${ERASURE_ID_PATTERN}.`,
    );
  }
  return erasureId;
}

/** `er-20260302t060000-1a2b3c4d`: sortable by time, unique enough to be a ClientToken. */
export function newErasureId(now: Date, random: string): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]|\.\d{3}Z$/g, '')
    .toLowerCase();
  return assertErasureId(`er-${stamp}-${random.toLowerCase()}`);
}

/**
 * A string literal for any text, the same in both dialects. Quotes are doubled. A backslash
 * is an escape character in Redshift literals and a plain character in PostgreSQL ones
 * (standard_conforming_strings), so it is written as CHR(92) instead, which both read the same
 * way ("CHR function": https://docs.aws.amazon.com/redshift/latest/dg/r_CHR.html). Used for
 * identifiers people give, which may hold any character but NUL (the transform removes NULs,
 * so no stored value has one).
 */
export function textLiteral(value: string, what = 'value'): string {
  if (value.includes('\u0000')) {
    throw new SqlIdentifierError(`Invalid ${what}: it contains a NUL character, which no stored value has.`);
  }
  return value
    .split('\\')
    .map((piece) => quoteLiteral(piece, what))
    .join(' || CHR(92) || ');
}

function timestampLiteral(date: Date): string {
  return `CAST(${quoteLiteral(date.toISOString().replace('T', ' ').replace('Z', ''))} AS TIMESTAMP)`;
}

const ident = (name: string) => quoteIdent(name);

/**
 * The rows of one feed's table that belong to the person. `amplitudeIds` is SQL for the set
 * of Amplitude IDs the request covers: a subquery in the transaction, a list of literals in a
 * dry run. Events match on any identifier; merged-ID rows on either of their two IDs.
 */
export function erasedRowsPredicate(
  feed: Feed,
  identifiers: { readonly userId?: string; readonly deviceId?: string },
  amplitudeIds: string | undefined,
): string | undefined {
  const parts: string[] = [];
  if (feed === 'events') {
    if (amplitudeIds !== undefined) parts.push(`${ident('amplitude_id')} IN (${amplitudeIds})`);
    if (identifiers.userId !== undefined)
      parts.push(`${ident('user_id')} = ${textLiteral(identifiers.userId, 'user id')}`);
    if (identifiers.deviceId !== undefined)
      parts.push(`${ident('device_id')} = ${textLiteral(identifiers.deviceId, 'device id')}`);
  } else if (amplitudeIds !== undefined) {
    parts.push(
      `${ident('amplitude_id')} IN (${amplitudeIds})`,
      `${ident('merged_amplitude_id')} IN (${amplitudeIds})`,
    );
  }
  return parts.length === 0 ? undefined : `(${parts.join(' OR ')})`;
}

/**
 * Applying an erasure request: ONE transaction that records the request with what it removed
 * and removes the person's rows from the events and merged-IDs tables.
 *
 * 1. The same ledger LOCK as every load: loads and erasures run one after another, so no load
 *    in flight can insert the person's rows after they were deleted, and every later load
 *    sees the committed erasure and drops them (the load transaction filters on this list).
 * 2. The Amplitude IDs covered: the given one, then MERGE_HOPS rounds of "IDs merged with any
 *    ID found so far", in either direction, read from the merged-IDs table before its rows go.
 * 3. The erasure row, with the counts and time ranges of the rows about to be deleted (counted
 *    under the lock, so they are exactly what the DELETEs remove).
 * 4. DELETE ... WHERE with IN subqueries; Redshift accepts a subquery in the WHERE clause of
 *    DELETE in place of USING ("DELETE": https://docs.aws.amazon.com/redshift/latest/dg/r_DELETE.html).
 *    Redshift only marks the rows deleted; automatic VACUUM DELETE reclaims the blocks later.
 * 5. The covered Amplitude IDs, for later loads.
 *
 * A request that matches nothing still gets its row: the person may appear in a later export.
 */
export function buildErasureStatements(input: ErasureStatementsInput): string[] {
  const { dialect, schema, feeds, request } = input;
  const erasureId = assertErasureId(request.erasureId);
  if (request.amplitudeId === undefined && request.userId === undefined && request.deviceId === undefined) {
    throw new Error('An erasure request needs at least one identifier.');
  }
  const ids = ident(ERASURE_IDS_TABLE);
  const idColumn = ident('amplitude_id');
  const idSet = `SELECT ${idColumn} FROM ${ids}`;
  const hasAmplitudeId = request.amplitudeId !== undefined;
  const bigint = dialect === 'redshift' ? 'BIGINT' : 'bigint';

  const statements = [
    lockLedgerSql(dialect, schema),
    `CREATE TEMPORARY TABLE ${ids} (${idColumn} ${bigint})`,
  ];
  if (hasAmplitudeId) {
    statements.push(`INSERT INTO ${ids} (${idColumn}) VALUES (${amplitudeIdLiteral(request.amplitudeId)})`);
    if (feeds.includes('merge_ids')) {
      const merges = targetTable(schema, 'merge_ids', request.projectId);
      const hop =
        `INSERT INTO ${ids} (${idColumn})\nSELECT DISTINCT ${ident('linked')}.${idColumn} FROM (\n` +
        `  SELECT ${ident('merged_amplitude_id')} AS ${idColumn} FROM ${merges} WHERE ${idColumn} IN (${idSet})\n` +
        '  UNION\n' +
        `  SELECT ${idColumn} FROM ${merges} WHERE ${ident('merged_amplitude_id')} IN (${idSet})\n` +
        `) AS ${ident('linked')}\nWHERE ${ident('linked')}.${idColumn} NOT IN (${idSet})`;
      for (let round = 0; round < MERGE_HOPS; round++) statements.push(hop);
    }
  }

  const predicates = new Map<Feed, string | undefined>(
    feeds.map((feed) => [feed, erasedRowsPredicate(feed, request, hasAmplitudeId ? idSet : undefined)]),
  );
  statements.push(erasureRowSql(input, predicates, ids));
  for (const [feed, predicate] of predicates) {
    if (predicate !== undefined) {
      statements.push(`DELETE FROM ${targetTable(schema, feed, request.projectId)} WHERE ${predicate}`);
    }
  }
  if (hasAmplitudeId) {
    statements.push(
      `INSERT INTO ${erasedIdsTable(schema)} (${ERASED_ID_COLUMNS.map((column) => ident(column.name)).join(', ')})\n` +
        `SELECT ${quoteLiteral(erasureId)}, ${idColumn} FROM ${ids}`,
    );
  }
  statements.push(`DROP TABLE ${ids}`);
  return statements;
}

function amplitudeIdLiteral(amplitudeId: string | undefined): string {
  if (amplitudeId === undefined || !/^-?\d{1,19}$/.test(amplitudeId)) {
    throw new SqlIdentifierError(
      `Invalid Amplitude ID ${JSON.stringify(amplitudeId)}: expected a whole number.`,
    );
  }
  return `CAST(${amplitudeId} AS BIGINT)`;
}

function erasureRowSql(
  input: ErasureStatementsInput,
  predicates: ReadonlyMap<Feed, string | undefined>,
  ids: string,
): string {
  const { schema, request } = input;
  const text = (value: string | undefined, what: string, type: string) =>
    value === undefined ? `CAST(NULL AS ${type})` : `CAST(${textLiteral(value, what)} AS ${type})`;
  const typeOf = (name: string) => {
    const column = ERASURE_COLUMNS.find((candidate) => candidate.name === name);
    if (!column) throw new Error(`No erasure column ${name}.`);
    return input.dialect === 'redshift' ? column.redshiftType : column.postgresType;
  };
  // Derived tables of aggregates, cross joined: one row whatever matched.
  const sources = [`(SELECT COUNT(*) AS ${ident('n')} FROM ${ids}) AS ${ident('covered')}`];
  const perFeed: string[] = [];
  for (const feed of ['events', 'merge_ids'] as const) {
    if (!predicates.has(feed)) {
      perFeed.push('CAST(NULL AS BIGINT)', 'CAST(NULL AS TIMESTAMP)', 'CAST(NULL AS TIMESTAMP)');
      continue;
    }
    const predicate = predicates.get(feed);
    const time = ident(timeColumnOf(feed));
    const alias = ident(feed);
    sources.push(
      `(SELECT COUNT(*) AS ${ident('n')}, MIN(${time}) AS ${ident('lo')}, MAX(${time}) AS ${ident('hi')} FROM ${targetTable(schema, feed, request.projectId)} WHERE ${predicate ?? '1 = 0'}) AS ${alias}`,
    );
    perFeed.push(`${alias}.${ident('n')}`, `${alias}.${ident('lo')}`, `${alias}.${ident('hi')}`);
  }
  const covered = `${ident('covered')}.${ident('n')}`;
  const values = [
    quoteLiteral(assertErasureId(request.erasureId)),
    text(request.reference, 'reference', typeOf('reference')),
    quoteLiteral(request.projectId),
    request.amplitudeId === undefined ? 'CAST(NULL AS BIGINT)' : amplitudeIdLiteral(request.amplitudeId),
    text(request.userId, 'user id', typeOf('user_id')),
    text(request.deviceId, 'device id', typeOf('device_id')),
    timestampLiteral(request.requestedAt),
    // The given ID is in the covered set too; only the others are "linked".
    request.amplitudeId === undefined ? '0' : `${covered} - 1`,
    ...perFeed,
  ];
  const columns = ERASURE_COLUMNS.filter((column) => column.name !== 'applied_at').map((column) =>
    ident(column.name),
  );
  return `INSERT INTO ${erasuresTable(schema)} (${columns.join(', ')})\nSELECT ${values.join(',\n  ')}\nFROM ${sources.join('\nCROSS JOIN ')}`;
}

/** The IDs directly merged with any of `amplitudeIds` (a dry run follows the graph with it). */
export function linkedAmplitudeIdsQuery(
  schema: string,
  projectId: string,
  amplitudeIds: readonly string[],
): string {
  const list = amplitudeIdList(amplitudeIds);
  const merges = targetTable(schema, 'merge_ids', projectId);
  return (
    `SELECT CAST(${ident('merged_amplitude_id')} AS VARCHAR(20)) AS ${ident('linked')} FROM ${merges} WHERE ${ident('amplitude_id')} IN (${list})\n` +
    `UNION\nSELECT CAST(${ident('amplitude_id')} AS VARCHAR(20)) FROM ${merges} WHERE ${ident('merged_amplitude_id')} IN (${list})`
  );
}

export function amplitudeIdList(amplitudeIds: readonly string[]): string {
  if (amplitudeIds.length === 0) throw new Error('amplitudeIdList needs at least one id.');
  return amplitudeIds.map((id) => amplitudeIdLiteral(id)).join(', ');
}

/** What a dry run reports for one feed: the rows the erasure would delete now. */
export function erasedRowsCountQuery(
  schema: string,
  projectId: string,
  feed: Feed,
  predicate: string,
): string {
  const time = ident(timeColumnOf(feed));
  return `SELECT COUNT(*) AS ${ident('n')}, MIN(${time}) AS ${ident('lo')}, MAX(${time}) AS ${ident('hi')} FROM ${targetTable(schema, feed, projectId)} WHERE ${predicate}`;
}

/** The recorded erasure: its counts, without reading the identifiers back. */
export function erasureResultQuery(schema: string, erasureId: string): string {
  const columns = [
    'erasure_id',
    'applied_at',
    'linked_amplitude_ids',
    'events_removed',
    'events_min_time',
    'events_max_time',
    'merge_ids_removed',
    'merge_ids_min_time',
    'merge_ids_max_time',
  ].map(ident);
  return `SELECT ${columns.join(', ')} FROM ${erasuresTable(schema)} WHERE ${ident('erasure_id')} = ${quoteLiteral(assertErasureId(erasureId))}`;
}

/**
 * The newest erasure requests for `status`: which kinds of identifier each had, never their
 * values, so the status output carries no personal data.
 */
export function recentErasuresQuery(schema: string, limit: number): string {
  const given = (name: string) =>
    `CASE WHEN ${ident(name)} IS NULL THEN 0 ELSE 1 END AS ${ident(`has_${name}`)}`;
  return (
    `SELECT ${['erasure_id', 'reference', 'project_id', 'requested_at', 'applied_at', 'linked_amplitude_ids', 'events_removed', 'merge_ids_removed'].map(ident).join(', ')}, ` +
    `${given('amplitude_id')}, ${given('user_id')}, ${given('device_id')}, COUNT(*) OVER () AS ${ident('total')} ` +
    `FROM ${erasuresTable(schema)} ORDER BY ${ident('applied_at')} DESC LIMIT ${integerLiteral(limit, 'limit')}`
  );
}

/**
 * Loaded batches of one table whose rows span part of [from, to] (the time range of the rows an
 * erasure removed): their staged parts and quarantine records may still hold the person's
 * lines until the staging bucket's lifecycle rules expire them.
 */
export function exposedBatchesQuery(schema: string, target: string, from: Date, to: Date): string {
  return (
    `SELECT ${ident('batch_id')}, ${ident('loaded_at')} FROM ${ledgerTable(schema)} ` +
    `WHERE ${ledgerRowsOf(target)} AND ${ident('min_time')} <= ${timestampLiteral(to)} ` +
    `AND ${ident('max_time')} >= ${timestampLiteral(from)} ORDER BY ${ident('loaded_at')}, ${ident('batch_id')}`
  );
}

/** Temporary table of a load transaction: erased rows per staged batch, for the ledger. */
export const ERASED_STAGE_TABLE = 'amplitude_export_stage_erased';

/**
 * Staged rows of people on the erasure list, for the load transaction: any event whose
 * Amplitude ID is covered by an erasure (the given IDs and those merged with them) or whose
 * user or device id was given in one; any merged-ID row with a covered ID on either side.
 * IN subqueries on the (small) erasure tables; NULL identifiers of a request never match
 * (`IN` ignores them, and they are filtered out besides).
 */
export function erasedStageRowsPredicate(schema: string, feed: Feed): string {
  const covered = `SELECT ${ident('amplitude_id')} FROM ${erasedIdsTable(schema)}`;
  if (feed === 'merge_ids') {
    return `(${ident('amplitude_id')} IN (${covered}) OR ${ident('merged_amplitude_id')} IN (${covered}))`;
  }
  const given = (column: string) =>
    `${ident(column)} IN (SELECT ${ident(column)} FROM ${erasuresTable(schema)} WHERE ${ident(column)} IS NOT NULL)`;
  return `(${ident('amplitude_id')} IN (${covered}) OR ${given('user_id')} OR ${given('device_id')})`;
}

/**
 * The two statements a load transaction runs after it dropped the batches the ledger already
 * has, and before it de-duplicates: count the erased people's staged rows per batch (the
 * ledger's `rows_erased`), then delete them from the stage. They run under the ledger lock
 * that `forget` takes too, so a load sees every erasure committed before it started.
 */
export function dropErasedStageRowsStatements(
  schema: string,
  feed: Feed,
  names: { readonly stage: string; readonly batchIdColumn: string },
): string[] {
  const predicate = erasedStageRowsPredicate(schema, feed);
  return [
    `CREATE TEMPORARY TABLE ${ident(ERASED_STAGE_TABLE)} AS\nSELECT ${names.batchIdColumn} AS ${ident('batch_id')}, COUNT(*) AS ${ident('erased_rows')}\nFROM ${names.stage} WHERE ${predicate}\nGROUP BY ${names.batchIdColumn}`,
    `DELETE FROM ${names.stage} WHERE ${predicate}`,
  ];
}
