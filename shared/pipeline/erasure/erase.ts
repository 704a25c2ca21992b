import { randomBytes } from 'node:crypto';
import { ConfigError } from '../../config/validate.ts';
import { columnsOf, type Feed, tableName } from '../../schema/columns.ts';
import {
  amplitudeIdList,
  buildErasureStatements,
  type ErasureRequest,
  erasedRowsCountQuery,
  erasedRowsPredicate,
  erasureResultQuery,
  exposedBatchesQuery,
  linkedAmplitudeIdsQuery,
  MERGE_HOPS,
  newErasureId,
} from '../../sql/erasure.ts';
import { parseUtc, type SqlRunner } from '../../warehouse/sql-runner.ts';

/** What identifies the person; at least one is set. */
export interface ErasureIdentifiers {
  readonly amplitudeId?: string;
  readonly userId?: string;
  readonly deviceId?: string;
}

export interface ErasureInput {
  readonly identifiers: ErasureIdentifiers;
  readonly reference: string;
}

const MAX_AMPLITUDE_ID = 2n ** 63n - 1n;
const REFERENCE_MAX_BYTES = 256;

function byteLimitOf(column: string): number {
  const limit = columnsOf('events').find((candidate) => candidate.name === column)?.byteLimit;
  if (limit === undefined) throw new Error(`The events table has no text column ${column}.`);
  return limit;
}

/**
 * Checks what an operator typed, before anything touches the warehouse. Identifiers are kept
 * as given (no trimming or case folding: the warehouse compares them byte for byte), so only
 * what can never match a stored value is refused. Errors name the flag (`flags`) and never
 * repeat the identifier (it is personal data).
 */
export function validateErasureInput(
  raw: { amplitudeId?: string; userId?: string; deviceId?: string; reference?: string },
  flags: { amplitudeId: string; userId: string; deviceId: string; reference: string },
): ErasureInput {
  const identifiers: { amplitudeId?: string; userId?: string; deviceId?: string } = {};
  if (raw.amplitudeId !== undefined) {
    if (
      !/^\d{1,19}$/.test(raw.amplitudeId) ||
      BigInt(raw.amplitudeId) > MAX_AMPLITUDE_ID ||
      BigInt(raw.amplitudeId) === 0n
    ) {
      throw new ConfigError(
        `${flags.amplitudeId} must be an Amplitude ID: a positive whole number of at most 19 digits (the amplitude_id column).`,
      );
    }
    identifiers.amplitudeId = BigInt(raw.amplitudeId).toString();
  }
  for (const [key, column] of [
    ['userId', 'user_id'],
    ['deviceId', 'device_id'],
  ] as const) {
    const value = raw[key];
    if (value === undefined) continue;
    const limit = byteLimitOf(column);
    if (value.length === 0 || value.includes('\u0000') || Buffer.byteLength(value) > limit) {
      throw new ConfigError(
        `${flags[key]} must be the ${column} exactly as Amplitude exports it: not empty, no NUL character, at most ${limit} bytes (longer values are stored cut, so they cannot be matched).`,
      );
    }
    identifiers[key] = value;
  }
  if (Object.keys(identifiers).length === 0) {
    throw new ConfigError(
      `Give the person to erase: ${flags.amplitudeId} N, ${flags.userId} U or ${flags.deviceId} D (several may be combined; all must identify the same person).`,
    );
  }
  const reference = raw.reference?.trim();
  if (
    !reference ||
    Buffer.byteLength(reference) > REFERENCE_MAX_BYTES ||
    /[\u0000-\u001f\u007f]/.test(reference)
  ) {
    throw new ConfigError(
      `${flags.reference} is required: the ticket or request id this erasure answers (1 to ${REFERENCE_MAX_BYTES} bytes, one line). It is shown by status, so it must not contain personal data.`,
    );
  }
  return { identifiers, reference };
}

export interface EraseOptions extends ErasureInput {
  readonly runner: SqlRunner;
  readonly schema: string;
  readonly projectId: string;
  readonly feeds: readonly Feed[];
  /** Count what would be removed; change nothing. */
  readonly dryRun?: boolean;
  readonly now: Date;
  /** @default - 8 random hex digits */
  readonly randomSuffix?: string;
}

export interface ErasedTable {
  readonly feed: Feed;
  readonly table: string;
  /** Rows removed (or, in a dry run, that would be removed). */
  readonly rows: number;
  /** Time range (event_time / merge_event_time) of those rows, ISO, when there were any. */
  readonly from?: string;
  readonly to?: string;
}

export interface ExposedBatch {
  readonly feed: Feed;
  readonly batchId: string;
  readonly loadedAt?: string;
}

export interface ErasureOutcome {
  readonly dryRun: boolean;
  /** Set when the request was recorded (not in a dry run). */
  readonly erasureId?: string;
  readonly reference: string;
  readonly identifiers: ErasureIdentifiers;
  readonly tables: readonly ErasedTable[];
  /** Amplitude IDs merged with the given one (their rows are in the counts). */
  readonly linkedAmplitudeIds: number;
  /** Loaded batches whose staged parts may still hold the removed rows. */
  readonly exposedBatches: readonly ExposedBatch[];
}

/**
 * Records an erasure request and removes the person's rows (one transaction under the ledger
 * lock), or, in a dry run, counts what that would remove. Afterwards, looks up which loaded
 * batches span the removed rows' time range: their staged files are outside the warehouse.
 */
export async function eraseFromWarehouse(options: EraseOptions): Promise<ErasureOutcome> {
  const counted = options.dryRun ? await countWithoutErasing(options) : await applyErasure(options);
  const exposedBatches: ExposedBatch[] = [];
  for (const table of counted.tables) {
    if (table.from === undefined || table.to === undefined) continue;
    const rows = await options.runner.query(
      exposedBatchesQuery(options.schema, table.table, new Date(table.from), new Date(table.to)),
    );
    for (const row of rows) {
      const loadedAt = isoOf(row.loaded_at);
      exposedBatches.push({
        feed: table.feed,
        batchId: String(row.batch_id),
        ...(loadedAt ? { loadedAt } : {}),
      });
    }
  }
  return {
    dryRun: options.dryRun === true,
    ...(counted.erasureId ? { erasureId: counted.erasureId } : {}),
    reference: options.reference,
    identifiers: options.identifiers,
    tables: counted.tables,
    linkedAmplitudeIds: counted.linkedAmplitudeIds,
    exposedBatches,
  };
}

type Counted = Pick<ErasureOutcome, 'erasureId' | 'tables' | 'linkedAmplitudeIds'>;

async function applyErasure(options: EraseOptions): Promise<Counted> {
  const erasureId = newErasureId(options.now, options.randomSuffix ?? randomBytes(4).toString('hex'));
  const request: ErasureRequest = {
    erasureId,
    reference: options.reference,
    projectId: options.projectId,
    requestedAt: options.now,
    ...options.identifiers,
  };
  const statements = buildErasureStatements({
    dialect: options.runner.dialect,
    schema: options.schema,
    feeds: options.feeds,
    request,
  });
  await options.runner.transaction(statements, { clientToken: erasureId });
  const [row] = await options.runner.query(erasureResultQuery(options.schema, erasureId));
  if (!row) {
    throw new Error(
      `The erasure transaction finished but its row ${erasureId} is not in ${options.schema}.erasures. Run the command again; if this repeats, check that nothing deletes from that table.`,
    );
  }
  return {
    erasureId,
    linkedAmplitudeIds: count(row.linked_amplitude_ids),
    tables: options.feeds.map((feed) =>
      erasedTable(
        options.projectId,
        feed,
        row[`${feed}_removed`],
        row[`${feed}_min_time`],
        row[`${feed}_max_time`],
      ),
    ),
  };
}

/** The same sets as the transaction, found with read queries: the merged-IDs graph hop by hop. */
async function countWithoutErasing(options: EraseOptions): Promise<Counted> {
  const { runner, schema, projectId, feeds, identifiers } = options;
  let covered: string[] = [];
  if (identifiers.amplitudeId !== undefined) {
    covered = [identifiers.amplitudeId];
    if (feeds.includes('merge_ids')) {
      for (let round = 0; round < MERGE_HOPS; round++) {
        const rows = await runner.query(linkedAmplitudeIdsQuery(schema, projectId, covered));
        const found = rows.map((row) => String(row.linked)).filter((id) => !covered.includes(id));
        if (found.length === 0) break;
        covered = [...covered, ...new Set(found)];
      }
    }
  }
  const idSet = covered.length > 0 ? amplitudeIdList(covered) : undefined;
  const tables: ErasedTable[] = [];
  for (const feed of feeds) {
    const predicate = erasedRowsPredicate(feed, identifiers, idSet);
    if (predicate === undefined) {
      tables.push(erasedTable(projectId, feed, 0, undefined, undefined));
      continue;
    }
    const [row] = await runner.query(erasedRowsCountQuery(schema, projectId, feed, predicate));
    tables.push(erasedTable(projectId, feed, row?.n, row?.lo, row?.hi));
  }
  return { tables, linkedAmplitudeIds: Math.max(0, covered.length - 1) };
}

function erasedTable(projectId: string, feed: Feed, rows: unknown, from: unknown, to: unknown): ErasedTable {
  const fromIso = isoOf(from);
  const toIso = isoOf(to);
  return {
    feed,
    table: tableName(feed, projectId),
    rows: count(rows),
    ...(fromIso ? { from: fromIso } : {}),
    ...(toIso ? { to: toIso } : {}),
  };
}

function count(value: unknown): number {
  const number = Number(value ?? 0);
  return Number.isFinite(number) ? number : 0;
}

function isoOf(value: unknown): string | undefined {
  return parseUtc(value)?.toISOString();
}
