import { parseFeeds } from '#shared/config/pipeline.ts';
import { ConfigError } from '#shared/config/validate.ts';
import type { Dialect } from '#shared/sql/dialect.ts';
import { SqlIdentifierError } from '#shared/sql/identifiers.ts';
import { buildSetupSql, DEFAULT_SCHEMA, DEFAULT_USER } from '#shared/sql/setup.ts';
import { type Command, UsageError } from '../io.ts';
import { parseCommandLine } from '../options.ts';

const HELP = `Usage: redshift-export setup-sql --project-id N [options]

Prints the SQL an administrator runs once, as a superuser, before the first load: the schema,
the event and merged-ID tables, the load ledger, the pipeline's database user and its grants.
Nothing is run; review the output, replace the password placeholder, then run it.

Options:
  --project-id N         Amplitude project ID (the tables are events_<N> and merge_ids_<N>)
  --dialect D            redshift (default) or postgres
  --schema S             warehouse schema (default ${DEFAULT_SCHEMA})
  --user U               database user the pipeline signs in as (default ${DEFAULT_USER})
  --database DB          database the export writes to (default dev for Redshift)
  --feeds LIST           events,merge_ids (default both)
  --copy-role-arn ARN    IAM role Redshift assumes for COPY (stack output CopyRoleArn)
  -h, --help             show this help
`;

const OPTIONS = {
  'project-id': { type: 'string' },
  dialect: { type: 'string' },
  schema: { type: 'string' },
  user: { type: 'string' },
  database: { type: 'string' },
  feeds: { type: 'string' },
  'copy-role-arn': { type: 'string' },
} as const;

const DIALECTS: readonly Dialect[] = ['redshift', 'postgres'];

export const run: Command = async (argv, io) => {
  const values = parseCommandLine(argv, OPTIONS, HELP, io);
  if (!values) return 0;
  const projectId = values['project-id'];
  if (projectId === undefined) throw new UsageError(`--project-id is required.\n\n${HELP}`);
  if (!/^\d{1,20}$/.test(projectId)) {
    throw new UsageError(
      `--project-id must be the numeric Amplitude project ID, got ${JSON.stringify(projectId)}.`,
    );
  }
  const dialect = (values.dialect ?? 'redshift') as Dialect;
  if (!DIALECTS.includes(dialect)) {
    throw new UsageError(
      `--dialect must be one of ${DIALECTS.join(', ')}, got ${JSON.stringify(values.dialect)}.`,
    );
  }
  try {
    io.stdout(
      buildSetupSql({
        dialect,
        projectId,
        feeds: parseFeeds(values.feeds, '--feeds'),
        ...(values.schema !== undefined ? { schema: values.schema } : {}),
        ...(values.user !== undefined ? { user: values.user } : {}),
        ...(values.database !== undefined ? { database: values.database } : {}),
        ...(values['copy-role-arn'] !== undefined ? { copyRoleArn: values['copy-role-arn'] } : {}),
      }),
    );
  } catch (error) {
    if (error instanceof SqlIdentifierError || error instanceof ConfigError)
      throw new UsageError(error.message);
    throw error;
  }
  return 0;
};
