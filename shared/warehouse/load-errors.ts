import { quoteLiteral } from '../sql/identifiers.ts';
import { failureClassOf } from './failure-class.ts';
import type { LoadErrorDetail, LoadErrorDetails, LoadErrorSource, SqlRunner } from './sql-runner.ts';
import { statementRuleFor } from './statement-rules.ts';

/** What a failure report carries next to a batch: the details, or why there are none. */
export interface LoadErrorReport {
  readonly source?: LoadErrorSource;
  readonly details: readonly LoadErrorDetail[];
  readonly more?: boolean;
  /** Set when the details could not be read: the failure class and code of that, never secrets. */
  readonly unavailable?: string;
}

/** At most this many rows are read and reported per failed load. */
export const MAX_LOAD_ERROR_DETAILS = 20;
/** Redshift's error_message is up to 512 characters; reports keep less. */
const MAX_REASON = 300;
/**
 * Loads of more batches than this are narrowed to their first ones: the filter stays far
 * below the Data API's 100 KB per statement, and a failed group is loaded one batch per
 * transaction next, where each batch gets its own details.
 */
const MAX_FILTER_PREFIXES = 100;

export const WITHHELD_VALUE = '(value withheld)';

/**
 * The reason without the row's values. Redshift quotes the value it rejected
 * (`Invalid digit, Value 'a', Pos 0, Type: Integer`) or prints its bytes in hex
 * (`Bad UTF-8 hex sequence: a4 (error 3)`, `Invalid char: e0 a1 c7a4`: "Multibyte character
 * load errors", https://docs.aws.amazon.com/redshift/latest/dg/multi-byte-character-load-errors.html);
 * PostgreSQL quotes it in double quotes (`invalid input syntax for type bigint: "abc"`). Every
 * quoted stretch is cut, including one the column width truncated before its closing quote.
 */
export function withholdValues(text: string): string {
  const cut = withholdQuoted(text);
  return cut.length > MAX_REASON ? `${cut.slice(0, MAX_REASON)}...` : cut;
}

/** `withholdValues` without the length bound: for whole error messages of rejected data. */
export function withholdQuoted(text: string): string {
  return text
    .replace(/(hex sequence|Invalid char):\s*[0-9a-fA-F ]+/g, `$1: ${WITHHELD_VALUE} `)
    .replace(/'(?:[^']|'')*(?:'|$)/g, WITHHELD_VALUE)
    .replace(/"(?:[^"]|"")*(?:"|$)/g, WITHHELD_VALUE)
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * True when a failed load's text says COPY rejected rows (the `CopyRejectedData` rule: Redshift's
 * "Check 'sys_load_error_detail' / 'stl_load_errors' system table for details", PostgreSQL's
 * SQLSTATE classes 22 and 23). The same test for the live loader (its error's message) and the
 * backfill (the chunk's cause).
 */
export function isRejectedData(errorText: string): boolean {
  return statementRuleFor(errorText).code === 'CopyRejectedData';
}

/** `s3://bucket/staging/events/2024-03-01/ev-1/` for `.../ev-1/part-00000.csv.gz`. */
function folderOf(url: string): string {
  return url.slice(0, url.lastIndexOf('/') + 1);
}

/**
 * The rows of the newest COPY that failed on these files. A system table has one row per
 * rejected line of a load (STL_LOAD_ERRORS keeps at most 20 per slice); only the newest load's
 * rows are read, so an earlier attempt of the same batch does not show twice.
 *
 * The filter is on the staged files' folders (one per batch), not on the query id: the Data
 * API's RedshiftQueryId is STL_QUERY's `query`, which "is not the same identifier" as the
 * `query_id` of the SYS views (https://docs.aws.amazon.com/redshift/latest/dg/r_STL_QUERY.html),
 * and the backfill's summary Lambda may not describe the state machine's statements anyway.
 * LEFT(...) = '<folder>' rather than LIKE, since batch ids hold `_`, a LIKE wildcard.
 *
 * Columns (raw_line, raw_field_value and the like are never selected):
 * - SYS_LOAD_ERROR_DETAIL (Serverless and current provisioned clusters): query_id, start_time,
 *   file_name, line_number, column_name, error_code, error_message
 *   (https://docs.aws.amazon.com/redshift/latest/dg/SYS_LOAD_ERROR_DETAIL.html);
 * - STL_LOAD_ERRORS (provisioned only): query, starttime, filename, line_number, colname,
 *   err_code, err_reason (https://docs.aws.amazon.com/redshift/latest/dg/r_STL_LOAD_ERRORS.html).
 */
export function loadErrorDetailsQuery(
  source: Exclude<LoadErrorSource, 'postgresql'>,
  files: readonly string[],
): string {
  const folders = [...new Set(files.map(folderOf))].slice(0, MAX_FILTER_PREFIXES);
  if (folders.length === 0) throw new Error('loadErrorDetailsQuery needs at least one staged file.');
  const c =
    source === 'sys_load_error_detail'
      ? {
          table: 'sys_load_error_detail',
          query: 'query_id',
          file: 'file_name',
          column: 'column_name',
          code: 'error_code',
          reason: 'error_message',
        }
      : {
          table: 'stl_load_errors',
          query: 'query',
          file: 'filename',
          column: 'colname',
          code: 'err_code',
          reason: 'err_reason',
        };
  const filter = `(${folders
    .map(
      (folder) => `LEFT(TRIM(${c.file}), ${folder.length}) = ${quoteLiteral(folder, 'staged file folder')}`,
    )
    .join(' OR ')})`;
  return (
    `SELECT TRIM(${c.file}) AS file_name, line_number, TRIM(${c.column}) AS column_name, ` +
    `${c.code} AS error_code, TRIM(${c.reason}) AS error_message ` +
    `FROM ${c.table} WHERE ${c.query} = (SELECT MAX(${c.query}) FROM ${c.table} WHERE ${filter}) AND ${filter} ` +
    `ORDER BY file_name, line_number LIMIT ${MAX_LOAD_ERROR_DETAILS + 1}`
  );
}

/** Rows of `loadErrorDetailsQuery` as details, values withheld, at most MAX_LOAD_ERROR_DETAILS. */
export function loadErrorDetailsOf(
  source: LoadErrorSource,
  rows: readonly Record<string, unknown>[],
): LoadErrorDetails {
  const details = rows.slice(0, MAX_LOAD_ERROR_DETAILS).map((row): LoadErrorDetail => {
    const line = Number(row.line_number);
    const column = typeof row.column_name === 'string' ? row.column_name.trim() : '';
    return {
      file: String(row.file_name ?? '').trim(),
      ...(Number.isSafeInteger(line) && line > 0 ? { line } : {}),
      ...(column ? { column } : {}),
      code: String(row.error_code ?? '').trim(),
      reason: withholdValues(String(row.error_message ?? '')),
    };
  });
  return { source, details, ...(rows.length > MAX_LOAD_ERROR_DETAILS ? { more: true } : {}) };
}

/** True for the error a missing SYS_LOAD_ERROR_DETAIL view gives (a cluster without the SYS views). */
export function isMissingView(error: unknown, view: string): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return (code === 'MissingObject' || code === '42P01') && message.toLowerCase().includes(view.toLowerCase());
}

/**
 * Reads the details of a load that failed, through the Data API on Redshift: the SYS view
 * first, STL_LOAD_ERRORS where the view does not exist.
 */
export async function readRedshiftLoadErrorDetails(
  query: (sql: string) => Promise<Record<string, unknown>[]>,
  files: readonly string[],
): Promise<LoadErrorDetails> {
  try {
    return loadErrorDetailsOf(
      'sys_load_error_detail',
      await query(loadErrorDetailsQuery('sys_load_error_detail', files)),
    );
  } catch (error) {
    if (!isMissingView(error, 'sys_load_error_detail')) throw error;
  }
  return loadErrorDetailsOf('stl_load_errors', await query(loadErrorDetailsQuery('stl_load_errors', files)));
}

/**
 * PostgreSQL's own report of a rejected COPY row: the error's `where` reads
 * `COPY <table>, line 3, column event_time: "<value>"`, whose line counts lines of the one
 * staged file being copied (each file is its own COPY FROM STDIN). The value is dropped.
 */
export function postgresLoadErrorDetail(
  file: string,
  error: { readonly code?: unknown; readonly message?: unknown; readonly where?: unknown },
): LoadErrorDetail {
  const where = typeof error.where === 'string' ? error.where : '';
  const match = /COPY [^,]+, line (\d+)(?:, column ([^:]+))?/.exec(where);
  return {
    file,
    ...(match ? { line: Number(match[1]) } : {}),
    ...(match?.[2] ? { column: match[2].trim() } : {}),
    code: typeof error.code === 'string' ? error.code : 'unknown',
    reason: withholdValues(typeof error.message === 'string' ? error.message : ''),
  };
}

/**
 * The load error report of a failed load, for the failure report next to its batches; `undefined`
 * when the failure is not COPY rejecting rows. Reading the details never changes the failure:
 * when it fails, the report says the details are unavailable and why (its class and code).
 */
export async function loadErrorReportOf(
  runner: Pick<SqlRunner, 'loadErrorDetails'>,
  failed: { readonly errorText: string; readonly statementId?: string; readonly files: readonly string[] },
): Promise<LoadErrorReport | undefined> {
  if (!isRejectedData(failed.errorText)) return undefined;
  if (failed.files.length === 0) {
    return { details: [], unavailable: 'The load had no staged files to look up.' };
  }
  try {
    const found = await runner.loadErrorDetails({
      ...(failed.statementId ? { statementId: failed.statementId } : {}),
      files: failed.files,
    });
    return { source: found.source, details: found.details, ...(found.more ? { more: true } : {}) };
  } catch (error) {
    const name = error instanceof Error ? error.name : 'Error';
    const code = (error as { code?: unknown } | undefined)?.code;
    const message = error instanceof Error ? error.message : String(error);
    return {
      details: [],
      unavailable: `The load error details could not be read (${failureClassOf(error)} ${typeof code === 'string' ? code : name}: ${withholdValues(message)}). The batch failure stands as reported; look the rows up in SYS_LOAD_ERROR_DETAIL or STL_LOAD_ERRORS by the staged file names.`,
    };
  }
}

/** The details of these files only: what goes into one batch's record. */
export function reportForFiles(report: LoadErrorReport, files: ReadonlySet<string>): LoadErrorReport {
  if (report.unavailable !== undefined) return report;
  return { ...report, details: report.details.filter((detail) => files.has(detail.file)) };
}
