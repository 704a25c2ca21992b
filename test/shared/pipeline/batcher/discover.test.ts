import { afterEach, describe, expect, it } from 'vitest';
import {
  completeMarkerName,
  eventFileName,
  type LandingFile,
  mergeIdFileName,
} from '#shared/base/export-files.ts';
import { discover, discoverRange } from '#shared/pipeline/batcher/discover.ts';
import { markProcessed } from '#shared/pipeline/batcher/state.ts';
import type { ObjectStore } from '#shared/storage/object-store.ts';
import { manualClock, ORG_ID, PROJECT_ID, settingsFor, type TempStores, tempStores } from './support.ts';

let temp: TempStores | undefined;
afterEach(async () => {
  await temp?.remove();
  temp = undefined;
});

async function land(store: ObjectStore, ...keys: string[]): Promise<void> {
  for (const key of keys) await store.put(key, `{"key":${JSON.stringify(key)}}\n`);
}

const ev = (day: string, hour: number, part = 0) => eventFileName(PROJECT_ID, day, hour, part);
const keysOf = (files: readonly LandingFile[]) => files.map((file) => file.key);

describe('discover', () => {
  const clock = manualClock('2024-05-03T10:30:00Z');

  it('lists the look-back window, reports the day before it as too old and ignores older days', async () => {
    temp = await tempStores('discover');
    await land(
      temp.landing,
      ev('2024-04-29', 23),
      ev('2024-04-30', 5),
      ev('2024-05-01', 0),
      ev('2024-05-02', 12),
      ev('2024-05-02', 12, 1),
      ev('2024-05-03', 9),
      completeMarkerName(PROJECT_ID, '2024-05-02', 12),
      eventFileName('999', '2024-05-02', 1, 0),
      `${PROJECT_ID}_2024-05-02_notes.txt`,
    );
    const found = await discover({ ...temp, settings: settingsFor(), feed: 'events', clock });
    expect(found.days).toEqual(['2024-05-01', '2024-05-02', '2024-05-03']);
    expect(keysOf(found.files)).toEqual([
      ev('2024-05-01', 0),
      ev('2024-05-02', 12),
      ev('2024-05-02', 12, 1),
      ev('2024-05-03', 9),
    ]);
    expect(keysOf(found.tooOld)).toEqual([ev('2024-04-30', 5)]);
    expect(found.skippedKeys).toBe(2);
    expect(found.alreadyProcessed).toBe(0);
  });

  it('widens and narrows the window with lookbackDays', async () => {
    temp = await tempStores('discover');
    await land(temp.landing, ev('2024-05-02', 1), ev('2024-05-03', 1));
    const narrow = await discover({
      ...temp,
      settings: settingsFor({ LOOKBACK_DAYS: '0' }),
      feed: 'events',
      clock,
    });
    expect(keysOf(narrow.files)).toEqual([ev('2024-05-03', 1)]);
    expect(keysOf(narrow.tooOld)).toEqual([ev('2024-05-02', 1)]);
  });

  it('skips processed files, but picks up late parts and files rewritten since', async () => {
    temp = await tempStores('discover');
    await land(temp.landing, ev('2024-05-02', 3), ev('2024-05-02', 4), ev('2024-04-30', 1));
    const first = await discover({ ...temp, settings: settingsFor(), feed: 'events', clock });
    await markProcessed(temp.staging, 'events', 'ev-1', [...first.files, ...first.tooOld]);

    await land(temp.landing, ev('2024-05-02', 3, 1));
    await temp.landing.put(ev('2024-05-02', 4), '{"rewritten":true}\n');
    const second = await discover({ ...temp, settings: settingsFor(), feed: 'events', clock });
    expect(keysOf(second.files)).toEqual([ev('2024-05-02', 3, 1), ev('2024-05-02', 4)]);
    expect(second.alreadyProcessed).toBe(1);
    expect(second.tooOld).toEqual([]);
  });

  it('takes merged-ID files of the configured org only, or of every org', async () => {
    temp = await tempStores('discover');
    await land(
      temp.landing,
      mergeIdFileName(ORG_ID, '2024-05-02', 1),
      mergeIdFileName('12', '2024-05-02', 2),
      mergeIdFileName('120', '2024-05-03', 3),
      mergeIdFileName('123', '2024-05-01', 4),
      mergeIdFileName('123', '2024-04-01', 4),
      '-not-an-org.txt',
    );
    const settings = settingsFor();
    const all = await discover({ ...temp, settings, feed: 'merge_ids', clock });
    expect(keysOf(all.files)).toEqual([
      mergeIdFileName('123', '2024-05-01', 4),
      mergeIdFileName(ORG_ID, '2024-05-02', 1),
      mergeIdFileName('12', '2024-05-02', 2),
      mergeIdFileName('120', '2024-05-03', 3),
    ]);
    const one = await discover({
      ...temp,
      settings: settingsFor({ ORG_ID: '12' }),
      feed: 'merge_ids',
      clock,
    });
    expect(keysOf(one.files)).toEqual([mergeIdFileName('12', '2024-05-02', 2)]);
    const events = await discover({ ...temp, settings, feed: 'events', clock });
    expect(events.files).toEqual([]);
  });

  it('looks under the landing prefix only', async () => {
    temp = await tempStores('discover');
    await land(temp.landing, `amplitude/${ev('2024-05-03', 1)}`, ev('2024-05-03', 2));
    const found = await discover({
      ...temp,
      settings: settingsFor({ LANDING_PREFIX: 'amplitude/' }),
      feed: 'events',
      clock,
    });
    expect(keysOf(found.files)).toEqual([`amplitude/${ev('2024-05-03', 1)}`]);
    expect(found.files[0]).toMatchObject({ day: '2024-05-03', hour: 1, part: 0, owner: PROJECT_ID });
  });
});

describe('discoverRange', () => {
  it('returns files whose name hour is in the range, processed or not', async () => {
    temp = await tempStores('discover');
    await land(
      temp.landing,
      ev('2024-03-01', 22),
      ev('2024-03-01', 23),
      ev('2024-03-01', 23, 1),
      ev('2024-03-02', 0),
      ev('2024-03-02', 1),
      ev('2024-03-02', 2),
    );
    await markProcessed(temp.staging, 'events', 'ev-x', [
      { key: ev('2024-03-02', 0), day: '2024-03-02', etag: 'whatever', size: 1 },
    ]);
    const files = await discoverRange(
      temp.landing,
      settingsFor(),
      'events',
      new Date('2024-03-01T23:00:00Z'),
      new Date('2024-03-02T01:59:00Z'),
    );
    expect(keysOf(files)).toEqual([
      ev('2024-03-01', 23),
      ev('2024-03-01', 23, 1),
      ev('2024-03-02', 0),
      ev('2024-03-02', 1),
    ]);
  });

  it('refuses an end before the start', async () => {
    temp = await tempStores('discover');
    await expect(
      discoverRange(
        temp.landing,
        settingsFor(),
        'events',
        new Date('2024-03-02T00:00:00Z'),
        new Date('2024-03-01T00:00:00Z'),
      ),
    ).rejects.toThrow(/start at or before the end/);
  });
});
