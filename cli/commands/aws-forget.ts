import { eraseFromWarehouse } from '#shared/pipeline/erasure/erase.ts';
import { type AwsCommandDeps, defaultAwsDeps, openSession } from '../aws/session.ts';
import { DEFAULT_SCHEMA, stackFeeds, warehouseRunner } from '../aws/warehouse.ts';
import { FORGET_FLAGS_HELP, FORGET_OPTIONS, forgetInput, renderErasure } from '../forget.ts';
import { type Command, UsageError } from '../io.ts';
import { parseCommandLine } from '../options.ts';

const HELP = `Usage: redshift-export forget --stack NAME [--region R] (--amplitude-id N | --user-id U | --device-id D) --reference REF [--dry-run]

Erases a person from a deployed export: records the request in <schema>.erasures and, in one
transaction under the ledger lock that loads take, deletes their rows from the events and
merged-IDs tables, through the Redshift Data API with the stack's secret. Every later load
(live, a replay, a backfill, a re-export) drops them too. An identifier that matches nothing
is still recorded ("0 rows removed"): the person may appear in a later export. Then lists
the staged files that may still hold the removed rows until the staging lifecycle expires.

Options:
  --stack NAME         the deployed stack (AmplitudeRedshiftExport-<projectId>)
  --region R           its region (default: AWS_REGION, or your profile's region)
${FORGET_FLAGS_HELP}
  -h, --help           show this help

Reads the stack outputs (cloudformation:DescribeStacks) and runs SQL with the stack's Redshift
secret (redshift-data:BatchExecuteStatement, ExecuteStatement, DescribeStatement,
GetStatementResult and secretsmanager:GetSecretValue on the secret). The database user needs
the grants of the current setup SQL (DELETE on the tables, SELECT and INSERT on the erasure list).
`;

const OPTIONS = {
  ...FORGET_OPTIONS,
  stack: { type: 'string' },
  region: { type: 'string' },
} as const;

/** A large DELETE on a big table can take minutes; the Data API keeps running it meanwhile. */
const ERASURE_TIMEOUT_MS = 30 * 60_000;

export function forgetCommand(deps: AwsCommandDeps = defaultAwsDeps): Command {
  return async (argv, io) => {
    const values = parseCommandLine(argv, OPTIONS, HELP, io);
    if (!values) return 0;
    const input = forgetInput(values);
    const session = await openSession(values.stack, values.region, io.env, deps);
    const projectId = session.stack.require('projectId', 'names the tables to erase from');
    const bucket = session.stack.require('stagingBucket', 'names the staging bucket to report on');
    const { runner, missing } = warehouseRunner(session, deps, {
      statementName: 'amplitude-export-forget',
      pollIntervalMs: 2000,
      timeoutMs: ERASURE_TIMEOUT_MS,
    });
    if (!runner) {
      throw new UsageError(
        `Stack ${session.stack.name} has no output ${missing.join(', ')}, which name the warehouse to erase from. Deploy this version (cdk deploy) and run the command again.`,
      );
    }
    if (!values.json) {
      io.stderr(
        values['dry-run']
          ? 'Counting what the erasure would remove…\n'
          : 'Applying the erasure (waits for any load in progress: it takes the same lock)…\n',
      );
    }
    const outcome = await eraseFromWarehouse({
      ...input,
      runner,
      schema: session.stack.optional('schema') ?? DEFAULT_SCHEMA,
      projectId,
      feeds: stackFeeds(session),
      dryRun: values['dry-run'] === true,
      now: deps.now(),
    });
    const days = (raw: string | undefined) =>
      raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
    io.stdout(
      values.json
        ? `${JSON.stringify(outcome, null, 2)}\n`
        : renderErasure(outcome, {
            locate: (key) => `s3://${bucket}/${key}`,
            // Older stacks do not output their retention: the defaults of the context keys.
            stagingDays: days(session.stack.optional('stagingRetentionDays')) ?? 14,
            quarantineDays: days(session.stack.optional('quarantineRetentionDays')) ?? 90,
          }),
    );
    return 0;
  };
}

export const run: Command = forgetCommand();
