import { HOUR_MS, type HourRange, hourRuns } from '../base/hours.ts';
import type { BatchMetadata } from '../format/manifest.ts';

/**
 * At most this many hour ranges restrict the target in one load, so the statement stays far
 * below the Data API's 100 KB limit (about 110 bytes each) however scattered late rows are;
 * beyond it the closest ranges are merged, reading the hours between them too.
 */
export const MAX_HOUR_RANGES = 64;

/** The hour a warehouse time text (`YYYY-MM-DD HH:MM:SS[.ffffff]`) or an hour (`YYYY-MM-DDTHH`) is in. */
function hourOfText(text: string): number {
  const ms = Date.parse(`${text.slice(0, 10)}T${text.slice(11, 13)}:00:00Z`);
  if (!Number.isFinite(ms) || !/^\d{4}-\d{2}-\d{2}[T ]\d{2}/.test(text)) {
    throw new Error(`Expected a time as YYYY-MM-DD HH..., got ${JSON.stringify(text)}.`);
  }
  return ms / HOUR_MS;
}

/**
 * The hours of a batch's staged rows, from its manifest: the `hours` the batcher recorded, or,
 * for a manifest written before it recorded them, every hour from `minTime` to `maxTime`.
 * `[]` for a batch without rows; `undefined` when the manifest says nothing about its times.
 */
export function hoursOfBatch(
  batch: Pick<BatchMetadata, 'rowCount' | 'hours' | 'minTime' | 'maxTime'>,
): number[] | undefined {
  if (batch.rowCount === 0) return [];
  if (batch.hours) return batch.hours.map(hourOfText);
  if (batch.minTime === undefined || batch.maxTime === undefined) return undefined;
  const first = hourOfText(batch.minTime);
  const last = hourOfText(batch.maxTime);
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

/** How much of the target a load reads: hours in the runs, and from the first to the last. */
export interface HoursRead {
  readonly runs: readonly HourRange[];
  /** Hours the restriction covers (merged gaps included). */
  readonly hours: number;
  /** Hours from the first read to the last, both included. */
  readonly span: number;
}

/**
 * What the de-duplication of a load of these batches reads, or `undefined` when a batch's
 * hours are unknown (the restriction then falls back to the stage's own time range).
 */
export function hoursRead(batches: readonly (readonly number[] | undefined)[]): HoursRead | undefined {
  if (batches.some((hours) => hours === undefined)) return undefined;
  const runs = hourRuns(
    batches.flatMap((hours) => hours!),
    MAX_HOUR_RANGES,
  );
  return {
    runs,
    hours: runs.reduce((sum, run) => sum + run.last - run.first + 1, 0),
    span: runs.length === 0 ? 0 : runs.at(-1)!.last - runs[0]!.first + 1,
  };
}

/** `2024-05-31 10:00:00`: the first instant of the hour, as a warehouse time literal's text. */
export function hourStartText(hour: number): string {
  return new Date(hour * HOUR_MS).toISOString().slice(0, 19).replace('T', ' ');
}
