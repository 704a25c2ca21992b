import { describe, expect, it } from 'vitest';
import { REDSHIFT_COPY_FORMAT_OPTIONS } from '#shared/format/csv.ts';
import type { Dialect } from '#shared/sql/dialect.ts';
import { buildErasureStatements, ERASURE_IDS_TABLE, MERGE_HOPS, textLiteral } from '#shared/sql/erasure.ts';
import { buildLoadStatements } from '#shared/sql/load.ts';
import { MAX_TRANSACTION_STATEMENTS } from '#shared/warehouse/sql-runner.ts';

const request = {
  erasureId: 'er-20260302t060000-1a2b3c4d',
  reference: 'DSR-7',
  projectId: '187520',
  amplitudeId: '12345',
  userId: "it's\\me",
  deviceId: 'dev-1',
  requestedAt: new Date('2026-03-02T06:00:00.000Z'),
};

const loadLock = (dialect: Dialect) =>
  buildLoadStatements({
    dialect,
    schema: 'amplitude',
    projectId: '187520',
    feed: 'events',
    batches: [{ batchId: 'b-1', source: 'live', duplicatesInBatch: 0, quarantined: 0 }],
    loadId: 'load-1',
    formatOptions: REDSHIFT_COPY_FORMAT_OPTIONS,
  })[0];

describe('buildErasureStatements', () => {
  it.each(['redshift', 'postgres'] as const)(
    'starts with the very LOCK statement of a load and fits one Data API transaction (%s)',
    (dialect) => {
      const statements = buildErasureStatements({
        dialect,
        schema: 'amplitude',
        feeds: ['events', 'merge_ids'],
        request,
      });
      expect(statements[0]).toBe(loadLock(dialect));
      expect(statements.length).toBeLessThanOrEqual(MAX_TRANSACTION_STATEMENTS);
      expect(statements.at(-1)).toBe(`DROP TABLE "${ERASURE_IDS_TABLE}"`);
      // One statement per hop of the merged-ID graph.
      expect(statements.filter((sql) => sql.includes('NOT IN (SELECT "amplitude_id"'))).toHaveLength(
        MERGE_HOPS,
      );
    },
  );

  it('deletes from each table with a subquery in WHERE, never DELETE ... USING with an alias', () => {
    const statements = buildErasureStatements({
      dialect: 'redshift',
      schema: 'amplitude',
      feeds: ['events', 'merge_ids'],
      request,
    });
    const deletes = statements.filter((sql) => sql.startsWith('DELETE'));
    expect(deletes).toEqual([
      `DELETE FROM "amplitude"."events_187520" WHERE ("amplitude_id" IN (SELECT "amplitude_id" FROM "${ERASURE_IDS_TABLE}") OR "user_id" = 'it''s' || CHR(92) || 'me' OR "device_id" = 'dev-1')`,
      `DELETE FROM "amplitude"."merge_ids_187520" WHERE ("amplitude_id" IN (SELECT "amplitude_id" FROM "${ERASURE_IDS_TABLE}") OR "merged_amplitude_id" IN (SELECT "amplitude_id" FROM "${ERASURE_IDS_TABLE}"))`,
    ]);
    // The erasure row is written before the rows go, counting them under the lock.
    const insert = statements.findIndex((sql) => sql.startsWith('INSERT INTO "amplitude"."erasures"'));
    expect(insert).toBeGreaterThan(0);
    expect(insert).toBeLessThan(statements.indexOf(deletes[0]!));
    expect(statements.join('\n')).not.toMatch(/now\(\)|::|RETURNING|ON CONFLICT/);
  });

  it('touches only the tables of the feeds the deployment exports, and no merged IDs without an Amplitude ID', () => {
    const statements = buildErasureStatements({
      dialect: 'redshift',
      schema: 'amplitude',
      feeds: ['events'],
      request: { ...request, amplitudeId: undefined },
    });
    const sql = statements.join('\n');
    expect(sql).not.toContain('merge_ids_187520');
    expect(sql).not.toContain('erased_amplitude_ids');
    expect(sql).toContain('CAST(NULL AS BIGINT)');
  });

  it('refuses a request without identifiers and an erasure id that could change the SQL', () => {
    expect(() =>
      buildErasureStatements({
        dialect: 'postgres',
        schema: 'a',
        feeds: ['events'],
        request: { ...request, amplitudeId: undefined, userId: undefined, deviceId: undefined },
      }),
    ).toThrow(/at least one identifier/);
    expect(() =>
      buildErasureStatements({
        dialect: 'postgres',
        schema: 'a',
        feeds: ['events'],
        request: { ...request, erasureId: "er-1'; drop" },
      }),
    ).toThrow(/Invalid erasure id/);
  });
});

describe('textLiteral', () => {
  it('writes backslashes as CHR(92) so both dialects read the same text', () => {
    expect(textLiteral('a\\b\\')).toBe("'a' || CHR(92) || 'b' || CHR(92) || ''");
    expect(textLiteral("o'k")).toBe("'o''k'");
    expect(() => textLiteral('a\u0000')).toThrow(/NUL/);
  });
});
