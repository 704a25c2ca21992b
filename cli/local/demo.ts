import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseLandingKey } from '#shared/base/export-files.ts';
import { formatHour, HOUR_MS, hourOfDate } from '#shared/base/hours.ts';
import { writeSampleHour } from '#shared/sample/hour.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';

/** The sample's project and org (`redshift-export sample` defaults), which the demo keeps writing. */
export const DEMO_PROJECT_ID = '187520';
export const DEMO_ORG_ID = '36958';

/** The newest event file of the demo project in the landing folder. */
interface LastHour {
  readonly hour: number;
  readonly part: number;
  readonly key: string;
}

/**
 * `npm start`'s producer: before each batch cycle it writes the hour after the newest one in
 * the landing folder, so every cycle has new rows to load. It reads where to go on from the
 * folder itself, so a restarted demo continues and never rewrites an hour. Hours are not
 * written ahead of the clock (the batcher does not list days to come): once the demo has
 * caught up, it writes another, late part of the newest hour instead, as Amplitude does.
 */
export async function writeNextDemoHour(landingDir: string, now: Date): Promise<string> {
  const last = await lastDemoHour(landingDir);
  const current = hourOfDate(now);
  let hour: number;
  let part: number;
  if (last === undefined || last.hour < current) {
    // After a long pause, start inside the batcher's look-back window rather than behind it.
    hour = Math.max(last === undefined ? current : last.hour + 1, current - 24);
    part = 0;
  } else {
    hour = last.hour;
    part = last.part + 1;
  }
  const earlier = last ? await firstLineOf(join(landingDir, last.key)) : undefined;
  const written = await writeSampleHour(landingDir, {
    projectId: DEMO_PROJECT_ID,
    orgId: DEMO_ORG_ID,
    hour,
    part,
    ...(earlier ? { earlierLines: [earlier] } : {}),
  });
  const merged = written.mergeRows > 0 ? ` and ${written.mergeRows} merged-ID rows` : '';
  return `demo: wrote hour ${formatHour(hour)} part ${part}: ${written.lines} event lines (${written.duplicates} duplicates, ${written.badLines} broken)${merged}`;
}

async function lastDemoHour(landingDir: string): Promise<LastHour | undefined> {
  const landing = new FileSystemObjectStore(landingDir);
  let last: LastHour | undefined;
  for await (const object of landing.list(`${DEMO_PROJECT_ID}_`)) {
    const file = parseLandingKey(object, '');
    if (file?.feed !== 'events' || file.owner !== DEMO_PROJECT_ID) continue;
    const hour = Date.parse(`${file.day}T00:00:00Z`) / HOUR_MS + file.hour;
    if (!last || hour > last.hour || (hour === last.hour && file.part > last.part)) {
      last = { hour, part: file.part, key: file.key };
    }
  }
  return last;
}

/** An event of the previous file, to be written again: a re-export the loader must skip. */
async function firstLineOf(path: string): Promise<string | undefined> {
  try {
    const lines = gunzipSync(await readFile(path))
      .toString('utf8')
      .split('\n');
    // The broken line of that file is cut off before its closing brace.
    return lines.find((line) => line.startsWith('{"') && line.endsWith('}'));
  } catch {
    return undefined;
  }
}
