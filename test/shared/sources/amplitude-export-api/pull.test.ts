import { gzipSync } from 'node:zlib';
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { discoverRange } from '#shared/pipeline/batcher/discover.ts';
import { ExportApiError, ExportApiPullError } from '#shared/sources/amplitude-export-api/errors.ts';
import { pullHours, pullRanges } from '#shared/sources/amplitude-export-api/pull.ts';
import { S3ObjectStore } from '#shared/storage/s3-store.ts';
import { hourIndex } from './fake-export-api.ts';
import { Harness, PROJECT_ID } from './support.ts';

const H5 = hourIndex('2024-05-01T05');
const settings = { projectId: PROJECT_ID, landingPrefix: 'export/' };

let h: Harness;
beforeEach(async () => {
  h = await new Harness().setUp();
});
afterEach(async () => {
  await h.tearDown();
});

const event = (hour: string, n: number) =>
  JSON.stringify({ uuid: `${hour}-${n}`, event_type: 'click', server_upload_time: `${hour}:00:00.000000` });

function fourHours() {
  return {
    h5: h.api.setHour(H5, [[event('05', 1), event('05', 2)], [event('05', 3)]]),
    h6: h.api.setHour(H5 + 1, [[event('06', 1)]]),
    // 07: no data
    h8: h.api.setHour(H5 + 3, [[event('08', 1)], [event('08', 2)], [event('08', 3), event('08', 4)]]),
  };
}

describe('pullHours', () => {
  it('writes every file of every hour under its S3-export name, byte for byte, in one request', async () => {
    const { h5, h6, h8 } = fourHours();

    const report = await pullHours({
      api: h.client(),
      landing: h.landing,
      settings,
      startHour: '2024-05-01T05',
      endHour: '2024-05-01T08',
    });

    const landed = await h.landingFiles();
    const expected = new Map([
      ['export/187520_2024-05-01_5#0.json.gz', h5[0]!],
      ['export/187520_2024-05-01_5#1.json.gz', h5[1]!],
      ['export/187520_2024-05-01_6#0.json.gz', h6[0]!],
      ['export/187520_2024-05-01_8#0.json.gz', h8[0]!],
      ['export/187520_2024-05-01_8#1.json.gz', h8[1]!],
      ['export/187520_2024-05-01_8#2.json.gz', h8[2]!],
    ]);
    expect([...landed.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [key, bytes] of expected) expect(landed.get(key)!.equals(bytes), key).toBe(true);

    expect(h.api.requests).toEqual([
      { start: '20240501T05', end: '20240501T08', authorization: h.api.authorization, path: '/api/2/export' },
    ]);
    expect(report.requests).toBe(1);
    expect(report.failures).toEqual([]);
    expect(report.hours.map((hour) => [hour.hour, hour.files, hour.events, hour.written])).toEqual([
      ['2024-05-01T05', 2, 3, 2],
      ['2024-05-01T06', 1, 1, 1],
      ['2024-05-01T07', 0, 0, 0],
      ['2024-05-01T08', 3, 4, 3],
    ]);
    expect(await h.tempEntries()).toEqual([]);
  });

  it("lands files the batcher's discovery reads as the project's events of those hours", async () => {
    fourHours();
    await pullHours({
      api: h.client(),
      landing: h.landing,
      settings,
      startHour: '2024-05-01T05',
      endHour: '2024-05-01T08',
    });

    const pipeline = pipelineSettingsFrom({ PROJECT_ID, LANDING_PREFIX: 'export/' });
    const found = await discoverRange(
      h.landing,
      pipeline,
      'events',
      new Date('2024-05-01T05:00:00Z'),
      new Date('2024-05-01T08:00:00Z'),
    );
    expect(found.map((file) => [file.day, file.hour, file.part, file.owner])).toEqual([
      ['2024-05-01', 5, 0, PROJECT_ID],
      ['2024-05-01', 5, 1, PROJECT_ID],
      ['2024-05-01', 6, 0, PROJECT_ID],
      ['2024-05-01', 8, 0, PROJECT_ID],
      ['2024-05-01', 8, 1, PROJECT_ID],
      ['2024-05-01', 8, 2, PROJECT_ID],
    ]);
  });

  it('treats 404 as hours without data: nothing written, no error', async () => {
    const report = await pullHours({
      api: h.client(),
      landing: h.landing,
      settings,
      startHour: '2024-05-01T05',
      endHour: '2024-05-01T06',
    });

    expect(report.hours).toEqual([
      { hour: '2024-05-01T05', files: 0, bytes: 0, events: 0, written: 0, unchanged: 0, deleted: 0 },
      { hour: '2024-05-01T06', files: 0, bytes: 0, events: 0, written: 0, unchanged: 0, deleted: 0 },
    ]);
    expect(await h.landingFiles()).toEqual(new Map());
    expect(h.api.requests).toHaveLength(1);
  });

  it('asks at most maxHoursPerRequest hours per request', async () => {
    fourHours();
    await pullHours({
      api: h.client(),
      landing: h.landing,
      settings: { ...settings, maxHoursPerRequest: 3 },
      startHour: '2024-05-01T05',
      endHour: '2024-05-01T11',
    });
    expect(h.api.requests.map((request) => [request.start, request.end])).toEqual([
      ['20240501T05', '20240501T07'],
      ['20240501T08', '20240501T10'],
      ['20240501T11', '20240501T11'],
    ]);
  });

  it('refuses a start after the end, and hours it cannot read', async () => {
    const input = { api: h.client(), landing: h.landing, settings };
    await expect(
      pullHours({ ...input, startHour: '2024-05-01T06', endHour: '2024-05-01T05' }),
    ).rejects.toThrow(/startHour 2024-05-01T06 is after endHour 2024-05-01T05/);
    await expect(
      pullHours({ ...input, startHour: '2024-05-01T24', endHour: '2024-05-01T05' }),
    ).rejects.toThrow(/startHour must be an hour as YYYY-MM-DDTHH/);
    expect(h.api.requests).toEqual([]);
  });
});

describe('landing on S3', () => {
  const s3 = mockClient(S3Client);
  afterEach(() => {
    s3.reset();
  });

  it('streams each file into PutObject under its S3-export key and deletes stale parts', async () => {
    const { h5 } = fourHours();
    s3.on(ListObjectsV2Command).resolves({
      Contents: [
        { Key: 'amp/export/187520_2024-05-01_5#0.json.gz', Size: 1, ETag: '"old"' },
        { Key: 'amp/export/187520_2024-05-01_5#7.json.gz', Size: 1, ETag: '"old"' },
      ],
    });
    s3.on(PutObjectCommand).resolves({ ETag: '"new"' });
    s3.on(DeleteObjectCommand).resolves({});
    const landing = new S3ObjectStore({
      client: new S3Client({ region: 'us-east-1' }),
      bucket: 'landing',
      prefix: 'amp',
    });

    await pullHours({
      api: h.client(),
      landing,
      settings,
      startHour: '2024-05-01T05',
      endHour: '2024-05-01T05',
    });

    expect(s3.commandCalls(ListObjectsV2Command)[0]!.args[0].input).toMatchObject({
      Bucket: 'landing',
      Prefix: 'amp/export/187520_2024-05-01_5#',
    });
    const puts = s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input);
    expect(puts.map((put) => put.Key).sort()).toEqual([
      'amp/export/187520_2024-05-01_5#0.json.gz',
      'amp/export/187520_2024-05-01_5#1.json.gz',
    ]);
    for (const put of puts) {
      const part = Number(/#(\d+)/.exec(put.Key!)![1]);
      expect(Buffer.from(put.Body as Uint8Array).equals(h5[part]!)).toBe(true);
    }
    expect(s3.commandCalls(DeleteObjectCommand).map((call) => call.args[0].input.Key)).toEqual([
      'amp/export/187520_2024-05-01_5#7.json.gz',
    ]);
  });
});

describe('pulling an hour again', () => {
  const pull = () =>
    pullHours({
      api: h.client(),
      landing: h.landing,
      settings,
      startHour: '2024-05-01T05',
      endHour: '2024-05-01T08',
    });

  it('leaves identical files untouched and adds no copy', async () => {
    fourHours();
    await pull();
    const before = new Map<string, string>();
    for await (const object of h.landing.list('export/')) before.set(object.key, object.etag);

    const again = await pull();

    const after = new Map<string, string>();
    for await (const object of h.landing.list('export/')) after.set(object.key, object.etag);
    expect(after).toEqual(before);
    expect(again.hours.map((hour) => [hour.written, hour.unchanged, hour.deleted])).toEqual([
      [0, 2, 0],
      [0, 1, 0],
      [0, 0, 0],
      [0, 3, 0],
    ]);
  });

  it("replaces an hour's changed parts and deletes the parts the new answer no longer has", async () => {
    fourHours();
    await pull();
    // Unrelated keys sharing a prefix with hour 5 of another day or hour 15 stay.
    await h.landing.put('export/187520_2024-05-01_15#0.json.gz', gzipSync('{"other":1}\n'));
    const replaced = h.api.setHour(H5, [[event('05', 9)]]);

    const report = await pull();

    const keys: string[] = [];
    for await (const object of h.landing.list('export/187520_2024-05-01_5')) keys.push(object.key);
    expect(keys).toEqual(['export/187520_2024-05-01_5#0.json.gz']);
    expect((await h.landing.getBytes(keys[0]!)).equals(replaced[0]!)).toBe(true);
    expect(await h.landing.head('export/187520_2024-05-01_15#0.json.gz')).toBeDefined();
    expect(report.hours[0]).toMatchObject({ hour: '2024-05-01T05', files: 1, written: 1, deleted: 1 });
    expect(report.hours[3]).toMatchObject({ hour: '2024-05-01T08', written: 0, unchanged: 3, deleted: 0 });
  });

  it('keeps what landing has for an hour the new answer has no files for', async () => {
    fourHours();
    await pull();
    h.api.hours.delete(H5 + 1);

    const report = await pull();

    expect(await h.landing.head('export/187520_2024-05-01_6#0.json.gz')).toBeDefined();
    expect(report.hours[1]).toMatchObject({ hour: '2024-05-01T06', files: 0, deleted: 0 });
  });
});

describe('ranges the API finds too large', () => {
  it.each([400, 504])('halves a range answered %i down to single hours, in order', async (status) => {
    fourHours();
    h.api.maxHours = 1;
    h.api.tooLargeStatus = status;

    const report = await pullHours({
      api: h.client(),
      landing: h.landing,
      settings,
      startHour: '2024-05-01T05',
      endHour: '2024-05-01T08',
    });

    expect(h.api.requests.map((request) => `${request.start}-${request.end}`)).toEqual([
      '20240501T05-20240501T08',
      '20240501T05-20240501T06',
      '20240501T05-20240501T05',
      '20240501T06-20240501T06',
      '20240501T07-20240501T08',
      '20240501T07-20240501T07',
      '20240501T08-20240501T08',
    ]);
    expect(report.hours.map((hour) => hour.files)).toEqual([2, 1, 0, 3]);
    expect((await h.landingFiles()).size).toBe(6);
    expect(h.sleeps).toEqual([]);
  });

  it('fails a single hour still answered 400, names it, and writes the other hours', async () => {
    fourHours();
    h.api.maxHours = 1;
    h.api.hugeHours.add(H5 + 1);

    const error = await pullHours({
      api: h.client(),
      landing: h.landing,
      settings,
      startHour: '2024-05-01T05',
      endHour: '2024-05-01T08',
    }).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ExportApiPullError);
    const failure = (error as ExportApiPullError).failures[0]!;
    expect(failure.kind).toBe('too-large');
    expect(failure.status).toBe(400);
    expect(failure.message).toMatch(
      /hours 2024-05-01T06: the API answered 400 Bad Request.*for a single hour.*S3 export/,
    );
    expect((error as Error).message).toContain('2024-05-01T06');
    expect(await h.landing.head('export/187520_2024-05-01_6#0.json.gz')).toBeUndefined();
    expect(await h.landing.head('export/187520_2024-05-01_5#1.json.gz')).toBeDefined();
    expect(await h.landing.head('export/187520_2024-05-01_8#2.json.gz')).toBeDefined();
  });

  it('retries a single hour answered 504 like a timeout, then reports it as too large', async () => {
    fourHours();
    h.api.maxHours = 1;
    h.api.tooLargeStatus = 504;
    h.api.hugeHours.add(H5);

    const report = await pullRanges({
      api: h.client({ maxAttempts: 3 }),
      landing: h.landing,
      settings,
      ranges: [{ first: H5, last: H5 + 1 }],
    });

    const forHour5 = h.api.requests.filter(
      (request) => request.start === '20240501T05' && request.end === '20240501T05',
    );
    expect(forHour5).toHaveLength(3);
    expect(h.sleeps).toHaveLength(2);
    expect(report.failures.map((failure) => [failure.kind, failure.status, failure.startHour])).toEqual([
      ['too-large', 504, '2024-05-01T05'],
    ]);
    expect(report.hours.map((hour) => hour.hour)).toEqual(['2024-05-01T06']);
  });
});

describe('answers that must not reach landing', () => {
  it('never writes any file of an answer whose gzip file is damaged, and says which file', async () => {
    fourHours();
    const damaged = gzipSync(`${event('07', 1)}\n`);
    damaged[damaged.length - 6]! ^= 0xff;
    h.api.extraEntries = [{ path: h.api.entryPath(H5 + 2, 0), data: damaged }];

    const error = await pullHours({
      api: h.client({ maxAttempts: 2 }),
      landing: h.landing,
      settings,
      startHour: '2024-05-01T05',
      endHour: '2024-05-01T08',
    }).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ExportApiPullError);
    const failure = (error as ExportApiPullError).failures[0]!;
    expect(failure.kind).toBe('unavailable');
    expect(failure.message).toContain(
      '187520/187520_2024-05-01_7#0.json.gz in the zip is not a complete gzip file',
    );
    expect(h.api.requests).toHaveLength(2);
    expect(await h.landingFiles()).toEqual(new Map());
    expect(await h.tempEntries()).toEqual([]);
  });

  it('never writes a truncated answer, retrying it before failing clearly', async () => {
    fourHours();
    h.api.alwaysFault = { kind: 'truncate', afterBytes: 100 };

    const error = await pullHours({
      api: h.client({ maxAttempts: 3 }),
      landing: h.landing,
      settings,
      startHour: '2024-05-01T05',
      endHour: '2024-05-01T08',
    }).catch((caught: unknown) => caught);

    expect((error as ExportApiPullError).failures[0]!.message).toMatch(
      /hours 2024-05-01T05 \.\. 2024-05-01T08: gave up after 3 attempts; the last one failed with: the response was cut short after 100 bytes/,
    );
    expect(h.api.requests).toHaveLength(3);
    expect(await h.landingFiles()).toEqual(new Map());
    expect(await h.tempEntries()).toEqual([]);
  });

  it('refuses files named unlike the S3 export and writes nothing of that answer', async () => {
    fourHours();
    h.api.extraEntries = [{ path: `${PROJECT_ID}/events-2024-05-01.json.gz`, data: gzipSync('{}\n') }];

    const error = await pullHours({
      api: h.client(),
      landing: h.landing,
      settings,
      startHour: '2024-05-01T05',
      endHour: '2024-05-01T08',
    }).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ExportApiError);
    expect((error as ExportApiError).kind).toBe('invalid-content');
    expect((error as Error).message).toContain('"187520/events-2024-05-01.json.gz"');
    expect(await h.landingFiles()).toEqual(new Map());
  });

  it("refuses another project's files: the key belongs to another project", async () => {
    fourHours();
    const error = await pullHours({
      api: h.client(),
      landing: h.landing,
      settings: { ...settings, projectId: '999' },
      startHour: '2024-05-01T05',
      endHour: '2024-05-01T05',
    }).catch((caught: unknown) => caught);

    expect((error as ExportApiError).kind).toBe('invalid-content');
    expect((error as Error).message).toMatch(/files of project 187520 .* expected project 999/);
    expect(await h.landingFiles()).toEqual(new Map());
  });

  it('takes the project from the answer when none is configured', async () => {
    fourHours();
    await pullHours({
      api: h.client(),
      landing: h.landing,
      settings: { landingPrefix: '' },
      startHour: '2024-05-01T06',
      endHour: '2024-05-01T06',
    });
    expect([...(await h.landingFiles()).keys()]).toEqual(['187520_2024-05-01_6#0.json.gz']);
  });
});
