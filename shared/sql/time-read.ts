import { hourIndexOf } from '../base/hours.ts';
import type { BatchMetadata } from '../format/manifest.ts';
import {
  hourTimeRange,
  MAX_TIME_RANGES,
  mergeTimeRanges,
  type TimeCovered,
  type TimeRange,
  timeCovered,
} from '../format/time-ranges.ts';
import { canonicalTimestamp } from '../transform/timestamp.ts';

export { MAX_TIME_RANGES } from '../format/time-ranges.ts';

/**
 * The times of a batch's staged rows, from its manifest, as sorted disjoint ranges: the
 * `timeRanges` the batcher recorded; for a manifest written before it recorded them, its
 * `hours` as whole hours (the first from minTime, the last to maxTime, when known); for one
 * older still, minTime to maxTime. `[]` for a batch without rows; `undefined` when the
 * manifest says nothing usable about its times.
 */
export function timeRangesOfBatch(
  batch: Pick<BatchMetadata, 'rowCount' | 'hours' | 'minTime' | 'maxTime' | 'timeRanges'>,
): TimeRange[] | undefined {
  if (batch.rowCount === 0) return [];
  if (batch.timeRanges) return mergeTimeRanges(batch.timeRanges, Number.MAX_SAFE_INTEGER);
  const min = batch.minTime === undefined ? undefined : canonicalTimestamp(batch.minTime);
  const max = batch.maxTime === undefined ? undefined : canonicalTimestamp(batch.maxTime);
  if (batch.hours) {
    const hours = mergeTimeRanges(
      batch.hours.map((hour) => hourTimeRange(hourIndexOf(hour))),
      Number.MAX_SAFE_INTEGER,
    );
    // Within the rows' own earliest and latest time (canonical text sorts as time does).
    return hours
      .map((range) => ({
        min: min !== undefined && min > range.min ? min : range.min,
        max: max !== undefined && max < range.max ? max : range.max,
      }))
      .filter((range) => range.min <= range.max);
  }
  if (min === undefined || max === undefined || max < min) return undefined;
  return [{ min, max }];
}

/** What the de-duplication of a load reads of the target: these ranges of its time column. */
export interface TimeRead extends TimeCovered {
  /** Sorted, disjoint, at most MAX_TIME_RANGES. */
  readonly ranges: readonly TimeRange[];
}

/**
 * What the de-duplication of a load of these batches (their `timeRangesOfBatch`) reads, or
 * `undefined` when a batch's times are unknown (the restriction then falls back to the
 * stage's own time range).
 */
export function timeRead(batches: readonly (readonly TimeRange[] | undefined)[]): TimeRead | undefined {
  if (batches.some((ranges) => ranges === undefined)) return undefined;
  const ranges = mergeTimeRanges(
    batches.flatMap((ranges) => ranges!),
    MAX_TIME_RANGES,
  );
  return { ranges, ...timeCovered(ranges) };
}
