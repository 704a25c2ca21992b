import { HOUR_MS } from '../base/hours.ts';
import { parseTimestamp } from '../transform/timestamp.ts';

/**
 * Instants of a table's time column (event_time / merge_event_time), both ends included, in
 * the canonical staged form `YYYY-MM-DD HH:MM:SS.ffffff` (microseconds, the resolution of
 * both warehouses' timestamps), so text order is time order and a literal is exact.
 */
export interface TimeRange {
  readonly min: string;
  readonly max: string;
}

/**
 * The most time ranges a batch manifest records and a load's de-duplication reads: the
 * statement stays far below the Data API's 100 KB limit (about 130 bytes a range) however
 * scattered late rows are; beyond it the closest ranges are merged, reading the time between.
 */
export const MAX_TIME_RANGES = 64;

/** `YYYY-MM-DD HH:MM` of a canonical time: the calendar minute it is in. */
function minuteOf(time: string): string {
  return time.slice(0, 16);
}

function minuteIndex(minute: string): number {
  return Date.parse(`${minute.slice(0, 10)}T${minute.slice(11, 16)}:00Z`) / 60_000;
}

/**
 * The times of a batch's staged rows, kept per calendar minute (earliest and latest), so the
 * batcher can say which parts of the table a load of the batch must read for duplicates.
 *
 * A minute because it is less than one block at our scale: Redshift keeps each column in 1 MB
 * blocks per slice with their min and max, and skips the blocks outside a range-restricted
 * predicate ("Sort keys", https://docs.aws.amazon.com/redshift/latest/dg/t_Sorting_data.html).
 * A billion events a day is about 700,000 rows a minute, some 44,000 per slice on 16 slices,
 * where a block of an 8-byte timestamp holds up to 131,072 values: a finer grain would not read
 * fewer blocks, while a whole hour reads some 60 minutes' blocks for one late event. Memory is
 * one entry per distinct minute, not per row.
 */
export class TimeTally {
  private readonly minutes = new Map<string, { min: string; max: string }>();

  /** A staged row's time, canonical (`formatTimestamp` / the staged CSV's form). */
  add(time: string): void {
    const minute = minuteOf(time);
    const seen = this.minutes.get(minute);
    if (seen === undefined) this.minutes.set(minute, { min: time, max: time });
    else if (time < seen.min) seen.min = time;
    else if (time > seen.max) seen.max = time;
  }

  get isEmpty(): boolean {
    return this.minutes.size === 0;
  }

  /**
   * Runs of consecutive minutes that hold rows, each from its earliest row's time to its
   * latest's: every row's time is in one, and no range starts or ends beyond a row. At most
   * `maxRanges` (the closest merged first).
   */
  ranges(maxRanges = MAX_TIME_RANGES): TimeRange[] {
    const minutes = [...this.minutes.keys()].sort();
    const runs: { min: string; max: string }[] = [];
    let previous = Number.NaN;
    for (const minute of minutes) {
      const index = minuteIndex(minute);
      const times = this.minutes.get(minute)!;
      const current = runs.at(-1);
      if (current && index === previous + 1) current.max = times.max;
      else runs.push({ min: times.min, max: times.max });
      previous = index;
    }
    return capRanges(runs, maxRanges);
  }

  /** The distinct UTC hours of the rows, `YYYY-MM-DDTHH`, sorted. */
  hours(): string[] {
    const hours = new Set<string>();
    for (const minute of this.minutes.keys()) hours.add(`${minute.slice(0, 10)}T${minute.slice(11, 13)}`);
    return [...hours].sort();
  }
}

/**
 * One sorted list of disjoint ranges covering every instant any of `ranges` covers (overlapping
 * and touching ones joined), at most `maxRanges` of them: beyond it the two ranges with the smallest gap
 * between them are merged, again and again, so the time added is as little as possible.
 */
export function mergeTimeRanges(ranges: Iterable<TimeRange>, maxRanges = MAX_TIME_RANGES): TimeRange[] {
  const sorted = [...ranges].sort((a, b) => (a.min < b.min ? -1 : a.min > b.min ? 1 : 0));
  const merged: { min: string; max: string }[] = [];
  for (const range of sorted) {
    const current = merged.at(-1);
    // Joined when they overlap or touch (no instant between them: whole hours in a row).
    if (current && parseTimestamp(range.min)! - parseTimestamp(current.max)! <= 1n) {
      if (range.max > current.max) current.max = range.max;
    } else merged.push({ min: range.min, max: range.max });
  }
  return capRanges(merged, maxRanges);
}

function capRanges(ranges: { min: string; max: string }[], maxRanges: number): TimeRange[] {
  if (!Number.isSafeInteger(maxRanges) || maxRanges < 1) {
    throw new RangeError(`maxRanges must be at least 1, got ${maxRanges}.`);
  }
  if (ranges.length <= maxRanges) return ranges;
  // The gap after each range (micros as numbers: only compared, so 2^53 rounding is harmless).
  const gaps = ranges.slice(1).map((range, i) => micros(range.min) - micros(ranges[i]!.max));
  while (ranges.length > maxRanges) {
    let smallest = 0;
    for (let i = 1; i < gaps.length; i++) if (gaps[i]! < gaps[smallest]!) smallest = i;
    ranges[smallest]!.max = ranges[smallest + 1]!.max;
    ranges.splice(smallest + 1, 1);
    gaps.splice(smallest, 1);
  }
  return ranges;
}

function micros(time: string): number {
  return Number(parseTimestamp(time));
}

/** The range of one whole UTC hour (an hour index), both ends included at microseconds. */
export function hourTimeRange(hour: number): TimeRange {
  const start = new Date(hour * HOUR_MS).toISOString();
  return {
    min: `${start.slice(0, 10)} ${start.slice(11, 13)}:00:00.000000`,
    max: `${start.slice(0, 10)} ${start.slice(11, 13)}:59:59.999999`,
  };
}

/** The hour index a canonical time is in. */
export function hourOfTime(time: string): number {
  return Math.floor(Date.parse(`${time.slice(0, 10)}T${time.slice(11, 13)}:00:00Z`) / HOUR_MS);
}

/** How much of the table's time these ranges cover. */
export interface TimeCovered {
  /** Distinct UTC hours the ranges touch. */
  readonly hours: number;
  /** Hours from the first touched to the last, both included. */
  readonly span: number;
  /** Seconds the ranges cover, rounded up (a range of one instant counts a microsecond). */
  readonly seconds: number;
}

/** Of sorted, disjoint ranges (`mergeTimeRanges`). */
export function timeCovered(ranges: readonly TimeRange[]): TimeCovered {
  let hours = 0;
  let lastHour = Number.NEGATIVE_INFINITY;
  let total = 0n;
  for (const range of ranges) {
    const first = Math.max(hourOfTime(range.min), lastHour + 1);
    lastHour = Math.max(lastHour, hourOfTime(range.max));
    hours += Math.max(0, lastHour - first + 1);
    total += parseTimestamp(range.max)! - parseTimestamp(range.min)! + 1n;
  }
  return {
    hours,
    span: ranges.length === 0 ? 0 : hourOfTime(ranges.at(-1)!.max) - hourOfTime(ranges[0]!.min) + 1,
    seconds: Number((total + 999_999n) / 1_000_000n),
  };
}
