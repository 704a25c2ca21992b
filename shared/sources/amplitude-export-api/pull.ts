import { describeRange, formatHour, type HourRange, hoursIn, splitRange, toHour } from '../../base/hours.ts';
import type { ObjectStore, StoredObject } from '../../storage/object-store.ts';
import type { ArchiveEntry } from './archive.ts';
import type { ExportAnswer, ExportApi } from './client.ts';
import { ExportApiError, ExportApiPullError } from './errors.ts';
import { mapLimited } from './limit.ts';
import { classifyEntry, type ExportFileName, hourPartsPrefix, landingKeyOf, partOfKey } from './names.ts';

/** The Export API answers at most 365 days per request. */
export const MAX_HOURS_PER_REQUEST = 365 * 24;
export const DEFAULT_HOURS_PER_REQUEST = 24;

export interface ExportApiPullSettings {
  /**
   * The project whose files are expected; an answer with another project's files is refused
   * (the key belongs to another project). `PipelineSettings` fits here as it is.
   * @default - the project the credentials belong to
   */
  readonly projectId?: string;
  /** Key prefix of the S3-export files in landing ('' for none), as the batcher reads them. */
  readonly landingPrefix: string;
  /**
   * Hours asked for in one request. Larger answers wait longer on disk; a 400/504 splits
   * the request anyway. At most 8760 (365 days).
   * @default 24
   */
  readonly maxHoursPerRequest?: number;
}

export interface PullRangesInput {
  readonly api: ExportApi;
  /** The landing store: files go where Amplitude's S3 export would put them. */
  readonly landing: ObjectStore;
  readonly settings: ExportApiPullSettings;
  /** Hours to pull, in order. */
  readonly ranges: readonly HourRange[];
  /** Files written to landing at once. @default 4 */
  readonly concurrency?: number;
  /** Checked before each request: `true` leaves the remaining hours for later (time budget). */
  readonly shouldStop?: () => boolean;
}

export interface PullHoursInput extends Omit<PullRangesInput, 'ranges'> {
  /** First hour (UTC), included: a `Date` in it or `YYYY-MM-DDTHH`. */
  readonly startHour: Date | string;
  /** Last hour (UTC), included. */
  readonly endHour: Date | string;
}

/** One hour that was pulled completely. */
export interface HourResult {
  readonly hour: string;
  /** Files the API has for the hour (0: no data). */
  readonly files: number;
  readonly bytes: number;
  readonly events: number;
  /** Files written to landing (new, or different from what was there). */
  readonly written: number;
  /** Files already in landing with the same bytes, left as they were. */
  readonly unchanged: number;
  /** `#<n>` parts of the hour in landing that the API no longer returns, deleted. */
  readonly deleted: number;
}

export interface PullReport {
  readonly requests: number;
  /** Bytes of the zip answers. */
  readonly bytesDownloaded: number;
  /** The hours pulled completely, in order. */
  readonly hours: readonly HourResult[];
  /** Requests that failed; their hours have nothing new in landing. */
  readonly failures: readonly ExportApiError[];
  /** Hours left for later (time budget, or the API stayed unavailable). */
  readonly notAttempted: readonly HourRange[];
}

/**
 * Pulls `startHour .. endHour` from the Export API into landing, and throws
 * `ExportApiPullError` (after writing every hour that succeeded) when some hours failed.
 * What the backfill's prepare step calls before it stages a chunk.
 */
export async function pullHours(input: PullHoursInput): Promise<PullReport> {
  const range = {
    first: toHour(input.startHour, 'startHour'),
    last: toHour(input.endHour, 'endHour', 'end'),
  };
  if (range.first > range.last) {
    throw new RangeError(
      `startHour ${formatHour(range.first)} is after endHour ${formatHour(range.last)}; give the earlier hour first.`,
    );
  }
  const report = await pullRanges({ ...input, ranges: [range] });
  if (report.failures.length > 0 || report.notAttempted.length > 0) {
    throw new ExportApiPullError(report.failures, report.notAttempted);
  }
  return report;
}

/**
 * Pulls each range, one request per `maxHoursPerRequest` hours, halving a request the API
 * finds too large (400 / 504) down to single hours. Each answer is checked whole before any
 * of its files is written, and each hour is written completely before the next. Hour-level
 * failures are reported, not thrown; refused credentials and unplaceable answers throw.
 */
export async function pullRanges(input: PullRangesInput): Promise<PullReport> {
  const size = input.settings.maxHoursPerRequest ?? DEFAULT_HOURS_PER_REQUEST;
  if (!Number.isInteger(size) || size < 1 || size > MAX_HOURS_PER_REQUEST) {
    throw new RangeError(
      `maxHoursPerRequest must be from 1 to ${MAX_HOURS_PER_REQUEST} (365 days), got ${size}.`,
    );
  }
  const work = input.ranges.flatMap((range) => splitRange(range, size));
  const hours: HourResult[] = [];
  const failures: ExportApiError[] = [];
  let requests = 0;
  let bytesDownloaded = 0;

  while (work.length > 0) {
    if (input.shouldStop?.()) break;
    const range = work.shift()!;
    requests++;
    let answer: ExportAnswer;
    try {
      answer = await input.api.fetchRange(range);
    } catch (error) {
      if (!(error instanceof ExportApiError) || error.kind !== 'unavailable') throw error;
      // Amplitude is failing for this range after every retry: the next ones would only wait too.
      failures.push(error);
      break;
    }
    if (answer.kind === 'too-large') {
      if (hoursIn(range) === 1) {
        failures.push(
          new ExportApiError(
            'too-large',
            range,
            `the API answered ${answer.detail} for a single hour: that hour is larger than the Export API returns (4 GB). Load this hour from Amplitude's Amazon S3 export instead.`,
            answer.status,
          ),
        );
        continue;
      }
      const middle = range.first + Math.floor((range.last - range.first) / 2);
      work.unshift({ first: range.first, last: middle }, { first: middle + 1, last: range.last });
      continue;
    }
    if (answer.kind === 'empty') {
      for (let hour = range.first; hour <= range.last; hour++) hours.push(emptyHour(hour));
      continue;
    }
    try {
      bytesDownloaded += answer.bytes;
      hours.push(...(await publish(input, range, answer)));
    } finally {
      await answer.dispose();
    }
  }
  return { requests, bytesDownloaded, hours, failures, notAttempted: work };
}

interface Placed {
  readonly entry: ArchiveEntry;
  readonly name: ExportFileName;
}

async function publish(
  input: PullRangesInput,
  range: HourRange,
  answer: Extract<ExportAnswer, { kind: 'archive' }>,
): Promise<HourResult[]> {
  const byHour = placeEntries(input.settings.projectId, range, answer.archive.entries);
  const results: HourResult[] = [];
  for (let hour = range.first; hour <= range.last; hour++) {
    const files = byHour.get(hour);
    // An hour without files keeps what landing has: an empty answer is no proof that data is
    // gone (404 is also how the API answers before an hour is exportable).
    results.push(files ? await publishHour(input, answer, hour, files) : emptyHour(hour));
  }
  return results;
}

/** Groups the entries by hour, refusing names this connector cannot place. */
function placeEntries(
  expectedProject: string | undefined,
  range: HourRange,
  entries: readonly ArchiveEntry[],
): Map<number, Placed[]> {
  const byHour = new Map<number, Placed[]>();
  const seen = new Set<string>();
  let project = expectedProject;
  for (const entry of entries) {
    const kind = classifyEntry(entry.path);
    if (kind.kind !== 'file') {
      throw new ExportApiError(
        'invalid-content',
        range,
        `the zip holds ${JSON.stringify(entry.path)}, which is not named <projectId>/<projectId>_<yyyy-MM-dd>_<H>#<n>.json.gz, so it has no place in landing. Nothing of this answer was written; report this answer's file names to the maintainers.`,
      );
    }
    const { name } = kind;
    if (project !== undefined && name.projectId !== project) {
      throw new ExportApiError(
        'invalid-content',
        range,
        `the zip holds files of project ${name.projectId} (${entry.path}), expected project ${project}. The API key belongs to another project: store the keys of project ${project}, or set the project ID to ${name.projectId}.`,
      );
    }
    project = name.projectId;
    if (name.hour < range.first || name.hour > range.last) {
      throw new ExportApiError(
        'invalid-content',
        range,
        `the zip holds ${entry.path}, of hour ${formatHour(name.hour)}, outside the hours asked for. Nothing of this answer was written.`,
      );
    }
    const id = `${name.hour}#${name.part}`;
    if (seen.has(id)) {
      throw new ExportApiError(
        'invalid-content',
        range,
        `the zip holds part #${name.part} of hour ${formatHour(name.hour)} twice.`,
      );
    }
    seen.add(id);
    const list = byHour.get(name.hour) ?? [];
    list.push({ entry, name });
    byHour.set(name.hour, list);
  }
  for (const list of byHour.values()) list.sort((a, b) => a.name.part - b.name.part);
  return byHour;
}

/**
 * Writes one hour's files under their S3-export names, then deletes the hour's `#<n>` parts
 * that the answer no longer has. Files whose bytes are already there (same size and md5
 * etag) are left alone, so an unchanged hour pulled again changes nothing downstream.
 */
async function publishHour(
  input: PullRangesInput,
  answer: Extract<ExportAnswer, { kind: 'archive' }>,
  hour: number,
  files: readonly Placed[],
): Promise<HourResult> {
  const { landing, settings } = input;
  const projectId = files[0]!.name.projectId;
  const prefix = hourPartsPrefix(settings.landingPrefix, projectId, hour);
  const existing = new Map<number, StoredObject>();
  for await (const object of landing.list(prefix)) {
    const part = partOfKey(prefix, object.key);
    if (part !== undefined) existing.set(part, object);
  }

  let written = 0;
  let unchanged = 0;
  await mapLimited(files, input.concurrency ?? 4, async ({ entry, name }) => {
    const current = existing.get(name.part);
    if (current && current.size === entry.size && current.etag === entry.md5) {
      unchanged++;
      return;
    }
    const body = await answer.archive.open(entry);
    try {
      await landing.put(landingKeyOf(settings.landingPrefix, name), body);
    } finally {
      body.destroy();
    }
    written++;
  });

  const kept = new Set(files.map(({ name }) => name.part));
  let deleted = 0;
  for (const [part, object] of existing) {
    if (kept.has(part)) continue;
    await landing.delete(object.key);
    deleted++;
  }
  return {
    hour: formatHour(hour),
    files: files.length,
    bytes: files.reduce((sum, { entry }) => sum + entry.size, 0),
    events: files.reduce((sum, { entry }) => sum + entry.lines, 0),
    written,
    unchanged,
    deleted,
  };
}

function emptyHour(hour: number): HourResult {
  return { hour: formatHour(hour), files: 0, bytes: 0, events: 0, written: 0, unchanged: 0, deleted: 0 };
}

/** One line per report for people: what was pulled and what was not. */
export function describeReport(report: PullReport): string {
  const withData = report.hours.filter((hour) => hour.files > 0).length;
  const failed = report.failures.map((failure) => describeRange(failure.range));
  return (
    `${report.hours.length} hour(s) pulled (${withData} with data) in ${report.requests} request(s)` +
    (failed.length > 0 ? `; failed: ${failed.join(', ')}` : '') +
    (report.notAttempted.length > 0
      ? `; not attempted: ${report.notAttempted.map(describeRange).join(', ')}`
      : '')
  );
}
