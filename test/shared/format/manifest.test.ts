import { describe, expect, it } from 'vitest';
import {
  type BatchManifest,
  buildCopyManifest,
  entriesFromParts,
  ManifestValidationError,
  parseBatchManifest,
} from '#shared/format/manifest.ts';

const entry = (n: number, length = 1000 + n) => ({
  url: `s3://staging-bucket/staging/events/2024-05-01/b-1/part-0000${n}.csv.gz`,
  mandatory: true as const,
  meta: { content_length: length },
});

function validManifest(): BatchManifest {
  return {
    entries: [entry(0, 1200), entry(1, 800)],
    batch: {
      batchId: 'events-20240501t1005-abc123',
      feed: 'events',
      projectId: '187520',
      source: 'live',
      createdAt: '2024-05-01T10:05:03.120Z',
      sourceKeys: ['187520/187520_2024-05-01_9#0.json.gz'],
      lines: 110,
      rowCount: 100,
      duplicatesInBatch: 4,
      quarantined: { invalid_json: 5, missing_required: 1 },
      quarantineKey: 'quarantine/events/events-20240501t1005-abc123.jsonl.gz',
      adjusted: { truncated: 2 },
      bytesIn: 50_000,
      bytesOut: 2000,
      minTime: '2024-04-21 09:12:00.000042',
      maxTime: '2024-05-01 09:59:59.999999',
      minUploadTime: '2024-05-01 09:00:01.000000',
      maxUploadTime: '2024-05-01 10:00:00.000000',
      hours: ['2024-04-21T09', '2024-05-01T09'],
      timeRanges: [
        { min: '2024-04-21 09:12:00.000042', max: '2024-04-21 09:12:00.000042' },
        { min: '2024-05-01 09:00:00.000000', max: '2024-05-01 09:59:59.999999' },
      ],
      oldestLandedAt: '2024-05-01T10:01:07.000Z',
    },
  };
}

interface LooseEntry {
  url: unknown;
  mandatory: unknown;
  meta: { content_length: unknown };
  note?: unknown;
}
interface LooseManifest {
  entries?: LooseEntry[];
  batch?: Record<string, unknown> & { quarantined: Record<string, unknown> };
  extra?: unknown;
}

/** `validManifest()` as JSON after `change` edits the plain object. */
function variant(change: (manifest: LooseManifest) => void): string {
  const manifest = JSON.parse(JSON.stringify(validManifest()));
  change(manifest);
  return JSON.stringify(manifest);
}

describe('entriesFromParts', () => {
  it('makes one mandatory entry per part, in order, with the stored size', () => {
    expect(
      entriesFromParts([
        { url: 's3://b/k0', contentLength: 10 },
        { url: 's3://b/k1', contentLength: 20 },
      ]),
    ).toEqual([
      { url: 's3://b/k0', mandatory: true, meta: { content_length: 10 } },
      { url: 's3://b/k1', mandatory: true, meta: { content_length: 20 } },
    ]);
  });
});

describe('buildCopyManifest', () => {
  it('serializes to exactly the Redshift manifest shape, dropping anything else', () => {
    const extra = { ...entry(0, 5), note: 'not for Redshift' };
    expect(JSON.stringify(buildCopyManifest([extra, entry(1, 6)]))).toBe(
      JSON.stringify({
        entries: [
          { url: entry(0).url, mandatory: true, meta: { content_length: 5 } },
          { url: entry(1).url, mandatory: true, meta: { content_length: 6 } },
        ],
      }),
    );
  });

  it('refuses an empty list, since Redshift fails a COPY that finds no files', () => {
    expect(() => buildCopyManifest([])).toThrow(/at least one entry.*Skip the COPY/);
  });

  it('refuses a URL listed twice, which would load its rows twice', () => {
    expect(() => buildCopyManifest([entry(0), entry(1), entry(0)])).toThrow(/listed twice/);
  });
});

describe('parseBatchManifest', () => {
  it('reads back what the batcher writes, from a string or a Buffer', () => {
    const json = JSON.stringify(validManifest());
    expect(parseBatchManifest(json)).toEqual(validManifest());
    expect(parseBatchManifest(Buffer.from(json))).toEqual(validManifest());
  });

  it('accepts a batch whose lines were all quarantined or duplicates (no parts)', () => {
    const json = variant((m) => {
      m.entries = [];
      m.batch!.rowCount = 0;
      m.batch!.lines = 10;
      m.batch!.bytesOut = 0;
      delete m.batch!.minTime;
      delete m.batch!.maxTime;
      delete m.batch!.hours;
      delete m.batch!.timeRanges;
    });
    const parsed = parseBatchManifest(json);
    expect(parsed.entries).toEqual([]);
    expect(parsed.batch).not.toHaveProperty('minTime');
  });

  it("accepts an older batcher's manifest: hours and min/max but no time ranges, or min/max alone", () => {
    const withHours = parseBatchManifest(variant((m) => delete m.batch!.timeRanges));
    expect(withHours.batch).not.toHaveProperty('timeRanges');
    expect(withHours.batch.hours).toEqual(['2024-04-21T09', '2024-05-01T09']);
    const minMax = parseBatchManifest(
      variant((m) => {
        delete m.batch!.timeRanges;
        delete m.batch!.hours;
      }),
    );
    expect([minMax.batch.minTime, minMax.batch.maxTime, minMax.batch.hours]).toEqual([
      '2024-04-21 09:12:00.000042',
      '2024-05-01 09:59:59.999999',
      undefined,
    ]);
    // Time ranges without the older fields are complete too.
    const rangesOnly = parseBatchManifest(
      variant((m) => {
        delete m.batch!.hours;
        delete m.batch!.minTime;
        delete m.batch!.maxTime;
      }),
    );
    expect(rangesOnly.batch.timeRanges).toEqual(validManifest().batch.timeRanges);
  });

  it('keeps only known fields, so entries can go straight into a COPY manifest', () => {
    const json = variant((m) => {
      m.extra = 1;
      m.entries![0]!.note = 'x';
      m.batch!.somethingNew = true;
    });
    const parsed = parseBatchManifest(json);
    expect(parsed).not.toHaveProperty('extra');
    expect(parsed.entries[0]).toEqual(entry(0, 1200));
    expect(parsed.batch).not.toHaveProperty('somethingNew');
  });

  it.each([
    ['not JSON', () => '{"entries": [', '', /is not valid JSON/],
    ['an array', () => '[]', '', /must be an object, got an array/],
    ['no entries', () => variant((m) => delete m.entries), 'entries', /must be an array, got nothing/],
    [
      'a URL that is not s3:// or file://',
      () => variant((m) => (m.entries![1]!.url = 'https://example.com/x')),
      'entries[1].url',
      /must start with s3:\/\/ or file:\/\//,
    ],
    [
      'mandatory false',
      () => variant((m) => (m.entries![0]!.mandatory = false)),
      'entries[0].mandatory',
      /must be true/,
    ],
    [
      'content_length as a string',
      () => variant((m) => (m.entries![0]!.meta.content_length = '1200')),
      'entries[0].meta.content_length',
      /non-negative integer, got "1200"/,
    ],
    [
      'a negative content_length',
      () => variant((m) => (m.entries![0]!.meta.content_length = -1)),
      'entries[0].meta.content_length',
      /non-negative integer/,
    ],
    [
      'the same URL twice',
      () => variant((m) => (m.entries![1]!.url = m.entries![0]!.url)),
      'entries',
      /same url more than once/,
    ],
    ['no batch', () => variant((m) => delete m.batch), 'batch', /must be an object, got nothing/],
    [
      'an unsafe batch id',
      () => variant((m) => (m.batch!.batchId = "x'; drop table")),
      'batch.batchId',
      /must match/,
    ],
    [
      'an unknown feed',
      () => variant((m) => (m.batch!.feed = 'users')),
      'batch.feed',
      /one of events, merge_ids/,
    ],
    [
      'a non-numeric project id',
      () => variant((m) => (m.batch!.projectId = 'abc')),
      'batch.projectId',
      /numeric/,
    ],
    [
      'an unknown source',
      () => variant((m) => (m.batch!.source = 'replay')),
      'batch.source',
      /one of live, backfill/,
    ],
    [
      'a bad createdAt',
      () => variant((m) => (m.batch!.createdAt = 'yesterday')),
      'batch.createdAt',
      /ISO-8601/,
    ],
    [
      'an hour in another format',
      () => variant((m) => (m.batch!.hours = ['2024-05-01 09'])),
      'batch.hours[0]',
      /YYYY-MM-DDTHH/,
    ],
    [
      'hours out of order',
      () => variant((m) => (m.batch!.hours = ['2024-05-01T09', '2024-04-21T09'])),
      'batch.hours',
      /sorted/,
    ],
    [
      'an hour listed twice',
      () => variant((m) => (m.batch!.hours = ['2024-05-01T09', '2024-05-01T09'])),
      'batch.hours',
      /sorted with no hour listed twice/,
    ],
    ['an empty hour list', () => variant((m) => (m.batch!.hours = [])), 'batch.hours', /at least one hour/],
    [
      'a range time without all six fraction digits',
      () => variant((m) => ((m.batch!.timeRanges as { max: string }[])[1]!.max = '2024-05-01 09:59:59.999')),
      'batch.timeRanges[1].max',
      /YYYY-MM-DD HH:MM:SS\.ffffff/,
    ],
    [
      'a range that ends before it starts',
      () =>
        variant(
          (m) =>
            (m.batch!.timeRanges = [
              { min: '2024-04-21 09:12:00.000042', max: '2024-04-21 09:12:00.000041' },
              { min: '2024-05-01 09:00:00.000000', max: '2024-05-01 09:59:59.999999' },
            ]),
        ),
      'batch.timeRanges[0]',
      /ends \(2024-04-21 09:12:00.000041\) before it starts/,
    ],
    [
      'overlapping ranges',
      () =>
        variant(
          (m) =>
            (m.batch!.timeRanges = [
              { min: '2024-04-21 09:12:00.000042', max: '2024-05-01 09:00:00.000000' },
              { min: '2024-05-01 09:00:00.000000', max: '2024-05-01 09:59:59.999999' },
            ]),
        ),
      'batch.timeRanges[1]',
      /sorted, disjoint/,
    ],
    [
      'an empty range list',
      () => variant((m) => (m.batch!.timeRanges = [])),
      'batch.timeRanges',
      /at least one/,
    ],
    [
      'ranges that do not start at minTime',
      () => variant((m) => (m.batch!.minTime = '2024-04-21 09:00:00.000000')),
      'batch.timeRanges[0].min',
      /must equal batch.minTime/,
    ],
    [
      'a range in an hour the hours do not list',
      () => variant((m) => (m.batch!.hours = ['2024-05-01T09'])),
      'batch.timeRanges[0]',
      /2024-04-21 09:12:00.000042, whose hour batch.hours does not list/,
    ],
    [
      'an hour no range covers',
      () => variant((m) => (m.batch!.hours = ['2024-04-21T09', '2024-04-30T09', '2024-05-01T09'])),
      'batch.hours',
      /lists 2024-04-30T09, which no time range covers/,
    ],
    [
      'a bad landing time',
      () => variant((m) => (m.batch!.oldestLandedAt = 'soon')),
      'batch.oldestLandedAt',
      /ISO-8601/,
    ],
    [
      'a source key that is not a string',
      () => variant((m) => (m.batch!.sourceKeys = ['a', 3])),
      'batch.sourceKeys[1]',
      /non-empty string, got 3/,
    ],
    [
      'a fractional quarantine count',
      () => variant((m) => (m.batch!.quarantined.invalid_json = 1.5)),
      'batch.quarantined.invalid_json',
      /non-negative integer/,
    ],
    [
      'counts that do not add up',
      () => variant((m) => (m.batch!.lines = 111)),
      'batch.lines',
      /\(111\) must equal rowCount \+ duplicatesInBatch \+ quarantined \(100 \+ 4 \+ 6\)/,
    ],
    [
      'rows without parts',
      () =>
        variant((m) => {
          m.entries = [];
          m.batch!.bytesOut = 0;
        }),
      'entries',
      /0 entries for 100 rows/,
    ],
    [
      'quarantined lines without a quarantine key',
      () => variant((m) => delete m.batch!.quarantineKey),
      'batch.quarantineKey',
      /missing although 6 lines were quarantined/,
    ],
    [
      'bytesOut that differs from the parts',
      () => variant((m) => (m.batch!.bytesOut = 1999)),
      'batch.bytesOut',
      /\(1999\) must equal the sum of the entries' content_length \(2000\)/,
    ],
  ])('names what is wrong: %s', (_name, json, path, detail) => {
    let error: unknown;
    try {
      parseBatchManifest(json(), 'manifests/pending/events/b-1.json');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ManifestValidationError);
    const validation = error as ManifestValidationError;
    expect(validation.path).toBe(path);
    expect(validation.source).toBe('manifests/pending/events/b-1.json');
    expect(validation.message).toMatch(detail);
    expect(validation.message).toContain('Batch manifest manifests/pending/events/b-1.json is invalid');
    expect(validation.message).toContain('move the file to manifests/failed/');
  });
});
