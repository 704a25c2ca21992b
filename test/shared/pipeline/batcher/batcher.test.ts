import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { eventFileName, sortFiles } from '#shared/base/export-files.ts';
import { PREFIXES, quarantineKey } from '#shared/base/staging-keys.ts';
import { type BatchManifest, parseBatchManifest } from '#shared/format/manifest.ts';
import { MAX_TIME_RANGES } from '#shared/format/time-ranges.ts';
import { runBatcher, writeBatch } from '#shared/pipeline/batcher/batcher.ts';
import { discoverRange } from '#shared/pipeline/batcher/discover.ts';
import { readProcessed } from '#shared/pipeline/batcher/state.ts';
import { generateSample, type SampleManifest } from '#shared/sample/generate.ts';
import { columnsOf, type Feed } from '#shared/schema/columns.ts';
import { acquireLease } from '#shared/storage/lease.ts';
import type { ObjectStore } from '#shared/storage/object-store.ts';
import { createTransformer } from '#shared/transform/transformer.ts';
import {
  InterceptingStore,
  manualClock,
  PROJECT_ID,
  parseCsv,
  settingsFor,
  snapshot,
  stagedRows,
  type TempStores,
  tempStores,
  VISIBLE_PREFIXES,
} from './support.ts';

let temp: TempStores | undefined;
afterEach(async () => {
  await temp?.remove();
  temp = undefined;
});

const NOW = '2024-05-02T06:00:00.000Z';
const DAY = '2024-05-01';

async function manifestsOf(store: ObjectStore, feed: Feed): Promise<BatchManifest[]> {
  const manifests: BatchManifest[] = [];
  for await (const object of store.list(`${PREFIXES.pending}${feed}/`)) {
    manifests.push(parseBatchManifest(await store.getBytes(object.key), object.key));
  }
  return manifests;
}

function linesOfFile(body: Buffer, gzip: boolean): string[] {
  const text = (gzip ? gunzipSync(body) : body).toString('utf8');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

async function quarantineRecords(store: ObjectStore, key: string): Promise<Record<string, unknown>[]> {
  return linesOfFile(await store.getBytes(key), true).map(
    (line) => JSON.parse(line) as Record<string, unknown>,
  );
}

describe('runBatcher', () => {
  it('stages every landing file once, with rows equal to the transform of each first occurrence', async () => {
    temp = await tempStores();
    const sample = await generateSample(temp.landing, { start: DAY, eventsPerHour: 40, seed: 11 });
    const clock = manualClock(NOW);
    const settings = settingsFor();

    const summary = await runBatcher({ ...temp, settings, clock, runId: 'run-1' });

    expect(summary.skipped).toBeUndefined();
    expect(summary.stoppedForBudget).toBe(false);
    const events = summary.feeds.events!;
    const merges = summary.feeds.merge_ids!;
    expect(events.files).toBe(sample.files.filter((file) => file.feed === 'events').length);
    expect(events.lines).toBe(sample.events);
    expect(events.rows).toBe(sample.uniqueEvents);
    expect(events.duplicatesInBatch).toBe(sample.duplicateEvents);
    expect(events.quarantined).toEqual({});
    expect(events.adjusted.event_time_derived).toBeGreaterThan(0);
    expect(merges.lines).toBe(sample.mergeRows);
    expect(merges.rows).toBe(sample.uniqueMergePairs);
    expect(merges.duplicatesInBatch).toBe(sample.duplicateMergeRows);
    expect(events.batches).toHaveLength(1);
    expect(merges.batches).toHaveLength(1);

    for (const feed of ['events', 'merge_ids'] as const) {
      const [manifest] = await manifestsOf(temp.staging, feed);
      const batch = manifest!.batch;
      const files = sortFiles(
        await discoverRange(
          temp.landing,
          settings,
          feed,
          new Date(`${DAY}T00:00:00Z`),
          new Date(`${DAY}T23:00:00Z`),
        ),
      );
      expect(batch.batchId).toBe(summary.feeds[feed]!.batches[0]);
      expect(batch).toMatchObject({ feed, projectId: PROJECT_ID, source: 'live', createdAt: NOW });
      expect(batch.sourceKeys).toEqual(files.map((file) => file.key));
      expect(batch.bytesIn).toBe(files.reduce((sum, file) => sum + file.size, 0));

      const transform = createTransformer(feed);
      const expected: (string | null)[][] = [];
      const keys = new Set<string>();
      for (const file of files) {
        for (const line of linesOfFile(await temp.landing.getBytes(file.key), true)) {
          const result = transform(line);
          if (!result.ok) throw new Error(`sample line rejected: ${result.reason}`);
          if (keys.has(result.key)) continue;
          keys.add(result.key);
          expected.push([...result.values, batch.batchId]);
        }
      }
      const rows = await stagedRows(temp.staging, feed);
      expect(rows).toEqual(expected);
      expect(rows[0]).toHaveLength(columnsOf(feed).length + 1);

      const column = (name: string) => columnsOf(feed).findIndex((c) => c.name === name);
      const times = rows
        .map((row) => row[column(feed === 'events' ? 'event_time' : 'merge_event_time')]!)
        .sort();
      const uploads = rows
        .map((row) => row[column(feed === 'events' ? 'server_upload_time' : 'merge_server_time')]!)
        .sort();
      expect([batch.minTime, batch.maxTime]).toEqual([times[0], times.at(-1)]);
      expect([batch.minUploadTime, batch.maxUploadTime]).toEqual([uploads[0], uploads.at(-1)]);
      // Every distinct hour of the rows' times, for the load's per-hour read of the target.
      expect(batch.hours).toEqual([
        ...new Set(times.map((time) => `${time.slice(0, 10)}T${time.slice(11, 13)}`)),
      ]);
      // Time ranges, what a load reads of the target: sorted and disjoint, each from a row's time
      // to a row's time, every row's time in one, and no more than a load uses.
      const ranges = batch.timeRanges!;
      expect(ranges.length).toBeGreaterThan(1);
      expect(ranges.length).toBeLessThanOrEqual(MAX_TIME_RANGES);
      const rowTimes = new Set(times);
      for (const [i, range] of ranges.entries()) {
        expect(rowTimes.has(range.min) && rowTimes.has(range.max)).toBe(true);
        if (i > 0) expect(range.min > ranges[i - 1]!.max).toBe(true);
      }
      expect(times.filter((time) => !ranges.some((r) => r.min <= time && time <= r.max))).toEqual([]);
      expect([ranges[0]!.min, ranges.at(-1)!.max]).toEqual([batch.minTime, batch.maxTime]);
      // The oldest landing file's time (its mtime here: S3 LastModified in AWS).
      const { landing } = temp;
      const landed = await Promise.all(
        files.map(async (file) => (await landing.head(file.key))!.lastModified),
      );
      expect(batch.oldestLandedAt).toBe(
        new Date(Math.min(...landed.map((date) => date.getTime()))).toISOString(),
      );

      const processed = await readProcessed(temp.staging, feed, DAY);
      expect(Object.keys(processed.files).sort()).toEqual(files.map((file) => file.key).sort());
      expect(Object.values(processed.files).every((entry) => entry.batchId === batch.batchId)).toBe(true);
    }
    expect((await snapshot(temp.staging, ['state/open-batches/', 'state/leases/'])).size).toBe(0);
  });

  it('starts a load once when it staged batches, never when it staged none, and reports a failed start', async () => {
    temp = await tempStores();
    await generateSample(temp.landing, { start: DAY, eventsPerHour: 5, seed: 6, parts: 'on-time' });
    const clock = manualClock(NOW);
    const settings = settingsFor();
    const starts: string[] = [];
    const startLoad = async () => {
      starts.push('load');
    };

    const first = await runBatcher({ ...temp, settings, clock, startLoad });
    expect(first.feeds.events!.batches.length).toBeGreaterThan(0);
    expect(starts).toEqual(['load']);
    expect(first.loadStart).toEqual({ started: true });

    const idle = await runBatcher({ ...temp, settings, clock, startLoad });
    expect(starts).toEqual(['load']);
    expect(idle.loadStart).toBeUndefined();

    await generateSample(temp.landing, { start: DAY, eventsPerHour: 5, seed: 6, parts: 'late' });
    const failing = await runBatcher({
      ...temp,
      settings,
      clock,
      startLoad: async () => {
        throw Object.assign(new Error('User is not authorized to perform: lambda:InvokeFunction'), {
          name: 'AccessDeniedException',
        });
      },
    });
    // The batches are staged all the same; the loader's schedule loads them.
    expect(failing.feeds.events!.batches.length).toBeGreaterThan(0);
    expect(failing.loadStart).toEqual({
      started: false,
      error: 'AccessDeniedException: User is not authorized to perform: lambda:InvokeFunction',
    });
  });

  it('does nothing on a second run, and batches late parts when they land', async () => {
    temp = await tempStores();
    const options = { start: DAY, eventsPerHour: 20, seed: 4 };
    const onTime = await generateSample(temp.landing, { ...options, parts: 'on-time' });
    const clock = manualClock(NOW);
    const settings = settingsFor();
    await runBatcher({ ...temp, settings, clock });
    const before = await snapshot(temp.staging, VISIBLE_PREFIXES);

    const again = await runBatcher({ ...temp, settings, clock });
    expect(again.feeds.events!.batches).toEqual([]);
    expect(again.feeds.merge_ids!.batches).toEqual([]);
    expect(await snapshot(temp.staging, VISIBLE_PREFIXES)).toEqual(before);

    const late = await generateSample(temp.landing, { ...options, parts: 'late' });
    expect(late.files.length).toBeGreaterThan(0);
    const third = await runBatcher({ ...temp, settings, clock });
    expect(third.feeds.events!.files).toBe(late.files.length);
    expect(third.feeds.events!.lines).toBe(late.events);
    const [latest] = (await manifestsOf(temp.staging, 'events')).filter(
      (manifest) => manifest.batch.batchId === third.feeds.events!.batches[0],
    );
    expect(latest!.batch.sourceKeys).toEqual(late.files.map((file) => file.key));

    const all = await generateSample(temp.another('all'), options);
    const uuids = new Set((await stagedRows(temp.staging, 'events')).map((row) => row[0]));
    expect(uuids.size).toBe(all.uniqueEvents);
    expect(onTime.events + late.events).toBe(all.events);
  });

  it('gives the same files the same batch ids and byte-identical staged objects', async () => {
    temp = await tempStores();
    await generateSample(temp.landing, { start: DAY, eventsPerHour: 15, seed: 8 });
    const settings = settingsFor({ PART_TARGET_BYTES: '8192' });
    const first = await runBatcher({ ...temp, settings, clock: manualClock(NOW), maxFilesPerBatch: 10 });
    const other = temp.another('staging-2');
    const second = await runBatcher({
      ...temp,
      staging: other,
      settings,
      clock: manualClock(NOW),
      maxFilesPerBatch: 10,
    });
    expect(second.feeds).toEqual(first.feeds);
    expect(first.feeds.events!.batches.length).toBeGreaterThan(2);
    for (const id of [...first.feeds.events!.batches, ...first.feeds.merge_ids!.batches]) {
      expect(id).toMatch(/^(ev|mi)-20240501-[0-9a-f]{16}$/);
    }
    const a = await snapshot(temp.staging, VISIBLE_PREFIXES);
    const b = await snapshot(other, VISIBLE_PREFIXES);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [key, body] of a) {
      const normalized = body.toString('latin1').replaceAll(temp.staging.root, other.root);
      expect(b.get(key)!.toString('latin1'), key).toBe(normalized);
    }
  });

  it('accounts for every line: rows, quarantined with a reason, duplicates, and blank lines apart', async () => {
    temp = await tempStores();
    const sample = await generateSample(temp.landing, {
      start: DAY,
      eventsPerHour: 10,
      seed: 2,
      lateRate: 0,
    });
    const valid = linesOfFile(await temp.landing.getBytes(sample.files[0]!.key), true);
    const plainKey = `${PROJECT_ID}_${DAY}_6#3.json`;
    await temp.landing.put(
      plainKey,
      [
        valid[0],
        'not json at all',
        '[1,2,3]',
        '{"uuid":"only-a-uuid"}',
        '',
        '   ',
        valid[1],
        '{"uuid":"9f1c","event_type":"x","amplitude_id":"twelve","server_upload_time":"2024-05-01 01:00:00"}',
        valid[1],
      ].join('\n'),
    );
    const summary = await runBatcher({
      ...temp,
      settings: settingsFor({ FEEDS: 'events' }),
      clock: manualClock(NOW),
    });
    const events = summary.feeds.events!;
    expect(events.quarantined).toEqual({
      malformed_json: 1,
      not_an_object: 1,
      missing_required: 1,
      invalid_type: 1,
    });
    expect(events.blankLines).toBe(2);
    expect(events.lines).toBe(sample.events + 7);
    // valid[0] and valid[1] repeat lines of the first file; the second valid[1] repeats it again.
    expect(events.duplicatesInBatch).toBe(sample.duplicateEvents + 3);
    expect(events.rows).toBe(sample.uniqueEvents);
    const quarantinedTotal = Object.values(events.quarantined).reduce((sum, n) => sum + n, 0);
    expect(events.lines).toBe(events.rows + events.duplicatesInBatch + quarantinedTotal);

    const [manifest] = await manifestsOf(temp.staging, 'events');
    expect(manifest!.batch.quarantineKey).toBe(quarantineKey('events', manifest!.batch.batchId));
    const records = await quarantineRecords(temp.staging, manifest!.batch.quarantineKey!);
    expect(records.map((record) => [record.sourceKey, record.lineNumber, record.reason])).toEqual([
      [plainKey, 2, 'malformed_json'],
      [plainKey, 3, 'not_an_object'],
      [plainKey, 4, 'missing_required'],
      [plainKey, 8, 'invalid_type'],
    ]);
    expect(records[0]!.line).toBe('not json at all');
  });

  it('quarantines an unreadable gzip file whole and stages the other files of the run', async () => {
    temp = await tempStores();
    const sample = await generateSample(temp.landing, {
      start: DAY,
      eventsPerHour: 10,
      seed: 6,
      lateRate: 0,
    });
    const intruders = await generateSample(temp.another('other'), {
      start: DAY,
      eventsPerHour: 400,
      seed: 99,
      days: 1,
    });
    const source = await temp.another('other').getBytes(intruders.files[0]!.key);
    const truncatedKey = eventFileName(PROJECT_ID, DAY, 5, 2);
    const garbageKey = eventFileName(PROJECT_ID, DAY, 9, 1);
    await temp.landing.put(truncatedKey, source.subarray(0, Math.floor(source.length / 2)));
    await temp.landing.put(garbageKey, 'this was never gzip\n');
    const readable = linesOfFile(gzipSync(gunzipSync(source)), true);
    const staging = new InterceptingStore(temp.staging);
    const deleted: string[] = [];
    staging.afterWrite = (operation, key) => {
      if (operation === 'delete') deleted.push(key);
    };

    const summary = await runBatcher({
      landing: temp.landing,
      staging,
      settings: settingsFor({ FEEDS: 'events' }),
      clock: manualClock(NOW),
    });

    const events = summary.feeds.events!;
    expect(events.quarantined).toEqual({ unreadable_file: 2 });
    expect(events.rows).toBe(sample.uniqueEvents);
    expect(events.lines).toBe(sample.events + 2);
    // The truncated file's first lines had been staged before its end failed: the attempt's part was dropped.
    expect(deleted.some((key) => key.startsWith('staging/events/'))).toBe(true);
    const staged = new Set((await stagedRows(temp.staging, 'events')).map((row) => row[0]));
    const intruderUuids = readable
      .slice(0, 50)
      .map((line) => String((JSON.parse(line) as { uuid: string }).uuid));
    expect(intruderUuids.some((uuid) => staged.has(uuid))).toBe(false);

    const [manifest] = await manifestsOf(temp.staging, 'events');
    const records = await quarantineRecords(temp.staging, manifest!.batch.quarantineKey!);
    expect(
      records.map((record) => [record.sourceKey, record.lineNumber, record.reason, record.line]),
    ).toEqual([
      [truncatedKey, 0, 'unreadable_file', ''],
      [garbageKey, 0, 'unreadable_file', ''],
    ]);
    expect(String(records[0]!.detail)).toMatch(/Z_BUF_ERROR/);
    const processed = await readProcessed(temp.staging, 'events', DAY);
    expect(Object.keys(processed.files)).toContain(truncatedKey);
    const again = await runBatcher({
      ...temp,
      settings: settingsFor({ FEEDS: 'events' }),
      clock: manualClock(NOW),
    });
    expect(again.feeds.events!.files).toBe(0);
  });

  it('stops taking batches when the time budget would run out and leaves the rest for the next run', async () => {
    temp = await tempStores();
    const sample = await generateSample(temp.landing, { start: DAY, eventsPerHour: 5, seed: 3, lateRate: 0 });
    const clock = manualClock(NOW);
    const landing = new InterceptingStore(temp.landing);
    landing.beforeRead = () => clock.advance(60_000);
    const settings = settingsFor({ FEEDS: 'events' });
    const run = () =>
      runBatcher({
        landing,
        staging: temp!.staging,
        settings,
        clock,
        budgetMs: 150_000,
        maxFilesPerBatch: 2,
      });

    const first = await run();
    expect(first.stoppedForBudget).toBe(true);
    expect(first.feeds.events!.files).toBe(2);
    expect(first.feeds.events!.filesLeft).toBe(22);
    let files = first.feeds.events!.files;
    let lines = first.feeds.events!.lines;
    for (let i = 0; i < 30 && files < 24; i++) {
      const next = await run();
      expect(next.feeds.events!.files).toBeGreaterThan(0);
      files += next.feeds.events!.files;
      lines += next.feeds.events!.lines;
    }
    expect(files).toBe(24);
    expect(lines).toBe(sample.events);
    const last = await run();
    expect(last.stoppedForBudget).toBe(false);
    expect(last.feeds.events!.files).toBe(0);
  });

  it('does nothing while another run holds the lease, and one of two concurrent runs skips', async () => {
    temp = await tempStores();
    await generateSample(temp.landing, { start: DAY, eventsPerHour: 5, seed: 3 });
    const clock = manualClock(NOW);
    const settings = settingsFor();
    const held = await acquireLease(temp.staging, 'batcher', { owner: 'someone-else', ttlMs: 60_000, clock });
    const blocked = await runBatcher({ ...temp, settings, clock });
    expect(blocked.skipped).toMatchObject({ reason: 'lease-held', heldBy: 'someone-else' });
    expect(blocked.feeds).toEqual({});
    expect((await snapshot(temp.staging, ['manifests/', 'staging/'])).size).toBe(0);
    await held!.release();

    const landing = new InterceptingStore(temp.landing);
    landing.beforeRead = () => new Promise((resolve) => setTimeout(resolve, 5));
    const results = await Promise.all([
      runBatcher({ landing, staging: temp.staging, settings, clock, runId: 'a' }),
      runBatcher({ landing, staging: temp.staging, settings, clock, runId: 'b' }),
    ]);
    const skipped = results.filter((result) => result.skipped);
    expect(skipped).toHaveLength(1);
    expect(skipped[0]!.skipped!.heldBy).toBe(`batcher:${results.find((r) => !r.skipped)!.runId}`);
    expect(results.find((result) => !result.skipped)!.feeds.events!.batches).toHaveLength(1);
  });

  it('reports unbatched files of the day before the window as too old', async () => {
    temp = await tempStores();
    await generateSample(temp.landing, {
      start: '2024-04-28',
      days: 2,
      eventsPerHour: 2,
      seed: 1,
      lateRate: 0,
    });
    const summary = await runBatcher({
      ...temp,
      settings: settingsFor(),
      clock: manualClock('2024-05-01T01:00:00Z'),
    });
    expect(summary.feeds.events!.tooOld).toBe(24);
    expect(summary.feeds.events!.tooOldKeys).toHaveLength(20);
    // The window is 2024-04-29 .. 2024-05-01: the 28th is the day before it.
    expect(summary.feeds.events!.tooOldKeys[0]).toBe(eventFileName(PROJECT_ID, '2024-04-28', 0, 0));
    expect(summary.feeds.events!.files).toBe(24);
  });
});

describe('writeBatch', () => {
  it('stages a given file list for backfill without touching processed records', async () => {
    temp = await tempStores();
    const sample: SampleManifest = await generateSample(temp.landing, {
      start: DAY,
      eventsPerHour: 8,
      seed: 5,
      lateRate: 0,
    });
    const files = await discoverRange(
      temp.landing,
      settingsFor(),
      'events',
      new Date(`${DAY}T03:00:00Z`),
      new Date(`${DAY}T04:00:00Z`),
    );
    const written = await writeBatch({
      landing: temp.landing,
      staging: temp.staging,
      feed: 'events',
      projectId: PROJECT_ID,
      files,
      batchId: 'bf-20240501-test',
      source: 'backfill',
      clock: manualClock(NOW),
      partTargetBytes: 64 * 1024 * 1024,
    });
    expect(written.manifestKey).toBe('manifests/pending/events/bf-20240501-test.json');
    expect(written.manifest.batch).toMatchObject({
      source: 'backfill',
      lines: 16,
      sourceKeys: files.map((f) => f.key),
    });
    expect(written.parts).toHaveLength(1);
    expect(
      parseCsv(gunzipSync(await temp.staging.getBytes(written.parts[0]!.key)).toString('utf8')),
    ).toHaveLength(written.manifest.batch.rowCount);
    expect((await snapshot(temp.staging, ['state/'])).size).toBe(0);
    const live = await runBatcher({
      ...temp,
      settings: settingsFor({ FEEDS: 'events' }),
      clock: manualClock(NOW),
    });
    expect(live.feeds.events!.files).toBe(sample.files.filter((file) => file.feed === 'events').length);
  });
});

describe('writeBatch on worker threads', () => {
  it('writes exactly what the calling thread writes, slice borders, long lines and all', async () => {
    temp = await tempStores();
    const sample = await generateSample(temp.landing, {
      start: DAY,
      eventsPerHour: 800,
      seed: 12,
      lateRate: 0,
      days: 1,
    });
    const valid = linesOfFile(await temp.landing.getBytes(sample.files[0]!.key), true);
    const long = JSON.stringify({ ...JSON.parse(valid[5]!), uuid: 'long-one', user_id: 'x'.repeat(400_000) });
    const crafted = `${PROJECT_ID}_${DAY}_3#7.json`;
    await temp.landing.put(
      crafted,
      `\uFEFF${valid[0]}\r\n\r\nnot json\r\n${long}\n   \n${valid.slice(1, 700).join('\n')}\n{"uuid":1}\n${valid[700]}`,
    );
    const files = [
      ...(await discoverRange(
        temp.landing,
        settingsFor(),
        'events',
        new Date(`${DAY}T02:00:00Z`),
        new Date(`${DAY}T03:00:00Z`),
      )),
    ];
    expect(files.map((file) => file.key)).toContain(crafted);
    const write = (staging: ObjectStore, workers: number) =>
      writeBatch({
        landing: temp!.landing,
        staging,
        feed: 'events',
        projectId: PROJECT_ID,
        files,
        batchId: 'ev-20240501-threads',
        source: 'live',
        clock: manualClock(NOW),
        partTargetBytes: 256 * 1024,
        workers,
      });
    const single = temp.another('single');
    const threaded = temp.another('threaded');
    const here = await write(single, 0);
    const there = await write(threaded, 2);
    expect(here.threads).toBe(0);
    expect(there.threads).toBe(2);
    expect(there.manifest.batch).toEqual(here.manifest.batch);
    expect(there.blankLines).toBe(here.blankLines);
    expect(here.blankLines).toBe(2);
    expect(here.manifest.batch.adjusted.truncated).toBe(1);
    expect(here.parts.length).toBeGreaterThan(3);
    const a = await snapshot(single, VISIBLE_PREFIXES);
    const b = await snapshot(threaded, VISIBLE_PREFIXES);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [key, body] of a) {
      if (key.startsWith('manifests/')) continue;
      expect(b.get(key)!.equals(body), key).toBe(true);
    }
    const records = await quarantineRecords(single, here.manifest.batch.quarantineKey!);
    expect(records.map((record) => [record.sourceKey, record.lineNumber, record.reason])).toEqual([
      [crafted, 3, 'malformed_json'],
      [crafted, 705, 'missing_required'],
    ]);
    const rows = await stagedRows(single, 'events');
    expect(rows.find((row) => row[0] === 'long-one')?.[11]).toHaveLength(4096);
  });
});
