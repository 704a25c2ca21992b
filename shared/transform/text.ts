/**
 * Text that both warehouses can store: no U+0000 (neither Redshift VARCHAR nor PostgreSQL
 * text/jsonb accepts it), no lone UTF-16 surrogates (they have no UTF-8 form and PostgreSQL's
 * jsonb rejects their escapes), and VARCHAR values within a byte limit.
 */
import type { AdjustmentKind } from './outcome.ts';

export interface AdjustmentSink {
  adjust(kind: AdjustmentKind): void;
}

// ES2024 string methods, present in Node >= 20 but not in the ES2023 lib this project targets.
interface WellFormedString {
  isWellFormed(): boolean;
  toWellFormed(): string;
}

/** Whether `text` encodes to at most `limit` UTF-8 bytes. */
export function fitsUtf8(text: string, limit: number): boolean {
  // One UTF-16 unit never takes more than 3 bytes (a 4-byte character is 2 units), and never
  // fewer than 1, so most values are decided without encoding them.
  if (text.length * 3 <= limit) return true;
  if (text.length > limit) return false;
  return Buffer.byteLength(text, 'utf8') <= limit;
}

/**
 * The longest prefix of `text` that fits in `limit` UTF-8 bytes without splitting a character
 * (or a surrogate pair). Lone surrogates, if any, come back as U+FFFD.
 */
export function truncateUtf8(text: string, limit: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= limit) return text;
  let end = limit;
  // bytes[end] is the first byte left out; if it continues a character, that character
  // started before `end` and must go too.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.toString('utf8', 0, end);
}

export const NUL_ESCAPE = 1;
export const SURROGATE_ESCAPE = 2;

/**
 * Which cleaning a line may need, found without parsing: a NUL or a lone surrogate can only
 * reach a parsed string through a `\u0000` or `\uD8xx`-`\uDFxx` escape (a raw NUL is invalid
 * JSON, and UTF-8 decoding never yields lone surrogates). False positives such as an escaped
 * backslash before `u0000` only cost a slower path; there are no false negatives.
 */
export function escapeHazards(line: string): number {
  let hazards = 0;
  let at = line.indexOf('\\u');
  while (at !== -1) {
    const first = line.charCodeAt(at + 2) | 0x20;
    const second = line.charCodeAt(at + 3) | 0x20;
    if (
      first === 0x30 &&
      second === 0x30 &&
      line.charCodeAt(at + 4) === 0x30 &&
      line.charCodeAt(at + 5) === 0x30
    ) {
      hazards |= NUL_ESCAPE;
    } else if (first === 0x64 && (second === 0x38 || second === 0x39 || (second >= 0x61 && second <= 0x66))) {
      hazards |= SURROGATE_ESCAPE;
    }
    at = line.indexOf('\\u', at + 2);
  }
  // A line handed over as a JS string (not decoded from bytes) may carry raw lone surrogates.
  if (!(line as unknown as WellFormedString).isWellFormed()) hazards |= SURROGATE_ESCAPE;
  return hazards;
}

export function cleanString(text: string, sink: AdjustmentSink): string {
  let clean = text;
  if (clean.indexOf('\u0000') !== -1) {
    clean = clean.replaceAll('\u0000', '');
    sink.adjust('nul_removed');
  }
  if (!(clean as unknown as WellFormedString).isWellFormed()) {
    clean = (clean as unknown as WellFormedString).toWellFormed();
    sink.adjust('unpaired_surrogate');
  }
  return clean;
}

/**
 * `value` with every string and object key cleaned, in place where possible. Objects whose
 * keys change are rebuilt in the same key order (null prototype, so a `__proto__` key stays
 * data); when two keys clean to the same text the later one wins.
 */
export function cleanJsonValue(value: unknown, sink: AdjustmentSink): unknown {
  if (typeof value === 'string') return cleanString(value, sink);
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = cleanJsonValue(value[i], sink);
    return value;
  }
  const record = value as Record<string, unknown>;
  let keysChanged = false;
  for (const key in record) {
    record[key] = cleanJsonValue(record[key], sink);
    if (!keysChanged && cleanString(key, NO_SINK) !== key) keysChanged = true;
  }
  if (!keysChanged) return record;
  const rebuilt: Record<string, unknown> = Object.create(null);
  for (const key in record) rebuilt[cleanString(key, sink)] = record[key];
  return rebuilt;
}

const NO_SINK: AdjustmentSink = { adjust() {} };
