import { describe, expect, it } from 'vitest';
import { buildSetupSql, PASSWORD_PLACEHOLDER } from '#shared/sql/setup.ts';

const ARN = 'arn:aws:iam::123456789012:role/amplitude-export-copy';

describe('buildSetupSql', () => {
  it('creates schema, the selected tables, the ledger, the user and the Redshift grants', () => {
    const sql = buildSetupSql({ dialect: 'redshift', projectId: '123', copyRoleArn: ARN });
    const statements = sql
      .split('\n')
      .filter((line) => /^(CREATE|GRANT)/.test(line))
      .map((line) => line.replace(/ \($/, ''));
    expect(statements).toEqual([
      'CREATE SCHEMA IF NOT EXISTS "amplitude";',
      'CREATE OR REPLACE PROCEDURE "amplitude"."amplitude_export_upgrade_ledger"()',
      'CREATE TABLE IF NOT EXISTS "amplitude"."events_123"',
      'CREATE TABLE IF NOT EXISTS "amplitude"."merge_ids_123"',
      'CREATE TABLE IF NOT EXISTS "amplitude"."export_loads"',
      'CREATE TABLE IF NOT EXISTS "amplitude"."erasures"',
      'CREATE TABLE IF NOT EXISTS "amplitude"."erased_amplitude_ids"',
      `CREATE USER "amplitude_export" PASSWORD ${PASSWORD_PLACEHOLDER};`,
      'GRANT USAGE ON SCHEMA "amplitude" TO "amplitude_export";',
      'GRANT SELECT, INSERT, DELETE ON TABLE "amplitude"."events_123", "amplitude"."merge_ids_123" TO "amplitude_export";',
      'GRANT SELECT, INSERT, UPDATE ON TABLE "amplitude"."export_loads" TO "amplitude_export";',
      'GRANT SELECT, INSERT ON TABLE "amplitude"."erasures", "amplitude"."erased_amplitude_ids" TO "amplitude_export";',
      'GRANT TEMPORARY ON DATABASE "dev" TO "amplitude_export";',
      `GRANT ASSUMEROLE ON '${ARN}' TO "amplitude_export" FOR COPY;`,
    ]);
    expect(sql).toContain('DISTKEY ("amplitude_id")');
    expect(sql).toContain(
      `aws redshift modify-cluster-iam-roles --cluster-identifier <cluster-id> --add-iam-roles ${ARN}`,
    );
    expect(sql).toContain(
      'aws redshift-serverless update-namespace --namespace-name <namespace> --iam-roles',
    );
    expect(sql).not.toMatch(/GRANT (ALL|DELETE|.*CREATE ON SCHEMA)/);
  });

  it('never writes a password literal: the placeholder is not a string', () => {
    const sql = buildSetupSql({ dialect: 'redshift', projectId: '1' });
    expect(sql).toMatch(/CREATE USER "amplitude_export" PASSWORD <[^'>]+>;/);
    expect(sql).not.toMatch(/PASSWORD '/);
    expect(sql.split(PASSWORD_PLACEHOLDER)).toHaveLength(2);
  });

  it('leaves the ASSUMEROLE grant commented out when no role ARN is given', () => {
    const sql = buildSetupSql({ dialect: 'redshift', projectId: '1', feeds: ['events'], user: 'loader' });
    expect(sql).toContain(`-- GRANT ASSUMEROLE ON '<COPY ROLE ARN>' TO "loader" FOR COPY;`);
    expect(sql).not.toMatch(/^GRANT ASSUMEROLE/m);
    expect(sql).not.toContain('merge_ids_1');
  });

  it('has no Redshift-only statements in the PostgreSQL dialect', () => {
    const sql = buildSetupSql({ dialect: 'postgres', projectId: '1', copyRoleArn: ARN });
    expect(sql).not.toMatch(/ASSUMEROLE|DISTKEY|SORTKEY|GETDATE|SUPER/);
    expect(sql).not.toMatch(/ON DATABASE "/);
    expect(sql).toContain(
      'GRANT SELECT, INSERT, DELETE ON TABLE "amplitude"."events_1", "amplitude"."merge_ids_1"',
    );
  });

  it('refuses names and ARNs that could change the SQL', () => {
    expect(() => buildSetupSql({ dialect: 'redshift', projectId: '1', user: 'a"; drop table x;--' })).toThrow(
      /Invalid user/,
    );
    expect(() => buildSetupSql({ dialect: 'redshift', projectId: '1', schema: 'Amplitude' })).toThrow(
      /Invalid schema/,
    );
    expect(() => buildSetupSql({ dialect: 'redshift', projectId: '1', database: 'dev;' })).toThrow(
      /Invalid database/,
    );
    expect(() => buildSetupSql({ dialect: 'redshift', projectId: 'x' })).toThrow(/projectId/);
    expect(() =>
      buildSetupSql({ dialect: 'redshift', projectId: '1', copyRoleArn: "arn:aws:iam::1:role/x'" }),
    ).toThrow(/Invalid COPY role ARN/);
  });
});
