import { describe, expect, it } from 'vitest';
import { REDSHIFT_COPY_FORMAT_OPTIONS } from '#shared/format/csv.ts';
import { MAX_TIME_RANGES, mergeTimeRanges, TimeTally, timeCovered } from '#shared/format/time-ranges.ts';
import { EVENT_COLUMNS, MERGE_ID_COLUMNS } from '#shared/schema/columns.ts';
import { loadedBatchesQuery } from '#shared/sql/ledger.ts';
import {
  buildLoadStatements,
  type LoadBatch,
  type LoadStatementsInput,
  MAX_LOAD_STATEMENTS,
} from '#shared/sql/load.ts';
import { timeRangesOfBatch } from '#shared/sql/time-read.ts';
import { formatTimestamp } from '#shared/transform/timestamp.ts';
import { assertTransactionFits } from '#shared/warehouse/data-api-limits.ts';
import { parseRedshiftCopy } from '#shared/warehouse/redshift-copy.ts';

const batches = (count: number): LoadBatch[] =>
  Array.from({ length: count }, (_, index) => ({
    batchId: `b-${String(index).padStart(4, '0')}`,
    source: index % 2 ? 'backfill' : 'live',
    duplicatesInBatch: index,
    quarantined: 2 * index,
  }));

const input = (overrides: Partial<LoadStatementsInput> = {}): LoadStatementsInput => ({
  dialect: 'redshift',
  schema: 'amplitude',
  projectId: '123',
  feed: 'events',
  batches: batches(2),
  copyManifestUrl: 's3://staging/manifests/copy/load-1.json',
  copyRoleArn: 'arn:aws:iam::123456789012:role/copy',
  loadId: 'load-1',
  formatOptions: REDSHIFT_COPY_FORMAT_OPTIONS,
  ...overrides,
});

describe('buildLoadStatements', () => {
  it('keeps a fixed, small statement count whatever the number of batches', () => {
    for (const dialect of ['redshift', 'postgres'] as const) {
      const counts = [1, 2, 30, 300].map(
        (count) => buildLoadStatements(input({ dialect, batches: batches(count) })).length,
      );
      expect(new Set(counts).size).toBe(1);
      expect(counts[0]).toBeLessThanOrEqual(MAX_LOAD_STATEMENTS);
      expect(MAX_LOAD_STATEMENTS).toBeLessThanOrEqual(15);
    }
  });

  it('builds, for very long batch ids, a statement the Data API limits check refuses (over 100 KB)', () => {
    const longIds = batches(500).map((batch, index) => ({
      ...batch,
      batchId: `${'b'.repeat(120)}-${String(index).padStart(6, '0')}`,
    }));
    expect(() => assertTransactionFits(buildLoadStatements(input({ batches: longIds })))).toThrow(
      expect.objectContaining({ code: 'StatementTooLarge', message: expect.stringMatching(/100 kB/) }),
    );
  });

  it('locks the ledger first, per dialect', () => {
    expect(buildLoadStatements(input())[0]).toBe('LOCK "amplitude"."export_loads"');
    expect(buildLoadStatements(input({ dialect: 'postgres' }))[0]).toBe(
      'LOCK TABLE "amplitude"."export_loads" IN SHARE ROW EXCLUSIVE MODE',
    );
  });

  it('writes the same COPY text for both dialects, which the local runner can parse', () => {
    const redshiftCopy = buildLoadStatements(input()).find((sql) => sql.startsWith('COPY'));
    const postgresCopy = buildLoadStatements(input({ dialect: 'postgres' })).find((sql) =>
      sql.startsWith('COPY'),
    );
    expect(redshiftCopy).toBeDefined();
    expect(postgresCopy).toBe(redshiftCopy);
    const parsed = parseRedshiftCopy(redshiftCopy!);
    expect(parsed).toMatchObject({
      table: '"amplitude_export_stage"',
      manifestUrl: 's3://staging/manifests/copy/load-1.json',
      iamRole: 'arn:aws:iam::123456789012:role/copy',
      gzip: true,
    });
    expect(parsed.columns).toEqual([...EVENT_COLUMNS.map((column) => `"${column.name}"`), '"_batch_id"']);
    expect(redshiftCopy).toContain(`MANIFEST\n${REDSHIFT_COPY_FORMAT_OPTIONS}`);
  });

  it("uses the cluster's default role when no role ARN is given", () => {
    const copy = buildLoadStatements(input({ copyRoleArn: undefined })).find((sql) => sql.startsWith('COPY'));
    expect(parseRedshiftCopy(copy!).iamRole).toBe('default');
  });

  it('skips COPY when no batch has staged parts, and still writes the ledger', () => {
    const statements = buildLoadStatements(input({ copyManifestUrl: undefined }));
    expect(statements.some((sql) => sql.startsWith('COPY'))).toBe(false);
    expect(statements.some((sql) => sql.startsWith('INSERT INTO "amplitude"."export_loads"'))).toBe(true);
  });

  it('stages the schema columns with dialect types plus the batch id', () => {
    const create = buildLoadStatements(input({ dialect: 'postgres', feed: 'merge_ids' }))[1]!;
    expect(create).toBe(
      `CREATE TEMPORARY TABLE "amplitude_export_stage" (\n${MERGE_ID_COLUMNS.map(
        (column) => `  "${column.name}" ${column.postgresType}`,
      ).join(',\n')},\n  "_batch_id" character varying(128)\n)`,
    );
  });

  it('de-duplicates on the feed key, pruned by the feed time column', () => {
    const events = buildLoadStatements(input()).join('\n');
    expect(events).toContain('PARTITION BY "uuid" ORDER BY "_batch_id"');
    // amplitude_id first: the distribution key of target and stage, so the join is collocated.
    expect(events).toContain(
      'USING "amplitude"."events_123"\nWHERE "events_123"."amplitude_id" = "amplitude_export_stage_unique"."amplitude_id"\n  AND "events_123"."uuid" = "amplitude_export_stage_unique"."uuid"',
    );
    // Batches without known hours (none here) fall back to the stage's own time range.
    expect(events).toContain(
      '"events_123"."event_time" BETWEEN (SELECT MIN("event_time") FROM "amplitude_export_stage_unique")',
    );

    const merges = buildLoadStatements(input({ feed: 'merge_ids' })).join('\n');
    expect(merges).toContain('PARTITION BY "amplitude_id", "merged_amplitude_id" ORDER BY "_batch_id"');
    expect(merges).toContain(
      '"merge_ids_123"."amplitude_id" = "amplitude_export_stage_unique"."amplitude_id"\n  AND "merge_ids_123"."merged_amplitude_id" = "amplitude_export_stage_unique"."merged_amplitude_id"',
    );
    expect(merges).toContain('"merge_ids_123"."merge_event_time" BETWEEN');
  });

  it('writes one ledger row per batch with its literal figures', () => {
    const ledger = buildLoadStatements(input({ batches: batches(3) })).find((sql) =>
      sql.startsWith('INSERT INTO "amplitude"."export_loads"'),
    )!;
    expect(ledger.match(/CAST\('b-\d{4}' AS VARCHAR\(128\)\)/g)).toHaveLength(3);
    expect(ledger).toContain(
      "CAST('b-0002' AS VARCHAR(128)) AS batch_id, CAST('live' AS VARCHAR(16)) AS source, CAST(2 AS BIGINT) AS duplicates_in_batch, CAST(4 AS BIGINT) AS quarantined",
    );
    expect(ledger).toContain("'load-1'");
    // Keyed by the target table: another project's table having the batch does not count.
    expect(ledger).toContain(
      `WHERE b.batch_id NOT IN (SELECT "batch_id" FROM "amplitude"."export_loads" WHERE "target_table" IN ('events_123', ''))`,
    );
    expect(ledger).toContain(`s.min_time, s.max_time, 'events_123'`);
  });

  it('refuses bad input before writing any SQL', () => {
    expect(() => buildLoadStatements(input({ batches: [] }))).toThrow(/at least one batch/);
    expect(() =>
      buildLoadStatements(input({ batches: [{ ...batches(1)[0]!, batchId: "x'; drop table y;--" }] })),
    ).toThrow(/Invalid batch id/);
    expect(() => buildLoadStatements(input({ batches: [...batches(1), ...batches(1)] }))).toThrow(
      /listed twice/,
    );
    expect(() => buildLoadStatements(input({ loadId: 'Load 1' }))).toThrow(/Invalid load id/);
    expect(() => buildLoadStatements(input({ schema: 'a"; drop table x;--' }))).toThrow(/Invalid schema/);
    expect(() => buildLoadStatements(input({ copyManifestUrl: "s3://b/x'\\" }))).toThrow(/backslashes/);
    expect(() => buildLoadStatements(input({ batches: [{ ...batches(1)[0]!, quarantined: 0.5 }] }))).toThrow(
      /Invalid quarantined/,
    );
  });
});

describe('ledger queries', () => {
  it('asks for many batch ids in one query', () => {
    expect(loadedBatchesQuery('amplitude', 'merge_ids_123', ['a-1', 'b-2'])).toBe(
      `SELECT "batch_id", "load_id", "rows_loaded", "duplicates_skipped", "quarantined", "rows_erased" FROM "amplitude"."export_loads" WHERE "target_table" IN ('merge_ids_123', '') AND "batch_id" IN ('a-1', 'b-2') ORDER BY "target_table"`,
    );
    expect(() => loadedBatchesQuery('amplitude', 'merge_ids_123', [])).toThrow(/at least one/);
    expect(() => loadedBatchesQuery('amplitude', 'merge_ids_123', ["a') OR ('1'='1"])).toThrow(
      /Invalid batch id/,
    );
  });
});

/** The literal time ranges of a load's DELETE, and whether it has a subquery bound. */
function restrictionOf(statements: readonly string[], column: string) {
  const del = statements.find((sql) => sql.startsWith('DELETE FROM "amplitude_export_stage_unique"'))!;
  const pattern = new RegExp(`"${column}" >= '([^']+)' AND "[^"]+"\\."${column}" <= '([^']+)'`, 'g');
  const ranges = [...del.matchAll(pattern)].map(([, min, max]) => ({ min: min!, max: max! }));
  return { ranges, subquery: /\(SELECT/.test(del.slice(del.indexOf(`"${column}"`))) };
}

describe('the stage on Redshift', () => {
  it('is distributed like the target (amplitude_id) and COPYed without compression analysis or statistics', () => {
    for (const feed of ['events', 'merge_ids'] as const) {
      const statements = buildLoadStatements(input({ feed }));
      expect(statements[1]).toMatch(/\)\nDISTKEY \("amplitude_id"\)$/);
      expect(
        statements.find((sql) => sql.startsWith('CREATE TEMPORARY TABLE "amplitude_export_stage_unique"')),
      ).toMatch(/^CREATE TEMPORARY TABLE "amplitude_export_stage_unique"\nDISTKEY \("amplitude_id"\) AS\n/);
      expect(statements.find((sql) => sql.startsWith('COPY'))).toMatch(/\nCOMPUPDATE OFF STATUPDATE OFF$/);
    }
    // PostgreSQL has no distribution; its runner reads the same COPY and ignores both options.
    const postgres = buildLoadStatements(input({ dialect: 'postgres' }));
    expect(postgres.join('\n')).not.toContain('DISTKEY');
    expect(parseRedshiftCopy(postgres.find((sql) => sql.startsWith('COPY'))!).manifestUrl).toBe(
      's3://staging/manifests/copy/load-1.json',
    );
  });
});

describe('the target restriction of the load SQL', () => {
  // 200 on-time rows in two hours and one 10 days late, as the batcher records them.
  const tally = new TimeTally();
  for (let i = 0; i < 200; i++) {
    tally.add(formatTimestamp(BigInt(Date.parse('2024-05-31T11:40:00Z') + i * 9_000) * 1000n + 123n));
  }
  tally.add('2024-05-21 12:17:03.000042');
  const manifest = { rowCount: 201, hours: tally.hours(), timeRanges: tally.ranges() };

  it.each(['redshift', 'postgres'] as const)(
    'reads only the times of the rows, as literals to the microsecond, with one row 10 days late (%s)',
    (dialect) => {
      expect(manifest.hours).toEqual(['2024-05-21T12', '2024-05-31T11', '2024-05-31T12']);
      const statements = buildLoadStatements(
        input({ dialect, batches: [{ ...batches(1)[0]!, timeRanges: timeRangesOfBatch(manifest) }] }),
      );
      const restriction = restrictionOf(statements, 'event_time');
      expect(restriction.subquery).toBe(false);
      // The late row's own instant, and the 30 minutes of the on-time rows (not whole hours).
      expect(restriction.ranges).toEqual([
        { min: '2024-05-21 12:17:03.000042', max: '2024-05-21 12:17:03.000042' },
        { min: '2024-05-31 11:40:00.000123', max: '2024-05-31 12:09:51.000123' },
      ]);
      const ledger = statements.find((sql) => sql.startsWith('INSERT INTO "amplitude"."export_loads"'))!;
      // hours_read 3, hours_span from the late hour to the last (10 days + 1 hour), seconds_read.
      const integer = dialect === 'redshift' ? 'INTEGER' : 'integer';
      const bigint = dialect === 'redshift' ? 'BIGINT' : 'bigint';
      expect(ledger).toContain(`CAST(3 AS ${integer}), CAST(241 AS ${integer}), CAST(1792 AS ${bigint})`);
    },
  );

  it('joins the ranges of every batch of the load, overlapping and touching ones into one', () => {
    const statements = buildLoadStatements(
      input({
        feed: 'merge_ids',
        batches: [
          {
            ...batches(2)[0]!,
            timeRanges: [
              { min: '2024-05-31 10:00:00.000000', max: '2024-05-31 10:20:00.000000' },
              { min: '2024-05-31 11:00:00.000000', max: '2024-05-31 11:59:59.999999' },
            ],
          },
          {
            ...batches(2)[1]!,
            timeRanges: [
              { min: '2024-01-01 00:00:00.500000', max: '2024-01-01 00:00:00.500000' },
              { min: '2024-05-31 10:10:00.000000', max: '2024-05-31 10:30:00.000000' },
              { min: '2024-05-31 12:00:00.000000', max: '2024-05-31 12:01:00.000000' },
            ],
          },
        ],
      }),
    );
    const del = statements.find((sql) => sql.startsWith('DELETE FROM "amplitude_export_stage_unique"'))!;
    expect(del).toContain(
      `"merge_ids_123"."merge_event_time" >= '2024-01-01 00:00:00.500000' AND "merge_ids_123"."merge_event_time" <= '2024-01-01 00:00:00.500000'\n    OR "merge_ids_123"."merge_event_time" >= '2024-05-31 10:00:00.000000' AND "merge_ids_123"."merge_event_time" <= '2024-05-31 10:30:00.000000'\n    OR "merge_ids_123"."merge_event_time" >= '2024-05-31 11:00:00.000000' AND "merge_ids_123"."merge_event_time" <= '2024-05-31 12:01:00.000000'`,
    );
  });

  it("falls back to the stage's own range for a batch without known times (an old manifest)", () => {
    const statements = buildLoadStatements(
      input({
        batches: [
          {
            ...batches(2)[0]!,
            timeRanges: [{ min: '2024-05-31 10:00:00.000000', max: '2024-05-31 10:00:00.000000' }],
          },
          batches(2)[1]!,
        ],
      }),
    );
    expect(restrictionOf(statements, 'event_time')).toEqual({ ranges: [], subquery: true });
  });
});

describe('timeRangesOfBatch', () => {
  it('reads the recorded ranges; for older manifests whole hours within min/max, or min to max', () => {
    const ranges = [{ min: '2024-05-31 10:15:00.000000', max: '2024-05-31 10:16:00.000000' }];
    expect(timeRangesOfBatch({ rowCount: 2, timeRanges: ranges, hours: ['2024-05-31T10'] })).toEqual(ranges);
    // Hours only (the batcher before time ranges): whole hours, consecutive ones joined.
    expect(
      timeRangesOfBatch({ rowCount: 3, hours: ['2024-05-31T10', '2024-05-31T11', '2024-05-31T13'] }),
    ).toEqual([
      { min: '2024-05-31 10:00:00.000000', max: '2024-05-31 11:59:59.999999' },
      { min: '2024-05-31 13:00:00.000000', max: '2024-05-31 13:59:59.999999' },
    ]);
    // Hours with the earliest and latest time: the first hour from minTime, the last to maxTime.
    expect(
      timeRangesOfBatch({
        rowCount: 3,
        hours: ['2024-05-31T10', '2024-05-31T13'],
        minTime: '2024-05-31 10:59:59.999999',
        maxTime: '2024-05-31 13:00:00',
      }),
    ).toEqual([
      { min: '2024-05-31 10:59:59.999999', max: '2024-05-31 10:59:59.999999' },
      { min: '2024-05-31 13:00:00.000000', max: '2024-05-31 13:00:00.000000' },
    ]);
    expect(
      timeRangesOfBatch({
        rowCount: 2,
        minTime: '2024-05-31 10:59:59.5',
        maxTime: '2024-06-01 12:00:00.000000',
      }),
    ).toEqual([{ min: '2024-05-31 10:59:59.500000', max: '2024-06-01 12:00:00.000000' }]);
    expect(timeRangesOfBatch({ rowCount: 0 })).toEqual([]);
    expect(timeRangesOfBatch({ rowCount: 5 })).toBeUndefined();
    expect(
      timeRangesOfBatch({ rowCount: 5, minTime: 'yesterday', maxTime: '2024-06-01 12:00:00' }),
    ).toBeUndefined();
  });
});

describe('time ranges', () => {
  it('are runs of the minutes that hold rows, each from its first row to its last', () => {
    const tally = new TimeTally();
    for (const time of [
      '2024-05-31 10:00:59.999999',
      '2024-05-31 10:00:00.000001',
      '2024-05-31 10:01:30.000000',
      '2024-05-31 10:03:00.000000',
      '2024-05-31 09:59:59.999999',
    ]) {
      tally.add(time);
    }
    expect(tally.ranges()).toEqual([
      { min: '2024-05-31 09:59:59.999999', max: '2024-05-31 10:01:30.000000' },
      { min: '2024-05-31 10:03:00.000000', max: '2024-05-31 10:03:00.000000' },
    ]);
    expect(tally.hours()).toEqual(['2024-05-31T09', '2024-05-31T10']);
  });

  it('merge across the smallest gaps first when there are more than allowed', () => {
    const at = (minute: number) =>
      formatTimestamp(BigInt(Date.parse('2024-05-31T00:00:00Z') + minute * 60_000) * 1000n);
    const points = [1, 2.5, 10, 12, 40].map((minute) => ({ min: at(minute), max: at(minute) }));
    expect(mergeTimeRanges(points, MAX_TIME_RANGES)).toEqual(points);
    expect(mergeTimeRanges(points, 3)).toEqual([
      { min: at(1), max: at(2.5) },
      { min: at(10), max: at(12) },
      { min: at(40), max: at(40) },
    ]);
    const many = Array.from({ length: 1000 }, (_, i) => ({ min: at(i * 3), max: at(i * 3 + 1) }));
    expect(mergeTimeRanges(many, MAX_TIME_RANGES)).toHaveLength(MAX_TIME_RANGES);
  });

  it('count the hours they touch, the span, and the seconds they cover', () => {
    expect(
      timeCovered([
        { min: '2024-05-31 10:59:00.000000', max: '2024-05-31 11:00:00.000000' },
        { min: '2024-05-31 11:30:00.000000', max: '2024-05-31 11:30:00.000000' },
        { min: '2024-05-31 14:00:00.000000', max: '2024-05-31 14:59:59.999999' },
      ]),
    ).toEqual({ hours: 3, span: 5, seconds: 60 + 3600 + 1 });
    expect(timeCovered([])).toEqual({ hours: 0, span: 0, seconds: 0 });
  });
});
