/**
 * One converter per column, built once per feed: source JSON value -> the column's canonical
 * CSV text, `null` for SQL NULL, or `undefined` after recording why the line must be
 * quarantined. Details name the column and what was expected, never the value.
 *
 * Rules beyond columns.ts's ColumnKind:
 * - A missing key and JSON null are NULL in every column.
 * - `""` stays `""` in string columns, and is the JSON string `""` in json columns. In bigint,
 *   double, boolean, timestamp and epoch_ms columns it is stored as NULL and counted as
 *   `empty_as_null`: exports render unknown values as empty text often enough that losing the
 *   whole event over it would be worse. In a required column it still counts as missing.
 * - String columns take numbers and booleans as their text; objects and arrays are
 *   `invalid_type` (use a json column for structured values).
 * - bigint: JSON integers must be exact, i.e. within +-(2^53 - 1); larger integers lose digits
 *   in JSON.parse, so they are `out_of_range` unless sent as digit strings.
 * - double: shortest round-trip text (`String(n)`); -0 keeps its sign.
 * - json: `JSON.stringify` of the parsed value. Numbers inside are JS numbers, so integers
 *   beyond 2^53 lose precision and an overflowing literal such as 1e999 becomes `null`
 *   (JSON.stringify's rule); strings and keys keep every character but NUL.
 */
import type { Column } from '../schema/columns.ts';
import type { AdjustmentKind, QuarantineFailure, QuarantineReason } from './outcome.ts';
import { fitsUtf8, truncateUtf8 } from './text.ts';
import { canonicalTimestamp, epochMillisToMicros, formatTimestamp } from './timestamp.ts';

export type Converter = (value: unknown) => string | null | undefined;

/** Per-line scratch shared by every converter of one transformer (lines run one at a time). */
export class LineState {
  adjustments: Partial<Record<AdjustmentKind, number>> | null = null;
  failure: QuarantineFailure | null = null;

  reset(): void {
    this.adjustments = null;
    this.failure = null;
  }

  adjust(kind: AdjustmentKind): void {
    const counts = this.adjustments ?? {};
    counts[kind] = (counts[kind] ?? 0) + 1;
    this.adjustments = counts;
  }

  fail(reason: QuarantineReason, detail: string): undefined {
    this.failure = { reason, detail };
    return undefined;
  }
}

export function columnLabel(column: Column): string {
  return column.sourceKey === column.name || column.sourceKey === '*'
    ? column.name
    : `${column.name} (source key ${column.sourceKey})`;
}

export function jsonTypeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Optional sign then digits only: the integer strings a bigint column accepts. */
function isIntegerText(text: string): boolean {
  const length = text.length;
  let i = 0;
  const first = text.charCodeAt(0);
  if (first === 45 || first === 43) i = 1;
  if (i === length) return false;
  for (; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** JSON-number-like decimal text (optional sign, leading zeros allowed); no hex, no words. */
function isDecimalText(text: string): boolean {
  const length = text.length;
  let i = 0;
  let digits = 0;
  let c = text.charCodeAt(0);
  if (c === 45 || c === 43) c = text.charCodeAt(++i);
  while (c >= 48 && c <= 57) {
    digits++;
    c = text.charCodeAt(++i);
  }
  if (c === 46) {
    c = text.charCodeAt(++i);
    while (c >= 48 && c <= 57) {
      digits++;
      c = text.charCodeAt(++i);
    }
  }
  if (digits === 0) return false;
  if (c === 101 || c === 69) {
    c = text.charCodeAt(++i);
    if (c === 45 || c === 43) c = text.charCodeAt(++i);
    let exponentDigits = 0;
    while (c >= 48 && c <= 57) {
      exponentDigits++;
      c = text.charCodeAt(++i);
    }
    if (exponentDigits === 0) return false;
  }
  return i === length;
}

function doubleText(value: number): string {
  return value === 0 && 1 / value < 0 ? '-0' : String(value);
}

export function buildConverter(column: Column, state: LineState): Converter {
  const label = columnLabel(column);
  const wrongType = (value: unknown, expected: string): undefined =>
    state.fail('invalid_type', `${label}: expected ${expected}, got ${jsonTypeOf(value)}`);
  const emptyAsNull = (): null => {
    state.adjust('empty_as_null');
    return null;
  };

  switch (column.kind) {
    case 'string': {
      const limit = column.byteLimit ?? Number.POSITIVE_INFINITY;
      const withinLimit = (text: string): string | undefined => {
        if (fitsUtf8(text, limit)) return text;
        if (column.key) {
          return state.fail(
            'value_too_large',
            `${label}: ${Buffer.byteLength(text, 'utf8')} bytes, over the ${limit}-byte limit; a key column is never cut`,
          );
        }
        state.adjust('truncated');
        return truncateUtf8(text, limit);
      };
      return (value) => {
        if (typeof value === 'string') return withinLimit(value);
        if (value === undefined || value === null) return null;
        if (typeof value === 'number') {
          if (!Number.isFinite(value))
            return state.fail('out_of_range', `${label}: number overflows a double`);
          return withinLimit(String(value));
        }
        if (typeof value === 'boolean') return value ? 'true' : 'false';
        return wrongType(value, 'a string, number or boolean');
      };
    }

    case 'bigint': {
      const expected = 'an integer (JSON number or digit string)';
      return (value) => {
        if (typeof value === 'number') {
          if (Number.isSafeInteger(value)) return String(value);
          if (!Number.isFinite(value))
            return state.fail('out_of_range', `${label}: number overflows a double`);
          if (!Number.isInteger(value))
            return state.fail('invalid_type', `${label}: expected ${expected}, got a fraction`);
          return state.fail(
            'out_of_range',
            `${label}: integer beyond +-(2^53-1) cannot be read exactly from a JSON number; send it as a digit string`,
          );
        }
        if (value === undefined || value === null) return null;
        if (typeof value === 'string') {
          if (value.length === 0) return emptyAsNull();
          if (!isIntegerText(value))
            return state.fail('invalid_type', `${label}: expected ${expected}, got other text`);
          if (value.length <= 15) return String(Number(value));
          const exact = BigInt(value);
          if (exact < INT64_MIN || exact > INT64_MAX) {
            return state.fail('out_of_range', `${label}: outside the signed 64-bit range`);
          }
          return exact.toString();
        }
        return wrongType(value, expected);
      };
    }

    case 'double': {
      const expected = 'a number (JSON number or decimal string)';
      return (value) => {
        if (typeof value === 'number') {
          return Number.isFinite(value)
            ? doubleText(value)
            : state.fail('out_of_range', `${label}: number overflows a double`);
        }
        if (value === undefined || value === null) return null;
        if (typeof value === 'string') {
          if (value.length === 0) return emptyAsNull();
          if (!isDecimalText(value))
            return state.fail('invalid_type', `${label}: expected ${expected}, got other text`);
          const parsed = Number(value);
          return Number.isFinite(parsed)
            ? doubleText(parsed)
            : state.fail('out_of_range', `${label}: number overflows a double`);
        }
        return wrongType(value, expected);
      };
    }

    case 'boolean': {
      const expected = 'true or false (JSON boolean or that text)';
      return (value) => {
        if (value === true) return 'true';
        if (value === false) return 'false';
        if (value === undefined || value === null) return null;
        if (typeof value === 'string') {
          if (value.length === 0) return emptyAsNull();
          const lower = value.length === 4 || value.length === 5 ? value.toLowerCase() : '';
          if (lower === 'true' || lower === 'false') return lower;
          return state.fail('invalid_type', `${label}: expected ${expected}, got other text`);
        }
        return wrongType(value, expected);
      };
    }

    case 'timestamp': {
      return (value) => {
        if (typeof value === 'string') {
          if (value.length === 0) return emptyAsNull();
          return (
            canonicalTimestamp(value) ??
            state.fail(
              'invalid_timestamp',
              `${label}: expected YYYY-MM-DD[T ]HH:MM:SS[.ffffff] (UTC) with a real date and time`,
            )
          );
        }
        if (value === undefined || value === null) return null;
        return wrongType(value, 'timestamp text');
      };
    }

    case 'epoch_ms': {
      const expected = 'epoch milliseconds (JSON number or decimal string)';
      const fromMillis = (millis: number): string | undefined => {
        const micros = epochMillisToMicros(millis);
        return micros === undefined
          ? state.fail('out_of_range', `${label}: epoch milliseconds outside years 0001-9999`)
          : formatTimestamp(micros);
      };
      return (value) => {
        if (typeof value === 'number') return fromMillis(value);
        if (value === undefined || value === null) return null;
        if (typeof value === 'string') {
          if (value.length === 0) return emptyAsNull();
          if (!isDecimalText(value))
            return state.fail('invalid_type', `${label}: expected ${expected}, got other text`);
          return fromMillis(Number(value));
        }
        return wrongType(value, expected);
      };
    }

    case 'json': {
      const limit = column.byteLimit ?? Number.POSITIVE_INFINITY;
      return (value) => {
        if (value === undefined || value === null) return null;
        let text: string;
        try {
          text = JSON.stringify(value);
        } catch {
          // Only a nesting depth beyond the call stack gets here; parsed JSON has no cycles.
          return state.fail('value_too_large', `${label}: nested too deeply to store`);
        }
        if (fitsUtf8(text, limit)) return text;
        return state.fail(
          'value_too_large',
          `${label}: ${Buffer.byteLength(text, 'utf8')} bytes as JSON, over the ${limit}-byte limit; JSON is never cut`,
        );
      };
    }
  }
}
