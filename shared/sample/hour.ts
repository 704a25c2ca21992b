import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { completeMarkerName, eventFileName, mergeIdFileName } from '../base/export-files.ts';
import { HOUR_MS } from '../base/hours.ts';
import { EventFactory } from './events.ts';
import { mergeIdLine } from './merge-ids.ts';
import { Random } from './random.ts';

export interface SampleHourOptions {
  readonly projectId: string;
  readonly orgId: string;
  /** Hour index (hours since the epoch, UTC) the file name and the events' upload times are in. */
  readonly hour: number;
  /** `#<n>` of the event file: 0 is the hour's on-time part, higher ones land late. */
  readonly part: number;
  /** New events in the file. @default 200 */
  readonly events?: number;
  /** Lines of this file written again later in it (in-batch duplicates). @default 3 */
  readonly repeats?: number;
  /** Lines of an earlier file written again (duplicates the loader finds in the table). @default none */
  readonly earlierLines?: readonly string[];
  /** Lines that are not JSON (quarantined with `malformed_json`). @default 1 */
  readonly badLines?: number;
}

/** What `writeSampleHour` wrote, for the demo's own line and for tests' exact figures. */
export interface SampleHourManifest {
  readonly eventKey: string;
  /** Every line of the event file: new events, repeats, earlier lines and bad lines. */
  readonly lines: number;
  readonly uniqueEvents: number;
  /** Repeats of this file's lines plus earlier lines. */
  readonly duplicates: number;
  readonly badLines: number;
  /** Merged-ID rows; only the on-time part (#0) comes with a merged-ID file. */
  readonly mergeRows: number;
  readonly keys: readonly string[];
}

/**
 * One hour of Amplitude S3-export files with the sample generator's events: the event file
 * (with a few duplicates and a broken line, so a run shows every outcome), and for part 0 the
 * hour's merged-ID file and `complete` marker. `npm start` writes one per cycle so the demo
 * keeps producing. The same options give the same bytes; each file is written under a
 * temporary name and renamed, so a batcher in another process never lists half of one.
 */
export async function writeSampleHour(dir: string, options: SampleHourOptions): Promise<SampleHourManifest> {
  const { projectId, orgId, hour, part } = options;
  const hourStartMs = hour * HOUR_MS;
  const day = new Date(hourStartMs).toISOString().slice(0, 10);
  const hourOfDay = new Date(hourStartMs).getUTCHours();
  // One seed per file: a later part of the same hour gets other events.
  const random = new Random(Math.imul(hour, 31) + part);
  const factory = new EventFactory(random.fork(1), Number(projectId), hourStartMs);
  const draws = random.fork(2);

  const lines = Array.from({ length: options.events ?? 200 }, () =>
    JSON.stringify(factory.event(hourStartMs, draws.chance(0.03))),
  );
  const unique = lines.length;
  const repeats = Array.from({ length: Math.min(options.repeats ?? 3, unique) }, () => draws.pick(lines));
  const earlier = options.earlierLines ?? [];
  const bad = Array.from(
    { length: options.badLines ?? 1 },
    // A line cut off mid-object, as a truncated upload would leave it.
    () => `{"event_type":"checkout_completed","uuid":"${draws.uuid()}","event_properties":{"cart_size":`,
  );
  for (const extra of [...repeats, ...earlier, ...bad]) lines.splice(draws.int(0, lines.length), 0, extra);

  const keys: string[] = [];
  const write = async (name: string, body: Buffer) => {
    const path = join(dir, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(`${path}.tmp`, body);
    await rename(`${path}.tmp`, path);
    keys.push(name);
  };
  const eventKey = eventFileName(projectId, day, hourOfDay, part);
  await write(eventKey, gzipSync(`${lines.join('\n')}\n`));
  let mergeRows = 0;
  if (part === 0) {
    const mergeDraws = random.fork(3);
    const rows = Array.from({ length: 8 }, () =>
      JSON.stringify(mergeIdLine(mergeDraws, Number(projectId), hourStartMs)),
    );
    mergeRows = rows.length;
    await write(mergeIdFileName(orgId, day, hourOfDay), gzipSync(`${rows.join('\n')}\n`));
    await write(completeMarkerName(projectId, day, hourOfDay), Buffer.alloc(0));
  }
  return {
    eventKey,
    lines: lines.length,
    uniqueEvents: unique,
    duplicates: repeats.length + earlier.length,
    badLines: bad.length,
    mergeRows,
    keys,
  };
}
