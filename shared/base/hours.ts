/**
 * The hours a backfill covers. An hour is named `YYYY-MM-DDTHH` (UTC), as Amplitude's
 * Export API names them, and both ends are included; a day alone means all of its hours
 * (00 as a start, 23 as an end).
 */

const HOUR_MS = 3_600_000;

/** Longest range one execution takes. Longer ranges are split into several executions. */
export const MAX_BACKFILL_DAYS = 366;
export const DEFAULT_CHUNK_HOURS = 24;
/** A chunk is transformed by one Lambda run (15 minutes at most), so it stays within a week. */
export const MAX_CHUNK_HOURS = 168;

/** The execution input is wrong; the message says which field, what was given and what is accepted. */
export class BackfillInputError extends Error {
  override readonly name = 'BackfillInputError';
}

const HOUR_FORMAT_HELP =
  'a day as YYYY-MM-DD (the whole day) or an hour as YYYY-MM-DDTHH (UTC), e.g. "2026-01-31" or "2026-01-31T23"';

// Also the Export API's own compact form (20260131T23).
const HOUR_TEXT = /^(\d{4})-?(\d{2})-?(\d{2})(?:T(\d{2}))?$/;

/** Hours since the epoch of `text`; `edge` decides which hour a bare day stands for. */
export function parseHourSpec(text: unknown, field: string, edge: 'start' | 'end'): number {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new BackfillInputError(`${field} is required: ${HOUR_FORMAT_HELP}.`);
  }
  const match = HOUR_TEXT.exec(text.trim());
  const [, year, month, day, hour] = match ?? [];
  const dayMs = Date.UTC(Number(year), Number(month) - 1, Number(day));
  const isCalendarDay =
    match !== null && new Date(dayMs).toISOString().slice(0, 10) === `${year}-${month}-${day}`;
  const hourNumber = hour === undefined ? (edge === 'start' ? 0 : 23) : Number(hour);
  if (!isCalendarDay || hourNumber > 23) {
    throw new BackfillInputError(
      `${field} ${JSON.stringify(text)} is not a valid date: expected ${HOUR_FORMAT_HELP}.`,
    );
  }
  return dayMs / HOUR_MS + hourNumber;
}

/** `2026-01-31T23` */
export function formatHour(hourIndex: number): string {
  return new Date(hourIndex * HOUR_MS).toISOString().slice(0, 13);
}

/** `2026013123`: the hour as it appears in ids and keys. */
export function compactHour(hourIndex: number): string {
  return formatHour(hourIndex).replace(/[-T]/g, '');
}

/** Hours since the epoch of an hour that `formatHour` wrote. */
export function hourIndexOf(hour: string): number {
  const time = Date.parse(`${hour}:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}$/.test(hour) || !Number.isFinite(time)) {
    throw new Error(`Expected an hour as YYYY-MM-DDTHH, got ${JSON.stringify(hour)}.`);
  }
  return time / HOUR_MS;
}

export function dateOfHour(hourIndex: number): Date {
  return new Date(hourIndex * HOUR_MS);
}

export interface HourRange {
  /** First hour, included. */
  readonly start: number;
  /** Last hour, included. */
  readonly end: number;
}

export function parseHourRange(start: unknown, end: unknown): HourRange {
  const range = { start: parseHourSpec(start, 'start', 'start'), end: parseHourSpec(end, 'end', 'end') };
  if (range.end < range.start) {
    throw new BackfillInputError(
      `end ${formatHour(range.end)} is before start ${formatHour(range.start)}: the end is the last hour loaded (included), so it must be at or after the start.`,
    );
  }
  const hours = range.end - range.start + 1;
  if (hours > MAX_BACKFILL_DAYS * 24) {
    throw new BackfillInputError(
      `The range ${formatHour(range.start)} .. ${formatHour(range.end)} covers ${Math.ceil(hours / 24)} days; one backfill covers at most ${MAX_BACKFILL_DAYS} days. Start one execution per part of the range (ranges may overlap: hours already loaded add nothing).`,
    );
  }
  return range;
}

/** Consecutive windows of `chunkHours` hours from the start; the last one ends at the range's end. */
export function splitRange(range: HourRange, chunkHours: number): HourRange[] {
  const windows: HourRange[] = [];
  for (let start = range.start; start <= range.end; start += chunkHours) {
    windows.push({ start, end: Math.min(start + chunkHours - 1, range.end) });
  }
  return windows;
}
