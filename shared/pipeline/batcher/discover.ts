import type { Clock } from '../../base/clock.ts';
import { type LandingFile, parseLandingKey, sortFiles } from '../../base/export-files.ts';
import { addDays, utcDay } from '../../base/hours.ts';
import type { PipelineSettings } from '../../config/pipeline.ts';
import type { Feed } from '../../schema/columns.ts';
import type { ObjectStore, StoredObject } from '../../storage/object-store.ts';
import { isProcessed, readProcessed } from './state.ts';

export interface Discovery {
  readonly feed: Feed;
  /** Days listed, oldest first (`lookbackDays` back from the clock's UTC day, and that day). */
  readonly days: readonly string[];
  /** Landing files in the window that are not in a processed record, in name order. */
  readonly files: readonly LandingFile[];
  /** Files in the window already batched. */
  readonly alreadyProcessed: number;
  /**
   * Unbatched files of the one day just before the window. They are never batched by the
   * schedule; a backfill of that range loads them. Older days are not listed (that would
   * mean listing the whole history every few minutes): backfill covers them too.
   */
  readonly tooOld: readonly LandingFile[];
  /** Keys under the listed prefixes that are not data files (e.g. `complete` markers). */
  readonly skippedKeys: number;
}

export interface DiscoverInput {
  readonly landing: ObjectStore;
  /** Holds the processed records. */
  readonly staging: ObjectStore;
  readonly settings: PipelineSettings;
  readonly feed: Feed;
  readonly clock: Clock;
}

/** Landing files of one feed that the live batcher should batch now. */
export async function discover(input: DiscoverInput): Promise<Discovery> {
  const { landing, staging, settings, feed } = input;
  const today = utcDay(input.clock());
  const days = Array.from({ length: settings.lookbackDays + 1 }, (_, i) =>
    addDays(today, i - settings.lookbackDays),
  );
  const owners = await ownersOf(landing, settings, feed);
  let skippedKeys = 0;

  const unprocessedOf = async (day: string) => {
    const listed = await listDay(landing, settings, feed, owners, day);
    skippedKeys += listed.skipped;
    const record = await readProcessed(staging, feed, day);
    const fresh = listed.files.filter((file) => !isProcessed(record, file));
    return { fresh, processed: listed.files.length - fresh.length };
  };

  const files: LandingFile[] = [];
  let alreadyProcessed = 0;
  for (const day of days) {
    const { fresh, processed } = await unprocessedOf(day);
    files.push(...fresh);
    alreadyProcessed += processed;
  }
  const tooOld = (await unprocessedOf(addDays(today, -settings.lookbackDays - 1))).fresh;
  return { feed, days, files: sortFiles(files), alreadyProcessed, tooOld: sortFiles(tooOld), skippedKeys };
}

/**
 * Files of one feed whose file-name hour is in [startHour, endHour] (both truncated to the
 * hour, UTC), processed or not: backfill decides for itself what to load again.
 */
export async function discoverRange(
  landing: ObjectStore,
  settings: PipelineSettings,
  feed: Feed,
  startHour: Date,
  endHour: Date,
): Promise<LandingFile[]> {
  const from = Math.floor(startHour.getTime() / 3_600_000);
  const to = Math.floor(endHour.getTime() / 3_600_000);
  if (!Number.isFinite(from) || !Number.isFinite(to) || from > to) {
    throw new RangeError(
      `discoverRange needs valid hours with the start at or before the end, got ${String(startHour)} .. ${String(endHour)}.`,
    );
  }
  const owners = await ownersOf(landing, settings, feed);
  const files: LandingFile[] = [];
  for (let day = utcDay(startHour); day <= utcDay(endHour); day = addDays(day, 1)) {
    for (const file of (await listDay(landing, settings, feed, owners, day)).files) {
      const hourIndex = Date.parse(`${file.day}T00:00:00Z`) / 3_600_000 + file.hour;
      if (hourIndex >= from && hourIndex <= to) files.push(file);
    }
  }
  return sortFiles(files);
}

async function listDay(
  landing: ObjectStore,
  settings: PipelineSettings,
  feed: Feed,
  owners: readonly string[],
  day: string,
): Promise<{ files: LandingFile[]; skipped: number }> {
  const files: LandingFile[] = [];
  let skipped = 0;
  for (const owner of owners) {
    const prefix =
      feed === 'events'
        ? `${settings.landingPrefix}${owner}_${day}_`
        : `${settings.landingPrefix}-${owner}_${day}_`;
    for await (const object of landing.list(prefix)) {
      const file = parseLandingKey(object, settings.landingPrefix);
      if (file && file.feed === feed && file.owner === owner && file.day === day) files.push(file);
      else skipped++;
    }
  }
  return { files, skipped };
}

/**
 * Whose files to list: the project for events; the configured org for merged IDs, or every
 * org present. Orgs are found by jumping from one org's keys to the next (one short list
 * request per org) instead of listing every merged-ID file ever exported.
 */
async function ownersOf(landing: ObjectStore, settings: PipelineSettings, feed: Feed): Promise<string[]> {
  if (feed === 'events') return [settings.projectId];
  if (settings.orgId !== undefined) return [settings.orgId];
  const base = `${settings.landingPrefix}-`;
  const orgs: string[] = [];
  let startAfter: string | undefined;
  for (;;) {
    let next: StoredObject | undefined;
    for await (const object of landing.list(base, { pageSize: 1, ...(startAfter ? { startAfter } : {}) })) {
      next = object;
      break;
    }
    if (!next) return orgs;
    const org = /^(\d{1,20})_/.exec(next.key.slice(base.length))?.[1];
    if (org === undefined) {
      startAfter = next.key;
      continue;
    }
    orgs.push(org);
    // '`' is the character right after '_', so this skips every key of `-<org>_...`.
    startAfter = `${base}${org}\``;
  }
}
