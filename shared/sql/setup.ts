import { FEEDS, type Feed, tableName } from '../schema/columns.ts';
import {
  createErasedIdsSql,
  createErasuresSql,
  createKeyIndexSql,
  createLedgerSql,
  createSchemaSql,
  createTargetTableSql,
  erasedIdsTable,
  erasuresTable,
  ledgerTable,
  targetTable,
} from './ddl.ts';
import type { Dialect } from './dialect.ts';
import { assertIdentifier, quoteIdent, quoteLiteral, SqlIdentifierError } from './identifiers.ts';
import { ledgerMigrationProcedureSql } from './ledger.ts';

export interface SetupSqlOptions {
  readonly dialect: Dialect;
  /** @default amplitude */
  readonly schema?: string;
  readonly projectId: string;
  /** @default - both feeds */
  readonly feeds?: readonly Feed[];
  /** Database user the pipeline signs in as (the `username` of the Secrets Manager secret). @default amplitude_export */
  readonly user?: string;
  /** Database the export writes to. @default dev (Redshift) / the current database (PostgreSQL) */
  readonly database?: string;
  /** IAM role Redshift assumes for COPY (stack output). @default - a commented-out grant to fill in */
  readonly copyRoleArn?: string;
}

export const DEFAULT_SCHEMA = 'amplitude';
export const DEFAULT_USER = 'amplitude_export';
export const DEFAULT_REDSHIFT_DATABASE = 'dev';

/**
 * Stands where the password goes. It is deliberately not a string literal: a script run
 * without replacing it fails at CREATE USER instead of creating a user with a known password.
 */
export const PASSWORD_PLACEHOLDER = '<PASSWORD FROM THE SECRETS MANAGER SECRET>';

const ROLE_ARN_PATTERN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[A-Za-z0-9+=,.@_/-]{1,512}$/;

export function assertRoleArn(arn: string): string {
  if (!ROLE_ARN_PATTERN.test(arn)) {
    throw new SqlIdentifierError(
      `Invalid COPY role ARN ${JSON.stringify(arn)}: expected arn:aws:iam::<12-digit account>:role/<name> (the stack output CopyRoleArn).`,
    );
  }
  return arn;
}

const comment = (text: string) =>
  text
    .split('\n')
    .map((line) => (line ? `-- ${line}` : '--'))
    .join('\n');

/**
 * The SQL an administrator runs once, as a superuser, before the first load: schema, tables,
 * ledger, the pipeline's user and its least privileges. Every statement but CREATE USER is
 * safe to run again.
 */
export function buildSetupSql(options: SetupSqlOptions): string {
  const dialect = options.dialect;
  const schema = assertIdentifier(options.schema ?? DEFAULT_SCHEMA, 'schema');
  const user = assertIdentifier(options.user ?? DEFAULT_USER, 'user');
  const feeds = options.feeds?.length ? [...new Set(options.feeds)] : [...FEEDS];
  const projectId = options.projectId;
  const database =
    options.database !== undefined
      ? assertIdentifier(options.database, 'database')
      : dialect === 'redshift'
        ? DEFAULT_REDSHIFT_DATABASE
        : undefined;
  const copyRoleArn = options.copyRoleArn === undefined ? undefined : assertRoleArn(options.copyRoleArn);

  const sections: string[] = [];
  const target = dialect === 'redshift' ? 'Amazon Redshift' : 'PostgreSQL';
  sections.push(
    comment(
      `amplitude-redshift-export: one-time setup for ${target}${database ? `, database ${database}` : ''}.\n` +
        'Run as a superuser. Every statement except CREATE USER can be run again safely.\n' +
        `Tables: ${feeds.map((feed) => `${schema}.${tableName(feed, projectId)}`).join(', ')}, ${schema}.export_loads (ledger),\n` +
        `${schema}.erasures and ${schema}.erased_amplitude_ids (erasure list).`,
    ),
  );

  sections.push(`${createSchemaSql(schema)};`);
  sections.push(
    `${comment(
      'Upgrades a ledger created by an earlier version (adds the columns it lacks, such as target_table,\n' +
        'without losing a row). Does nothing on a new or current ledger. Runs before the tables are created,\n' +
        'so that old rows are attributed to the tables that existed then.',
    )}\n${ledgerMigrationProcedureSql(dialect, schema)
      .map((statement) => `${statement};`)
      .join('\n')}`,
  );
  for (const feed of feeds) {
    const statements = [createTargetTableSql(dialect, schema, feed, projectId)];
    if (dialect === 'postgres') statements.push(createKeyIndexSql(schema, feed, projectId));
    sections.push(statements.map((statement) => `${statement};`).join('\n'));
  }
  sections.push(
    `${comment('Ledger: one row per loaded batch, written in the same transaction as its rows (exactly-once).')}\n${createLedgerSql(dialect, schema)};`,
  );

  sections.push(
    `${comment(
      'Erasure list (redshift-export forget): one row per request, and the Amplitude IDs each covers.\n' +
        'Every load drops staged rows of the people listed here. These tables hold personal identifiers\n' +
        '(the ones given in each request): grant them to the pipeline user only, never to analysts or PUBLIC,\n' +
        'and leave them out of any GRANT ... ON ALL TABLES IN SCHEMA given to readers.',
    )}\n${createErasuresSql(dialect, schema)};\n${createErasedIdsSql(dialect, schema)};`,
  );

  sections.push(
    `${comment(
      `The pipeline's database user. Its password must be the one stored in the Secrets Manager secret\n` +
        'the stack reads (JSON keys "username" and "password"). Replace the placeholder in angle brackets\n' +
        '(brackets included) with that password in single quotes: the statement fails until you do.\n' +
        (dialect === 'redshift'
          ? `Redshift passwords: 8 to 64 characters, at least one upper-case letter, one lower-case letter and one\ndigit; no ' " \\ / @ or space. Skip this statement if the user already exists.`
          : 'Skip this statement if the user already exists.'),
    )}\nCREATE USER ${quoteIdent(user, 'user')} PASSWORD ${PASSWORD_PLACEHOLDER};`,
  );

  const grantee = quoteIdent(user, 'user');
  const tables = feeds.map((feed) => targetTable(schema, feed, projectId));
  const grants = [
    `GRANT USAGE ON SCHEMA ${quoteIdent(schema, 'schema')} TO ${grantee};`,
    `GRANT SELECT, INSERT, DELETE ON TABLE ${tables.join(', ')} TO ${grantee};`,
    `GRANT SELECT, INSERT, UPDATE ON TABLE ${ledgerTable(schema)} TO ${grantee};`,
    `GRANT SELECT, INSERT ON TABLE ${erasuresTable(schema)}, ${erasedIdsTable(schema)} TO ${grantee};`,
  ];
  if (database !== undefined) {
    if (dialect === 'postgres')
      grants.push(`GRANT CONNECT ON DATABASE ${quoteIdent(database)} TO ${grantee};`);
    grants.push(`GRANT TEMPORARY ON DATABASE ${quoteIdent(database)} TO ${grantee};`);
  }
  sections.push(
    `${comment(
      'Least privilege. The load reads and appends; only an erasure request (redshift-export forget,\n' +
        "which signs in with the pipeline's secret) deletes exported rows, and nothing updates them.\n" +
        '- USAGE (not CREATE) on the schema: the only tables the loader creates are temporary ones,\n' +
        '  hence TEMPORARY on the database.\n' +
        '- SELECT, INSERT, DELETE on the tables: INSERT appends the de-duplicated rows, SELECT finds\n' +
        '  duplicates, DELETE removes the rows of a person who asked to be erased (forget).\n' +
        '- UPDATE on the ledger only: each load LOCKs the ledger so that loads run one at a time, and\n' +
        '  locking a table needs a privilege above INSERT. The loader never updates ledger rows.\n' +
        '- SELECT, INSERT on the erasure list: forget records requests, every load reads the list.' +
        (database === undefined
          ? '\nIf PUBLIC has no TEMPORARY privilege on this database, also run:\n' +
            `GRANT TEMPORARY ON DATABASE <database> TO ${grantee};`
          : ''),
    )}\n${grants.join('\n')}`,
  );

  if (dialect === 'redshift') sections.push(copyRoleSection(grantee, copyRoleArn));
  return `${sections.join('\n\n')}\n`;
}

function copyRoleSection(grantee: string, copyRoleArn: string | undefined): string {
  const arnText = copyRoleArn ?? '<COPY ROLE ARN>';
  const explanation = comment(
    'COPY reads the staged files with an IAM role that must be associated with the cluster or\n' +
      'workgroup. Associate it once (AWS CLI, as an administrator):\n' +
      `  provisioned: aws redshift modify-cluster-iam-roles --cluster-identifier <cluster-id> --add-iam-roles ${arnText}\n` +
      `  Serverless:  aws redshift-serverless update-namespace --namespace-name <namespace> --iam-roles ${arnText} <roles already associated>\n` +
      '               (--iam-roles sets the whole list: `aws redshift-serverless get-namespace` shows the current one)\n' +
      'ASSUMEROLE limits which database users may use the role. It only takes effect once PUBLIC has lost\n' +
      'its default right to use every role, which affects every user of the cluster, so check before running:\n' +
      '  REVOKE ASSUMEROLE ON ALL FROM PUBLIC FOR ALL;' +
      (copyRoleArn === undefined
        ? '\nNo --copy-role-arn was given: put the stack output CopyRoleArn in the grant below and uncomment it.'
        : ''),
  );
  const grant = `GRANT ASSUMEROLE ON ${copyRoleArn === undefined ? `'${arnText}'` : quoteLiteral(copyRoleArn)} TO ${grantee} FOR COPY;`;
  return `${explanation}\n${copyRoleArn === undefined ? `-- ${grant}` : grant}`;
}
