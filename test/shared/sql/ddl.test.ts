import { describe, expect, it } from 'vitest';
import { EVENT_COLUMNS, MERGE_ID_COLUMNS } from '#shared/schema/columns.ts';
import {
  createLedgerSql,
  createTargetTableSql,
  LEDGER_COLUMNS,
  ledgerTable,
  warehouseDdl,
} from '#shared/sql/ddl.ts';

describe('target table DDL', () => {
  it('gives Redshift the distribution and sort keys of each table', () => {
    const events = createTargetTableSql('redshift', 'amplitude', 'events', '123');
    expect(events).toMatch(/^CREATE TABLE IF NOT EXISTS "amplitude"\."events_123" \(/);
    expect(events).toMatch(/\)\nDISTKEY \("amplitude_id"\)\nSORTKEY \("event_time"\)$/);

    const merges = createTargetTableSql('redshift', 'amplitude', 'merge_ids', '123');
    expect(merges).toMatch(/^CREATE TABLE IF NOT EXISTS "amplitude"\."merge_ids_123" \(/);
    expect(merges).toMatch(/\)\nDISTKEY \("amplitude_id"\)\nSORTKEY \("merge_event_time"\)$/);
  });

  it('gives PostgreSQL no Redshift-only clauses', () => {
    for (const feed of ['events', 'merge_ids'] as const) {
      const sql = createTargetTableSql('postgres', 'amplitude', feed, '123');
      expect(sql).not.toMatch(/DISTKEY|SORTKEY|SUPER|ENCODE|GETDATE/);
    }
  });

  it('lists every schema column, in order, with the dialect type', () => {
    for (const [feed, columns] of [
      ['events', EVENT_COLUMNS],
      ['merge_ids', MERGE_ID_COLUMNS],
    ] as const) {
      for (const dialect of ['redshift', 'postgres'] as const) {
        const sql = createTargetTableSql(dialect, 's', feed, '1');
        const lines = sql.split('\n').filter((line) => line.startsWith('  "'));
        expect(lines).toEqual(
          columns.map(
            (column, index) =>
              `  "${column.name}" ${dialect === 'redshift' ? column.redshiftType : column.postgresType}${column.required ? ' NOT NULL' : ''}${index < columns.length - 1 ? ',' : ''}`,
          ),
        );
      }
    }
  });

  it('refuses a schema that is not a plain identifier', () => {
    expect(() => createTargetTableSql('redshift', 'a"; drop table x;--', 'events', '1')).toThrow(
      /Invalid schema/,
    );
    expect(() => createTargetTableSql('redshift', 'amplitude', 'events', '1; drop')).toThrow(/projectId/);
  });
});

describe('ledger DDL', () => {
  it('has the ledger columns and a per-dialect default for loaded_at', () => {
    const redshift = createLedgerSql('redshift', 'amplitude');
    expect(redshift).toContain(`CREATE TABLE IF NOT EXISTS ${ledgerTable('amplitude')} (`);
    expect(redshift).toContain('"batch_id" VARCHAR(128) NOT NULL');
    expect(redshift).toContain('"load_id" VARCHAR(64) NOT NULL');
    expect(redshift).toContain('"loaded_at" TIMESTAMP NOT NULL DEFAULT GETDATE()');
    expect(redshift).toContain(`"target_table" VARCHAR(127) NOT NULL DEFAULT ''`);
    expect(redshift).toContain('PRIMARY KEY ("target_table", "batch_id")');

    const postgres = createLedgerSql('postgres', 'amplitude');
    expect(postgres).toContain(
      `"loaded_at" timestamp(6) without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')`,
    );
    expect(postgres).not.toContain('GETDATE');
    for (const column of LEDGER_COLUMNS)
      expect(postgres).toContain(`"${column.name}" ${column.postgresType}`);
  });
});

describe('warehouseDdl', () => {
  it('creates only the selected feeds, the schema first, then the ledger and the erasure list', () => {
    const statements = warehouseDdl('redshift', { schema: 'x', projectId: '9', feeds: ['merge_ids'] });
    expect(statements).toHaveLength(5);
    expect(statements[0]).toBe('CREATE SCHEMA IF NOT EXISTS "x"');
    expect(statements[1]).toContain('"x"."merge_ids_9"');
    expect(statements[2]).toContain('"x"."export_loads"');
    expect(statements[3]).toContain('"x"."erasures"');
    expect(statements[4]).toContain('"x"."erased_amplitude_ids"');
    expect(statements.join('\n')).not.toContain('events_9');
  });

  it('adds a key index for PostgreSQL only', () => {
    const postgres = warehouseDdl('postgres', {
      schema: 'x',
      projectId: '9',
      feeds: ['events', 'merge_ids'],
    });
    expect(postgres).toContain('CREATE INDEX IF NOT EXISTS "events_9_key_idx" ON "x"."events_9" ("uuid")');
    expect(postgres).toContain(
      'CREATE INDEX IF NOT EXISTS "merge_ids_9_key_idx" ON "x"."merge_ids_9" ("amplitude_id", "merged_amplitude_id")',
    );
    const redshift = warehouseDdl('redshift', {
      schema: 'x',
      projectId: '9',
      feeds: ['events', 'merge_ids'],
    });
    expect(redshift.join('\n')).not.toContain('INDEX');
  });
});
