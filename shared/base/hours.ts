/**
 * Hours and days, the one place they are counted. An hour is a whole UTC hour since the epoch
 * (an "hour index"); people, ids and state records see `YYYY-MM-DDTHH`, Amplitude's Export API
 * query wants `YYYYMMDDTHH`, and a day is `YYYY-MM-DD` (UTC).
 */

export const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Consecutive hours, both ends included. */
export interface HourRange {
  /** First hour, included. */
  readonly first: number;
  /** Last hour, included. */
  readonly last: number;
}

/**
 * A backfill's execution input is wrong; the message says which field, what was given and what
 * is accepted. The name is a contract: the backfill state machine catches it by name.
 */
export class BackfillInputError extends Error {
  override readonly name = 'BackfillInputError';
}

/** `2026-01-31T23` */
export function formatHour(hour: number): string {
  return new Date(hour * HOUR_MS).toISOString().slice(0, 13);
}

/** `2026013123`: the hour as it appears in ids and keys. */
export function compactHour(hour: number): string {
  return formatHour(hour).replace(/[-T]/g, '');
}

/** `20260131T23`: the Export API's `start` / `end` parameter. */
export function apiHour(hour: number): string {
  return formatHour(hour).replace(/-/g, '');
}

/** `2026-01-31T05 .. 2026-01-31T07`, or one hour alone. */
export function describeRange(range: HourRange): string {
  return range.first === range.last
    ? formatHour(range.first)
    : `${formatHour(range.first)} .. ${formatHour(range.last)}`;
}

export function hoursIn(range: HourRange): number {
  return range.last - range.first + 1;
}

/** The hour a `Date` falls in. */
export function hourOfDate(date: Date): number {
  const time = date.getTime();
  if (!Number.isFinite(time)) throw new RangeError(`Expected a valid date, got ${String(date)}.`);
  return Math.floor(time / HOUR_MS);
}

/** The first instant of the hour. */
export function dateOfHour(hour: number): Date {
  return new Date(hour * HOUR_MS);
}

/** The hour of a text `formatHour` wrote (exactly `YYYY-MM-DDTHH`). */
export function hourIndexOf(hour: string): number {
  const time = Date.parse(`${hour}:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}$/.test(hour) || !Number.isFinite(time)) {
    throw new Error(`Expected an hour as YYYY-MM-DDTHH, got ${JSON.stringify(hour)}.`);
  }
  return time / HOUR_MS;
}

// Also the Export API's own compact form (20260131T23).
const HOUR_TEXT = /^(\d{4})-?(\d{2})-?(\d{2})(?:T(\d{2}))?$/;

/**
 * Reads `YYYY-MM-DDTHH`, `YYYYMMDDTHH` (the API's own form) or a bare day `YYYY-MM-DD`, which
 * stands for its first hour as a start and its last hour as an end. `undefined` when the text
 * is none of those.
 */
export function parseHour(text: string, edge: 'start' | 'end' = 'start'): number | undefined {
  const match = HOUR_TEXT.exec(text.trim());
  if (!match) return undefined;
  const [, year, month, day, hourText] = match;
  const dayMs = Date.UTC(Number(year), Number(month) - 1, Number(day));
  if (new Date(dayMs).toISOString().slice(0, 10) !== `${year}-${month}-${day}`) return undefined;
  const hour = hourText === undefined ? (edge === 'start' ? 0 : 23) : Number(hourText);
  if (hour > 23) return undefined;
  return dayMs / HOUR_MS + hour;
}

/** An hour given as a `Date` (any instant in it) or as text `parseHour` reads. */
export function toHour(value: Date | string, field: string, edge: 'start' | 'end' = 'start'): number {
  if (value instanceof Date) return hourOfDate(value);
  const hour = typeof value === 'string' ? parseHour(value, edge) : undefined;
  if (hour === undefined) {
    throw new RangeError(
      `${field} must be an hour as YYYY-MM-DDTHH (UTC), e.g. "2026-01-31T05", or a day as YYYY-MM-DD; got ${JSON.stringify(value)}.`,
    );
  }
  return hour;
}

const HOUR_FORMAT_HELP =
  'a day as YYYY-MM-DD (the whole day) or an hour as YYYY-MM-DDTHH (UTC), e.g. "2026-01-31" or "2026-01-31T23"';

/** `parseHour` for a backfill's execution input: anything else is a `BackfillInputError`. */
export function parseHourSpec(text: unknown, field: string, edge: 'start' | 'end'): number {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new BackfillInputError(`${field} is required: ${HOUR_FORMAT_HELP}.`);
  }
  const hour = parseHour(text, edge);
  if (hour === undefined) {
    throw new BackfillInputError(
      `${field} ${JSON.stringify(text)} is not a valid date: expected ${HOUR_FORMAT_HELP}.`,
    );
  }
  return hour;
}

/** Consecutive pieces of at most `size` hours from the first hour, in order; the last one ends the range. */
export function splitRange(range: HourRange, size: number): HourRange[] {
  const pieces: HourRange[] = [];
  for (let first = range.first; first <= range.last; first += size) {
    pieces.push({ first, last: Math.min(range.last, first + size - 1) });
  }
  return pieces;
}

/** Runs of consecutive hours from a sorted list, each at most `size` hours long. */
export function runsOf(hours: readonly number[], size: number): HourRange[] {
  const runs: HourRange[] = [];
  for (const hour of hours) {
    const current = runs.at(-1);
    if (current && hour === current.last + 1 && hoursIn(current) < size) {
      runs[runs.length - 1] = { first: current.first, last: hour };
    } else {
      runs.push({ first: hour, last: hour });
    }
  }
  return runs;
}

/** `yyyy-MM-dd` of the instant, in UTC. */
export function utcDay(instant: Date): string {
  return instant.toISOString().slice(0, 10);
}

export function addDays(day: string, days: number): string {
  return utcDay(new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS));
}
