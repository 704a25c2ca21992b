import {
  type DescribeExecutionCommandOutput,
  ExecutionStatus,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { BackfillInputError } from '#shared/base/hours.ts';
import { sanitizeText } from '#shared/observability/redact.ts';
import { MAX_CHUNK_HOURS, type ParsedRequest, parseBackfillRequest } from '#shared/pipeline/backfill/plan.ts';
import type { BackfillReport, Totals } from '#shared/pipeline/backfill/summarize.ts';
import { FEEDS, type Feed } from '#shared/schema/columns.ts';
import { S3ObjectStore } from '#shared/storage/s3-store.ts';
import {
  backfillExecutionInput,
  backfillExecutionName,
  chunkProgress,
  describeExecution,
  progressLine,
  readExecutionReport,
} from '../aws/backfill-execution.ts';
import { executionArnFor, executionConsoleUrl } from '../aws/console-links.ts';
import { awsErrorName, explainAwsFailure } from '../aws/errors.ts';
import { clip, formatAge, formatUtc, renderTable } from '../aws/format.ts';
import { retryThrottled } from '../aws/retry.ts';
import { type AwsCommandDeps, type AwsSession, defaultAwsDeps, openSession } from '../aws/session.ts';
import { type CliIo, type Command, UsageError } from '../io.ts';
import { parseCommandLine, wholeNumber } from '../options.ts';

const HELP = `Usage: redshift-export backfill --stack NAME --start DAY|HOUR --end DAY|HOUR [options]

Starts the stack's backfill state machine for a range of hours and prints its console link.
The execution's name comes from the range, feeds, chunk size and source, so running the same
command twice finds the first execution and shows its status instead of loading again.

Options:
  --stack NAME        the deployed stack (AmplitudeRedshiftExport-<projectId>)
  --region R          its region (default: AWS_REGION, or your profile's region)
  --start, --end      first and last day (YYYY-MM-DD, the whole day) or hour (YYYY-MM-DDTHH),
                      UTC, both included; at most 366 days
  --feeds LIST        events,merge_ids (default: every feed the stack exports)
  --chunk-hours N     hours per chunk, 1 to ${MAX_CHUNK_HOURS} (default 24)
  --source S          landing (default): load the files already in the landing bucket;
                      export-api: pull each chunk's hours from Amplitude's Export API into
                      landing first (events only; needs a stack deployed with exportApiSecretArn)
  --attempt N         run a range again that already ran (after fixing a failure): 2, 3, ...
                      Chunks already loaded add nothing.
  --wait              follow the execution: progress on stderr, then its report
  -h, --help          show this help

Needs states:StartExecution, states:DescribeExecution, cloudformation:DescribeStacks, and
with --wait states:ListMapRuns, states:DescribeMapRun and s3:GetObject on the staging bucket.
`;

const OPTIONS = {
  stack: { type: 'string' },
  region: { type: 'string' },
  start: { type: 'string' },
  end: { type: 'string' },
  feeds: { type: 'string' },
  'chunk-hours': { type: 'string' },
  source: { type: 'string' },
  attempt: { type: 'string' },
  wait: { type: 'boolean' },
} as const;

/** Between two looks at a running execution. */
export const POLL_INTERVAL_MS = 10_000;

const FINISHED_BADLY: ReadonlySet<string> = new Set([
  ExecutionStatus.FAILED,
  ExecutionStatus.TIMED_OUT,
  ExecutionStatus.ABORTED,
]);

export function backfillCommand(deps: AwsCommandDeps = defaultAwsDeps): Command {
  return async (argv, io) => {
    const values = parseCommandLine(argv, OPTIONS, HELP, io);
    if (!values) return 0;
    const attempt = wholeNumber(values.attempt, '--attempt', { min: 1, max: 99, fallback: 1 });
    // Checked before any AWS call against every feed; against the stack's feeds once known.
    const request = validate(values, FEEDS);

    const session = await openSession(values.stack, values.region, io.env, deps);
    const deployedFeeds = deployedFeedsOf(session);
    const checked = deployedFeeds ? validate(values, deployedFeeds) : request;
    const stateMachineArn = session.stack.require(
      'backfillStateMachine',
      'names the backfill state machine to start',
    );
    const name = backfillExecutionName(checked, attempt);
    const executionArn = executionArnFor(stateMachineArn, name);

    const existing = await describeExecution(session.sfn, executionArn, deps.sleep);
    if (existing) return reportExisting(existing, { session, io, deps, wait: values.wait === true, attempt });

    try {
      await retryThrottled(
        () =>
          session.sfn.send(
            new StartExecutionCommand({ stateMachineArn, name, input: backfillExecutionInput(checked) }),
          ),
        { sleep: deps.sleep },
      );
    } catch (error) {
      if (awsErrorName(error) === 'ExecutionAlreadyExists') {
        // Started by someone else between our look and our start.
        const raced = await describeExecution(session.sfn, executionArn, deps.sleep);
        if (raced) return reportExisting(raced, { session, io, deps, wait: values.wait === true, attempt });
      }
      throw startFailure(error, session, stateMachineArn);
    }
    io.stdout(
      `Started backfill ${name}\n  ${describeRange(checked)}\n  ${executionConsoleUrl(executionArn)}\n`,
    );
    if (!values.wait) return 0;
    return follow(executionArn, { session, io, deps });
  };
}

export const run: Command = backfillCommand();

function validate(
  values: { start?: string; end?: string; feeds?: string; 'chunk-hours'?: string; source?: string },
  deployedFeeds: readonly Feed[],
): ParsedRequest {
  if (values.start === undefined || values.end === undefined) {
    throw new UsageError(`--start and --end are required.\n\n${HELP}`);
  }
  try {
    // The same rules as the state machine's plan step, so what passes here passes there.
    return parseBackfillRequest(
      {
        start: values.start,
        end: values.end,
        ...(values.feeds !== undefined ? { feeds: values.feeds } : {}),
        ...(values['chunk-hours'] !== undefined ? { chunkHours: values['chunk-hours'] } : {}),
        ...(values.source !== undefined ? { source: values.source } : {}),
      },
      deployedFeeds,
    );
  } catch (error) {
    if (error instanceof BackfillInputError) {
      throw new UsageError(
        error.message
          .replace(/\bchunkHours\b/g, '--chunk-hours')
          .replace(/^(start|end|feeds|source)\b/, '--$1'),
      );
    }
    throw error;
  }
}

function deployedFeedsOf(session: AwsSession): readonly Feed[] | undefined {
  const raw = session.stack.optional('feeds');
  if (raw === undefined) return undefined;
  const feeds = raw.split(',').map((feed) => feed.trim());
  return FEEDS.filter((feed) => feeds.includes(feed));
}

function describeRange(request: ParsedRequest): string {
  const input = JSON.parse(backfillExecutionInput(request)) as { start: string; end: string };
  const source = request.source === 'export-api' ? ", pulled from Amplitude's Export API first" : '';
  return `${input.start} .. ${input.end} (UTC, both included), feeds ${request.feeds.join(', ')}, ${request.chunkHours} h per chunk${source}`;
}

interface Run {
  readonly session: AwsSession;
  readonly io: CliIo;
  readonly deps: AwsCommandDeps;
}

async function reportExisting(
  execution: DescribeExecutionCommandOutput,
  context: Run & { readonly wait: boolean; readonly attempt: number },
): Promise<number> {
  const { io } = context;
  const arn = execution.executionArn ?? '';
  const since = execution.startDate ? ` since ${formatUtc(execution.startDate)} UTC` : '';
  io.stdout(
    `A backfill of this range was started before: ${execution.name} is ${execution.status}${since}. It is not started again.\n` +
      `  ${executionConsoleUrl(arn)}\n`,
  );
  if (execution.status === ExecutionStatus.RUNNING) {
    return context.wait ? follow(arn, context) : 0;
  }
  const code = await printOutcome(execution, context);
  if (FINISHED_BADLY.has(execution.status ?? '')) {
    io.stdout(
      `To load this range again after fixing the cause, add --attempt ${context.attempt + 1} (chunks already loaded add nothing).\n`,
    );
  }
  return code;
}

async function follow(executionArn: string, context: Run): Promise<number> {
  const { session, io, deps } = context;
  const known: { mapRunArn?: string } = {};
  const interrupted = io.interrupted?.then(() => 'interrupted' as const);
  let shown = '';
  for (;;) {
    const execution = await describeExecution(session.sfn, executionArn, deps.sleep);
    if (!execution) throw new Error(`The execution ${executionArn} disappeared while being followed.`);
    const line = progressLine(await chunkProgress(session.sfn, executionArn, known, deps.sleep));
    if (line !== shown) {
      io.stderr(deps.stderrIsTty ? `\r${line.padEnd(shown.length)}` : `${line}\n`);
      shown = line;
    }
    if (execution.status !== ExecutionStatus.RUNNING) {
      if (deps.stderrIsTty) io.stderr('\n');
      return printOutcome(execution, context);
    }
    const next = await Promise.race([
      deps.sleep(POLL_INTERVAL_MS).then(() => 'poll' as const),
      ...(interrupted ? [interrupted] : []),
    ]);
    if (next === 'interrupted') {
      if (deps.stderrIsTty) io.stderr('\n');
      io.stdout(`Stopped following; the backfill goes on: ${executionConsoleUrl(executionArn)}\n`);
      return 130;
    }
  }
}

async function printOutcome(execution: DescribeExecutionCommandOutput, context: Run): Promise<number> {
  const { session, io } = context;
  const took =
    execution.startDate && execution.stopDate
      ? ` in ${formatAge((execution.stopDate.getTime() - execution.startDate.getTime()) / 1000)}`
      : '';
  io.stdout(`Backfill ${execution.name} ${execution.status}${took}.\n`);
  const bucket = session.stack.optional('stagingBucket');
  let found: Awaited<ReturnType<typeof readExecutionReport>> | undefined;
  if (bucket) {
    try {
      found = await readExecutionReport(new S3ObjectStore({ client: session.s3, bucket }), execution);
    } catch (error) {
      io.stderr(
        `${explainAwsFailure(error, `read the backfill report from s3://${bucket} (s3:GetObject)`, session.region).message}\n`,
      );
    }
  }
  if (found?.report) {
    io.stdout(`${reportTable(found.report)}\n`);
    const failed = found.report.chunks.filter((chunk) => chunk.status === 'failed');
    if (failed.length > 0) {
      io.stdout(`Failed chunks (${failed.length}):\n`);
      for (const chunk of failed.slice(0, 20)) {
        io.stdout(
          `  ${chunk.chunkId}  ${chunk.error ?? 'failed'}: ${clip(sanitizeText(chunk.cause ?? ''), 200)}\n`,
        );
      }
      if (failed.length > 20) io.stdout(`  … and ${failed.length - 20} more in the report\n`);
    }
    io.stdout(`Report: s3://${bucket}/${found.key}\n`);
  } else if (FINISHED_BADLY.has(execution.status ?? '')) {
    const error = execution.error ?? execution.status ?? 'failed';
    io.stdout(`  ${error}: ${clip(sanitizeText(execution.cause ?? 'no cause was recorded'), 600)}\n`);
  }
  return execution.status === ExecutionStatus.SUCCEEDED ? 0 : 1;
}

function reportTable(report: BackfillReport): string {
  const row = (label: string, totals: Totals) =>
    [
      label,
      totals.chunks,
      totals.loaded,
      totals.alreadyLoaded,
      totals.empty,
      totals.failed,
      totals.rowsLoaded,
      totals.duplicatesSkipped,
      totals.quarantined,
    ] as const;
  const rows = Object.entries(report.byFeed).flatMap(([feed, totals]) => (totals ? [row(feed, totals)] : []));
  if (rows.length > 1) rows.push(row('all', report.totals));
  return renderTable(
    ['feed', 'chunks', 'loaded', 'already', 'empty', 'failed', 'rows loaded', 'duplicates', 'quarantined'],
    rows,
  );
}

function startFailure(error: unknown, session: AwsSession, stateMachineArn: string): Error {
  switch (awsErrorName(error)) {
    case 'StateMachineDoesNotExist':
    case 'StateMachineDeleting':
      return new UsageError(
        `The stack's backfill state machine ${stateMachineArn} does not exist (any more). Check that stack ${session.stack.name} is deployed and not being deleted.`,
      );
    case 'ExecutionLimitExceeded':
      return new Error(
        'Step Functions refused: too many executions are running in this account and region. Wait for some to finish, then run the command again.',
      );
    default:
      return explainAwsFailure(error, 'start the backfill (states:StartExecution)', session.region);
  }
}
