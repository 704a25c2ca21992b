import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { parseLandingKey } from '#shared/base/export-files.ts';
import { MESSY_STRINGS } from '#shared/sample/events.ts';
import { generateSample, writeEventStream } from '#shared/sample/generate.ts';
import { Random } from '#shared/sample/random.ts';
import { type TempStores, tempStores } from '../pipeline/batcher/support.ts';

let temp: TempStores | undefined;
afterEach(async () => {
  await temp?.remove();
  temp = undefined;
});

async function folderFiles(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of (await readdir(dir)).sort()) files.set(name, await readFile(join(dir, name)));
  return files;
}

function linesOf(body: Buffer): Record<string, unknown>[] {
  return gunzipSync(body)
    .toString('utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('Random', () => {
  it('repeats its sequence for a seed and differs between seeds', () => {
    const a = new Random(42);
    const b = new Random(42);
    const c = new Random(43);
    const first = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(first);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(first);
    for (const value of first) expect(value >= 0 && value < 1).toBe(true);
  });

  it('draws whole numbers inside the bounds and well-formed UUIDs', () => {
    const random = new Random(7);
    const ints = Array.from({ length: 2000 }, () => random.int(3, 6));
    expect(new Set(ints)).toEqual(new Set([3, 4, 5, 6]));
    expect(random.uuid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('generateSample', () => {
  it('writes byte-identical files for the same seed and different ones for another seed', async () => {
    temp = await tempStores('sample');
    const options = { start: '2024-05-01', eventsPerHour: 20 };
    await generateSample(join(temp.dir, 'a'), { ...options, seed: 9 });
    await generateSample(join(temp.dir, 'b'), { ...options, seed: 9 });
    await generateSample(join(temp.dir, 'c'), { ...options, seed: 10 });
    const a = await folderFiles(join(temp.dir, 'a'));
    const b = await folderFiles(join(temp.dir, 'b'));
    const c = await folderFiles(join(temp.dir, 'c'));
    expect(a.size).toBeGreaterThan(48);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [name, body] of a) expect(b.get(name)?.equals(body), name).toBe(true);
    const firstHour = '187520_2024-05-01_0#0.json.gz';
    expect(c.get(firstHour)?.equals(a.get(firstHour)!)).toBe(false);
  });

  it('reports exactly what the files contain: events, duplicates, late parts, merged IDs, markers', async () => {
    temp = await tempStores('sample');
    const manifest = await generateSample(temp.landing, {
      start: '2024-05-01',
      days: 2,
      eventsPerHour: 30,
      seed: 3,
    });

    const uuids = new Map<string, string>();
    let events = 0;
    let withoutEventTime = 0;
    let repeatedInLaterFile = 0;
    const pairs = new Set<string>();
    let mergeRows = 0;
    for (const file of manifest.files) {
      const lines = linesOf(await temp.landing.getBytes(file.key));
      expect(lines).toHaveLength(file.lines);
      const parsed = parseLandingKey({ key: file.key, etag: '', size: 0 }, '');
      expect(parsed).toMatchObject({ feed: file.feed, day: file.day, hour: file.hour, part: file.part });
      for (const line of lines) {
        if (file.feed === 'events') {
          events++;
          const uuid = String(line.uuid);
          const seenIn = uuids.get(uuid);
          if (seenIn !== undefined && seenIn !== file.key) repeatedInLaterFile++;
          else uuids.set(uuid, file.key);
          if (line.event_time === undefined || line.event_time === null) withoutEventTime++;
          for (const key of [
            'uuid',
            'event_type',
            'amplitude_id',
            'server_upload_time',
            'client_event_time',
          ]) {
            expect(line[key], key).not.toBeNull();
          }
        } else {
          mergeRows++;
          expect(Object.keys(line).sort()).toEqual([
            'amplitude_id',
            'merge_server_time',
            'merge_time',
            'merged_amplitude_id',
            'scope',
          ]);
          pairs.add(`${line.amplitude_id}:${line.merged_amplitude_id}`);
        }
      }
    }
    expect(manifest.events).toBe(events);
    expect(manifest.uniqueEvents).toBe(uuids.size);
    expect(manifest.duplicateEvents).toBe(events - uuids.size);
    expect(repeatedInLaterFile).toBe(manifest.duplicateEvents);
    expect(manifest.duplicateEvents).toBeGreaterThan(0);
    expect(manifest.eventsWithoutEventTime).toBe(withoutEventTime);
    expect(withoutEventTime).toBeGreaterThan(0);
    expect(manifest.mergeRows).toBe(mergeRows);
    expect(manifest.uniqueMergePairs).toBe(pairs.size);
    expect(manifest.duplicateMergeRows).toBe(mergeRows - pairs.size);
    expect(manifest.files.filter((file) => file.late).every((file) => file.part === 1)).toBe(true);
    expect(manifest.files.some((file) => file.late)).toBe(true);
    expect(manifest.markers).toHaveLength(48);
    expect((await temp.landing.getBytes(manifest.markers[0]!)).length).toBe(0);
    expect(manifest.bytes).toBe(manifest.files.reduce((sum, file) => sum + file.bytes, 0));
  });

  it('writes the same files in two steps (on time, then late) as in one', async () => {
    temp = await tempStores('sample');
    const options = { start: '2024-05-01', eventsPerHour: 15, seed: 5, completeMarkers: false };
    const all = await generateSample(join(temp.dir, 'all'), options);
    const onTime = await generateSample(join(temp.dir, 'split'), { ...options, parts: 'on-time' });
    const late = await generateSample(join(temp.dir, 'split'), { ...options, parts: 'late' });
    expect(onTime.files.every((file) => !file.late)).toBe(true);
    expect(late.files.length).toBeGreaterThan(0);
    expect(late.files.every((file) => file.late && file.part === 1)).toBe(true);
    expect(onTime.files.length + late.files.length).toBe(all.files.length);
    const whole = await folderFiles(join(temp.dir, 'all'));
    const split = await folderFiles(join(temp.dir, 'split'));
    expect([...split.keys()]).toEqual([...whole.keys()]);
    for (const [name, body] of whole) expect(split.get(name)?.equals(body), name).toBe(true);
  });

  it('uses messy but valid values and events of about 1.5-2 KB', async () => {
    temp = await tempStores('sample');
    const manifest = await generateSample(temp.landing, { start: '2024-05-01', eventsPerHour: 100, seed: 1 });
    let text = '';
    for (const file of manifest.files.filter((f) => f.feed === 'events')) {
      text += gunzipSync(await temp.landing.getBytes(file.key)).toString('utf8');
    }
    for (const messy of MESSY_STRINGS.filter((value) => value.length > 0)) {
      expect(text.includes(JSON.stringify(messy).slice(1, -1)), messy).toBe(true);
    }
    expect(text).toContain('"event_time":null');
    expect(text).toMatch(/"client_event_time":"\d{4}-\d{2}-\d{2}T/);
    expect(text).toMatch(/"client_event_time":"\d{4}-\d{2}-\d{2} /);
    const average = Buffer.byteLength(text) / manifest.events;
    expect(average).toBeGreaterThan(1200);
    expect(average).toBeLessThan(2500);
  });

  it('rejects a start that is not a calendar day', async () => {
    temp = await tempStores('sample');
    await expect(generateSample(temp.landing, { start: '2024-02-30' })).rejects.toThrow(/yyyy-MM-dd/);
  });
});

describe('writeEventStream', () => {
  it('streams the asked number of events into hourly files and counts repeats', async () => {
    temp = await tempStores('sample');
    const written = await writeEventStream(join(temp.dir, 'bench'), {
      events: 2_500,
      eventsPerFile: 1_000,
      seed: 2,
    });
    expect(written.keys).toEqual([
      '187520_2024-05-01_0#0.json.gz',
      '187520_2024-05-01_1#0.json.gz',
      '187520_2024-05-01_2#0.json.gz',
    ]);
    const uuids = new Set<string>();
    let events = 0;
    for (const key of written.keys) {
      for (const line of linesOf(await readFile(join(temp.dir, 'bench', key)))) {
        events++;
        uuids.add(String(line.uuid));
      }
    }
    expect(events).toBe(2_500);
    expect(written.uniqueEvents).toBe(uuids.size);
    expect(written.duplicateEvents).toBe(events - uuids.size);
    expect(written.duplicateEvents).toBeGreaterThan(0);
  });

  it('writes the same bytes to an object store as to a folder', async () => {
    temp = await tempStores('sample');
    const toFolder = await writeEventStream(join(temp.dir, 'folder'), { events: 300, eventsPerFile: 200 });
    const toStore = await writeEventStream(temp.landing, { events: 300, eventsPerFile: 200 });
    expect(toStore).toEqual(toFolder);
    for (const key of toFolder.keys) {
      expect((await temp.landing.getBytes(key)).equals(await readFile(join(temp.dir, 'folder', key)))).toBe(
        true,
      );
    }
  });
});
