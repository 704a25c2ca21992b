/**
 * Hours as the connector counts them: whole UTC hours since the epoch ("hour index"). People
 * and state records see `YYYY-MM-DDTHH`; the Export API's query wants `YYYYMMDDTHH`.
 */

export const HOUR_MS = 3_600_000;

/** Both ends included. */
export interface HourRange {
  readonly first: number;
  readonly last: number;
}

/** `2026-01-31T23` */
export function formatHour(hour: number): string {
  return new Date(hour * HOUR_MS).toISOString().slice(0, 13);
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

/** Consecutive pieces of at most `size` hours, in order. */
export function splitBySize(range: HourRange, size: number): HourRange[] {
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
