import { eventFileName } from '../../base/export-files.ts';
import { HOUR_MS } from '../../base/hours.ts';

/** Where one file of the Export API's zip belongs. */
export interface ExportFileName {
  readonly projectId: string;
  /** Hour index (UTC hours since the epoch) of the `server_upload_time` hour the file holds. */
  readonly hour: number;
  /** `#<n>`: several files per hour when the hour is large. */
  readonly part: number;
}

// Inside the zip: `<projectId>/<projectId>_<yyyy-MM-dd>_<H>#<n>.json.gz`, the names Amplitude's
// S3 export gives its files too (hour not zero-padded).
const ENTRY_NAME = /^(\d{1,20})_(\d{4})-(\d{2})-(\d{2})_(\d{1,2})#(\d{1,9})\.json\.gz$/;
const MARKER_NAME = /_complete$/;

export type EntryKind =
  | { readonly kind: 'file'; readonly name: ExportFileName }
  | { readonly kind: 'skip' }
  | { readonly kind: 'unknown' };

/** Reads a zip entry's path; folders and `complete` markers are skipped. */
export function classifyEntry(path: string): EntryKind {
  if (path.endsWith('/')) return { kind: 'skip' };
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (MARKER_NAME.test(base)) return { kind: 'skip' };
  const match = ENTRY_NAME.exec(base);
  if (!match) return { kind: 'unknown' };
  const [, projectId, year, month, day, hourText, partText] = match as unknown as string[];
  const dayMs = Date.UTC(Number(year), Number(month) - 1, Number(day));
  const hourOfDay = Number(hourText);
  const folder = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : undefined;
  const validDay = new Date(dayMs).toISOString().slice(0, 10) === `${year}-${month}-${day}`;
  if (!validDay || hourOfDay > 23 || (folder !== undefined && folder !== projectId))
    return { kind: 'unknown' };
  return {
    kind: 'file',
    name: { projectId: projectId!, hour: dayMs / HOUR_MS + hourOfDay, part: Number(partText) },
  };
}

function dayAndHour(hour: number): { day: string; hourOfDay: number } {
  const iso = new Date(hour * HOUR_MS).toISOString();
  return { day: iso.slice(0, 10), hourOfDay: Number(iso.slice(11, 13)) };
}

/** The landing key Amplitude's S3 export would give this file, so the batcher reads it unchanged. */
export function landingKeyOf(landingPrefix: string, name: ExportFileName): string {
  const { day, hourOfDay } = dayAndHour(name.hour);
  return `${landingPrefix}${eventFileName(name.projectId, day, hourOfDay, name.part)}`;
}

/** Prefix of every part of one hour in landing: `<prefix><projectId>_<day>_<H>#`. */
export function hourPartsPrefix(landingPrefix: string, projectId: string, hour: number): string {
  const { day, hourOfDay } = dayAndHour(hour);
  return `${landingPrefix}${projectId}_${day}_${hourOfDay}#`;
}

/** `#<n>` of a key below `hourPartsPrefix`, or `undefined` when the key is not a part file. */
export function partOfKey(partsPrefix: string, key: string): number | undefined {
  const match = /^(\d{1,9})\.json\.gz$/.exec(key.slice(partsPrefix.length));
  return key.startsWith(partsPrefix) && match ? Number(match[1]) : undefined;
}
