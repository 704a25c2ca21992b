/**
 * What the transform can say about a line besides "here is the row": why a line was
 * quarantined, and which values were changed on the way in.
 */

/**
 * Why a line could not become a row. Machine-readable: batch manifests count quarantined
 * lines by these names and alarms can key on them.
 * - `malformed_json`: the line is not JSON.
 * - `not_an_object`: valid JSON, but not an object (array, string, number, ...).
 * - `missing_required`: a required column is absent, null or empty (event_time also when it
 *   cannot be computed from the seed rule).
 * - `invalid_type`: the value has the wrong JSON type for its column (e.g. an object where a
 *   string belongs, a fraction where an integer belongs, "abc" for a number).
 * - `invalid_timestamp`: a text timestamp that is not `YYYY-MM-DD[T ]HH:MM:SS[.ffffff]` or not a
 *   real calendar date and time.
 * - `out_of_range`: a number beyond its column type (signed 64-bit, finite double, years 1-9999),
 *   or an integer too large for a JSON number to carry exactly.
 * - `value_too_large`: a key column or a JSON column over its byte limit (neither may be cut).
 * - `unreadable_file`: the whole landing file could not be read (e.g. corrupt gzip); written by
 *   the batcher, never by the line transform.
 */
export const QUARANTINE_REASONS = [
  'malformed_json',
  'not_an_object',
  'missing_required',
  'invalid_type',
  'invalid_timestamp',
  'out_of_range',
  'value_too_large',
  'unreadable_file',
] as const;
export type QuarantineReason = (typeof QUARANTINE_REASONS)[number];

/**
 * Changes made to a line that still became a row. Counts are per value (string, key or
 * column), except `invalid_utf8`, which counts lines.
 * - `truncated`: a string cut to its column's byte limit at a character boundary.
 * - `nul_removed`: U+0000 removed from a string or object key (neither warehouse stores it).
 * - `unpaired_surrogate`: a lone UTF-16 surrogate (from a `\uD800`-style escape) replaced by
 *   U+FFFD; PostgreSQL's jsonb rejects them and UTF-8 cannot carry them.
 * - `invalid_utf8`: the line's bytes were not valid UTF-8; bad sequences became U+FFFD.
 * - `empty_as_null`: `""` in a number, boolean or timestamp column stored as NULL.
 * - `event_time_derived`: event_time was absent and computed by the seed rule.
 */
export const ADJUSTMENT_KINDS = [
  'truncated',
  'nul_removed',
  'unpaired_surrogate',
  'invalid_utf8',
  'empty_as_null',
  'event_time_derived',
] as const;
export type AdjustmentKind = (typeof ADJUSTMENT_KINDS)[number];
export type Adjustments = Readonly<Partial<Record<AdjustmentKind, number>>>;

export interface QuarantineFailure {
  readonly reason: QuarantineReason;
  /** Names the column or key and what was expected; never contains the value itself. */
  readonly detail: string;
}

/**
 * One line of `quarantine/<feed>/<batchId>.jsonl.gz`. `line` is the raw source line so an
 * operator can fix and replay it; quarantine files live in the encrypted staging bucket and
 * their contents must never be logged.
 */
export interface QuarantineRecord extends QuarantineFailure {
  /** Landing key the line came from. */
  readonly sourceKey: string;
  /** 1-based line number in the (decompressed) landing file; 0 for file-level records. */
  readonly lineNumber: number;
  readonly line: string;
}

export interface LineOrigin {
  readonly sourceKey: string;
  readonly lineNumber: number;
}

export function quarantineRecord(
  failure: QuarantineFailure,
  origin: LineOrigin,
  line: string,
): QuarantineRecord {
  return {
    reason: failure.reason,
    detail: failure.detail,
    sourceKey: origin.sourceKey,
    lineNumber: origin.lineNumber,
    line,
  };
}
