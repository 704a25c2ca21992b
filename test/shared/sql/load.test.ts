import { describe, expect, it } from 'vitest';
import { hourRuns } from '#shared/base/hours.ts';
import { REDSHIFT_COPY_FORMAT_OPTIONS } from '#shared/format/csv.ts';
import { EVENT_COLUMNS, MERGE_ID_COLUMNS } from '#shared/schema/columns.ts';
import { hoursOfBatch, MAX_HOUR_RANGES } from '#shared/sql/hours-read.ts';
import { loadedBatchesQuery } from '#shared/sql/ledger.ts';
import {
  buildLoadStatements,
  type LoadBatch,
  type LoadStatementsInput,
  MAX_LOAD_STATEMENTS,
} from '#shared/sql/load.ts';
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

/** The hours (`YYYY-MM-DDTHH`) a DELETE's literal time ranges cover, and whether it has a subquery bound. */
function restrictionOf(statements: readonly string[], column: string) {
  const del = statements.find((sql) => sql.startsWith('DELETE FROM "amplitude_export_stage_unique"'))!;
  const hours: string[] = [];
  const pattern = new RegExp(`"${column}" >= '([^']+)' AND "[^"]+"\\."${column}" < '([^']+)'`, 'g');
  for (const [, from, to] of del.matchAll(pattern)) {
    for (
      let ms = Date.parse(`${from!.replace(' ', 'T')}Z`);
      ms < Date.parse(`${to!.replace(' ', 'T')}Z`);
      ms += 3_600_000
    ) {
      hours.push(new Date(ms).toISOString().slice(0, 13));
    }
  }
  return { hours, subquery: /\(SELECT/.test(del.slice(del.indexOf(`"${column}"`))) };
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
  // 200 on-time rows in two hours, and one 10 days late: the manifest hours the batcher records.
  const onTime = ['2024-05-31T11', '2024-05-31T12'];
  const late = '2024-05-21T12';
  const manifestHours = [late, ...onTime];

  it.each(['redshift', 'postgres'] as const)(
    'covers at most the distinct hours of the rows, as literals, with one row 10 days late (%s)',
    (dialect) => {
      const statements = buildLoadStatements(
        input({
          dialect,
          batches: [
            {
              ...batches(1)[0]!,
              hours: hoursOfBatch({ rowCount: 201, hours: manifestHours }),
            },
          ],
        }),
      );
      const restriction = restrictionOf(statements, 'event_time');
      expect(restriction.subquery).toBe(false);
      expect(restriction.hours.sort()).toEqual(manifestHours);
    },
  );

  it('joins the hours of every batch of the load, one range per run of consecutive hours', () => {
    const statements = buildLoadStatements(
      input({
        feed: 'merge_ids',
        batches: [
          {
            ...batches(2)[0]!,
            hours: hoursOfBatch({ rowCount: 3, hours: ['2024-05-31T10', '2024-05-31T11'] }),
          },
          {
            ...batches(2)[1]!,
            hours: hoursOfBatch({ rowCount: 3, hours: ['2024-05-31T12', '2024-01-01T00'] }),
          },
        ],
      }),
    );
    const del = statements.find((sql) => sql.startsWith('DELETE FROM "amplitude_export_stage_unique"'))!;
    expect(del).toContain(
      `"merge_ids_123"."merge_event_time" >= '2024-01-01 00:00:00' AND "merge_ids_123"."merge_event_time" < '2024-01-01 01:00:00'\n    OR "merge_ids_123"."merge_event_time" >= '2024-05-31 10:00:00' AND "merge_ids_123"."merge_event_time" < '2024-05-31 13:00:00'`,
    );
  });

  it("falls back to the stage's own range for a batch without known hours (an old manifest)", () => {
    const statements = buildLoadStatements(
      input({ batches: [{ ...batches(2)[0]!, hours: [400_000] }, batches(2)[1]!] }),
    );
    expect(restrictionOf(statements, 'event_time')).toEqual({ hours: [], subquery: true });
  });
});

describe('hoursOfBatch and hourRuns', () => {
  it('reads the recorded hours, or every hour from minTime to maxTime for an older manifest', () => {
    const first = Date.parse('2024-05-31T10:00:00Z') / 3_600_000;
    expect(hoursOfBatch({ rowCount: 2, hours: ['2024-05-31T10', '2024-05-31T12'] })).toEqual([
      first,
      first + 2,
    ]);
    expect(
      hoursOfBatch({
        rowCount: 2,
        minTime: '2024-05-31 10:59:59.999999',
        maxTime: '2024-05-31 12:00:00.000000',
      }),
    ).toEqual([first, first + 1, first + 2]);
    expect(hoursOfBatch({ rowCount: 0 })).toEqual([]);
    expect(hoursOfBatch({ rowCount: 5 })).toBeUndefined();
  });

  it('merges the closest runs first when there are more than allowed', () => {
    expect(hourRuns([1, 2, 3, 10, 12, 40], MAX_HOUR_RANGES)).toEqual([
      { first: 1, last: 3 },
      { first: 10, last: 10 },
      { first: 12, last: 12 },
      { first: 40, last: 40 },
    ]);
    expect(hourRuns([1, 2, 3, 10, 12, 40], 2)).toEqual([
      { first: 1, last: 12 },
      { first: 40, last: 40 },
    ]);
    expect(
      hourRuns(
        Array.from({ length: 1000 }, (_, i) => i * 3),
        MAX_HOUR_RANGES,
      ),
    ).toHaveLength(MAX_HOUR_RANGES);
  });
});
