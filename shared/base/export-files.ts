/**
 * Amplitude's export file names (its S3-export layout, which the Export API connector writes
 * too): what a name says about a file, and how the sample and the connector write one.
 */

/** The two kinds of file Amplitude exports: events, and merged Amplitude IDs (one table each). */
export type Feed = 'events' | 'merge_ids';
export const FEEDS: readonly Feed[] = ['events', 'merge_ids'];

/** A landing object whose name follows Amplitude's S3-export layout. */
export interface LandingFile {
  readonly key: string;
  readonly etag: string;
  readonly size: number;
  readonly feed: Feed;
  /** `yyyy-MM-dd` of the file name: the UTC hour Amplitude exported, not the events' own times. */
  readonly day: string;
  readonly hour: number;
  /** `#<n>` of event files (several parts per hour); 0 for merged-ID files. */
  readonly part: number;
  /** Project ID (events) or org ID (merged IDs) in the name. */
  readonly owner: string;
  readonly gzip: boolean;
  /**
   * ISO time the file landed (S3 LastModified; the file's mtime locally): the start of the
   * landing-to-commit delay the loader reports. Absent when the listing did not say.
   */
  readonly landedAt?: string;
}

export function eventFileName(projectId: string, day: string, hour: number, part: number): string {
  return `${projectId}_${day}_${hour}#${part}.json.gz`;
}

export function mergeIdFileName(orgId: string, day: string, hour: number): string {
  return `-${orgId}_${day}_${hour}.json.gz`;
}

/** Marker the sample writes after an hour's parts; discovery skips it like any other non-data key. */
export function completeMarkerName(projectId: string, day: string, hour: number): string {
  return `${projectId}_${day}_${hour}_complete`;
}

const EVENT_NAME = /^(\d{1,20})_(\d{4}-\d{2}-\d{2})_(\d{1,2})#(\d{1,9})\.json(\.gz)?$/;
const MERGE_ID_NAME = /^-(\d{1,20})_(\d{4}-\d{2}-\d{2})_(\d{1,2})(?:#(\d{1,9}))?\.json(\.gz)?$/;

/** The file's place in the layout, or `undefined` for markers, folders and unrelated keys. */
export function parseLandingKey(
  object: {
    readonly key: string;
    readonly etag: string;
    readonly size: number;
    readonly lastModified?: Date;
  },
  landingPrefix: string,
): LandingFile | undefined {
  if (!object.key.startsWith(landingPrefix)) return undefined;
  const name = object.key.slice(landingPrefix.length);
  const events = EVENT_NAME.exec(name);
  const merged = events ? undefined : MERGE_ID_NAME.exec(name);
  const match = events ?? merged;
  if (!match) return undefined;
  const [, owner, day, hourText, partText, gz] = match;
  const hour = Number(hourText);
  if (!owner || !day || !isCalendarDay(day) || hour > 23) return undefined;
  return {
    key: object.key,
    etag: object.etag,
    size: object.size,
    feed: events ? 'events' : 'merge_ids',
    day,
    hour,
    part: partText === undefined ? 0 : Number(partText),
    owner,
    gzip: gz !== undefined,
    ...(object.lastModified ? { landedAt: object.lastModified.toISOString() } : {}),
  };
}

/** Name order that matches the export's own: day, hour, part, then key. */
export function sortFiles(files: readonly LandingFile[]): LandingFile[] {
  return [...files].sort(
    (a, b) =>
      a.day.localeCompare(b.day) ||
      a.hour - b.hour ||
      a.part - b.part ||
      (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
}

function isCalendarDay(day: string): boolean {
  const time = Date.parse(`${day}T00:00:00Z`);
  return Number.isFinite(time) && new Date(time).toISOString().slice(0, 10) === day;
}
