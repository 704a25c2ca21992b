import { ExecutionStatus, ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { sanitizeText } from '#shared/observability/redact.ts';
import { S3ObjectStore } from '#shared/storage/s3-store.ts';
import {
  type ChunkProgress,
  chunkProgress,
  describeExecution,
  progressLine,
} from '../aws/backfill-execution.ts';
import { executionConsoleUrl } from '../aws/console-links.ts';
import { explainAwsFailure } from '../aws/errors.ts';
import { clip, formatAge, formatUtc, renderTable } from '../aws/format.ts';
import { type ErasureView, type LedgerView, readErasures, readLedger } from '../aws/ledger.ts';
import { retryThrottled } from '../aws/retry.ts';
import { type AwsCommandDeps, type AwsSession, defaultAwsDeps, openSession } from '../aws/session.ts';
import { STACK_OUTPUTS } from '../aws/stack.ts';
import { type FeedBatches, type RecentError, readStagingStatus } from '../aws/staging-status.ts';
import { DEFAULT_SCHEMA, stackFeeds, warehouseRunner } from '../aws/warehouse.ts';
import type { Command } from '../io.ts';
import { parseCommandLine, wholeNumber } from '../options.ts';

const HELP = `Usage: redshift-export status --stack NAME [--region R] [--json] [--loads N]

Shows where a deployed export stands: pending and failed batches per feed (staging bucket),
the last loads and freshness (the ledger table, through the Redshift Data API), the newest
erasure requests (references and counts, never the identifiers), running backfills, and the
last errors.

Options:
  --stack NAME   the deployed stack (AmplitudeRedshiftExport-<projectId>)
  --region R     its region (default: AWS_REGION, or your profile's region)
  --loads N      how many recent loads to list, 1 to 100 (default 10)
  --json         print one JSON object instead of tables (for scripts)
  -h, --help     show this help

Reads the stack outputs (cloudformation:DescribeStacks), lists and reads the staging bucket
(s3:ListBucket, s3:GetObject and kms:Decrypt on its key), queries the ledger with the stack's
Redshift secret (redshift-data:ExecuteStatement, DescribeStatement, GetStatementResult and
secretsmanager:GetSecretValue on the secret), and lists backfill executions
(states:ListExecutions, DescribeExecution, ListMapRuns, DescribeMapRun).
`;

const OPTIONS = {
  stack: { type: 'string' },
  region: { type: 'string' },
  loads: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const ERRORS_SHOWN = 5;
const ERASURES_SHOWN = 5;

export interface FeedStatus extends FeedBatches {
  readonly lastLoadAt?: string;
  readonly newestTimeLoaded?: string;
  /** Now minus the newest event time (merge time) loaded. */
  readonly freshnessSeconds?: number;
  readonly rowsLoaded?: number;
}

export interface RunningBackfill {
  readonly name: string;
  readonly startedAt?: string;
  readonly url: string;
  readonly progress?: ChunkProgress;
}

/** What `status --json` prints. */
export interface StatusReport {
  readonly generatedAt: string;
  readonly stack: { readonly name: string; readonly region: string; readonly status: string };
  readonly feeds: readonly FeedStatus[];
  readonly ledger:
    | { readonly available: true; readonly schema: string }
    | { readonly available: false; readonly reason: string };
  readonly loads: readonly (Omit<LedgerView['loads'][number], 'loadedAt'> & { readonly loadedAt?: string })[];
  /** Erasure requests (`forget`): kinds of identifier and counts, never the identifiers. */
  readonly erasures:
    | {
        readonly available: true;
        readonly total: number;
        readonly recent: readonly (Omit<ErasureView['recent'][number], 'requestedAt' | 'appliedAt'> & {
          readonly requestedAt?: string;
          readonly appliedAt?: string;
        })[];
      }
    | { readonly available: false; readonly reason: string };
  readonly backfills:
    | { readonly available: true; readonly running: readonly RunningBackfill[] }
    | { readonly available: false; readonly reason: string };
  readonly errors: readonly (Omit<RecentError, 'at'> & { readonly at?: string })[];
}

export function statusCommand(deps: AwsCommandDeps = defaultAwsDeps): Command {
  return async (argv, io) => {
    const values = parseCommandLine(argv, OPTIONS, HELP, io);
    if (!values) return 0;
    const loadsShown = wholeNumber(values.loads, '--loads', { min: 1, max: 100, fallback: 10 });
    const session = await openSession(values.stack, values.region, io.env, deps);
    const report = await collectStatus(session, deps, loadsShown);
    io.stdout(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderStatus(report));
    return 0;
  };
}

export const run: Command = statusCommand();

export async function collectStatus(
  session: AwsSession,
  deps: AwsCommandDeps,
  loadsShown: number,
): Promise<StatusReport> {
  const now = deps.now();
  const feeds = stackFeeds(session);
  const bucket = session.stack.require('stagingBucket', 'names the staging bucket with the batch manifests');
  const store = new S3ObjectStore({ client: session.s3, bucket });
  let staging: Awaited<ReturnType<typeof readStagingStatus>>;
  try {
    staging = await readStagingStatus(store, feeds, deps.now, ERRORS_SHOWN);
  } catch (error) {
    throw explainAwsFailure(
      error,
      `list the staging bucket ${bucket} (s3:ListBucket, s3:GetObject)`,
      session.region,
    );
  }

  const ledger = await ledgerOf(session, deps, loadsShown);
  const backfills = await backfillsOf(session, deps);

  const feedStatus: FeedStatus[] = staging.batches.map((batches) => {
    const totals = ledger.view?.feeds.find((row) => row.feed === batches.feed);
    return {
      ...batches,
      ...(totals?.lastLoadAt ? { lastLoadAt: totals.lastLoadAt.toISOString() } : {}),
      ...(totals?.newestTime
        ? {
            newestTimeLoaded: totals.newestTime.toISOString(),
            freshnessSeconds: Math.max(0, Math.round((now.getTime() - totals.newestTime.getTime()) / 1000)),
          }
        : {}),
      ...(totals ? { rowsLoaded: totals.rowsLoaded } : {}),
    };
  });
  const errors = [...staging.errors, ...backfills.errors]
    .sort((a, b) => (b.at?.getTime() ?? 0) - (a.at?.getTime() ?? 0))
    .slice(0, ERRORS_SHOWN)
    .map(({ at, ...rest }) => ({ ...rest, ...(at ? { at: at.toISOString() } : {}) }));
  return {
    generatedAt: now.toISOString(),
    stack: { name: session.stack.name, region: session.region, status: session.stack.status },
    feeds: feedStatus,
    ledger: ledger.view
      ? { available: true, schema: ledger.schema }
      : { available: false, reason: ledger.reason },
    loads: (ledger.view?.loads ?? []).map(({ loadedAt, ...rest }) => ({
      ...rest,
      ...(loadedAt ? { loadedAt: loadedAt.toISOString() } : {}),
    })),
    erasures: ledger.erasures
      ? {
          available: true,
          total: ledger.erasures.total,
          recent: ledger.erasures.recent.map(({ requestedAt, appliedAt, ...rest }) => ({
            ...rest,
            ...(requestedAt ? { requestedAt: requestedAt.toISOString() } : {}),
            ...(appliedAt ? { appliedAt: appliedAt.toISOString() } : {}),
          })),
        }
      : { available: false, reason: ledger.erasuresReason ?? ledger.reason },
    backfills: backfills.reason
      ? { available: false, reason: backfills.reason }
      : { available: true, running: backfills.running },
    errors,
  };
}

async function ledgerOf(
  session: AwsSession,
  deps: AwsCommandDeps,
  limit: number,
): Promise<{
  view?: LedgerView;
  erasures?: ErasureView;
  schema: string;
  reason: string;
  erasuresReason?: string;
}> {
  const schema = session.stack.optional('schema') ?? DEFAULT_SCHEMA;
  const { runner, missing } = warehouseRunner(session, deps, {
    statementName: 'amplitude-export-status',
    pollIntervalMs: 500,
    timeoutMs: 120_000,
  });
  if (!runner) {
    return {
      schema,
      reason: `the stack has no output ${missing.join(', ')} (deployed by an older version?); deploy this version to see the loads.`,
    };
  }
  const failed = (what: string, error: unknown) =>
    `the ${what} query failed: ${clip(sanitizeText(error instanceof Error ? error.message : String(error)), 400)} Run \`redshift-export verify --stack ${session.stack.name}\` for what to fix.`;
  let view: LedgerView;
  try {
    view = await readLedger(runner, schema, limit, session.stack.optional('projectId'));
  } catch (error) {
    return { schema, reason: failed('ledger', error) };
  }
  try {
    return { view, erasures: await readErasures(runner, schema, ERASURES_SHOWN), schema, reason: '' };
  } catch (error) {
    // An older setup has no erasure list yet: the loads are still worth showing.
    return { view, schema, reason: '', erasuresReason: failed('erasure list', error) };
  }
}

async function backfillsOf(
  session: AwsSession,
  deps: AwsCommandDeps,
): Promise<{ running: RunningBackfill[]; errors: RecentError[]; reason?: string }> {
  const stateMachineArn = session.stack.optional('backfillStateMachine');
  if (!stateMachineArn) {
    return {
      running: [],
      errors: [],
      reason: `the stack has no output ${STACK_OUTPUTS.backfillStateMachine}.`,
    };
  }
  const list = (statusFilter: ExecutionStatus, maxResults: number) =>
    retryThrottled(
      () => session.sfn.send(new ListExecutionsCommand({ stateMachineArn, statusFilter, maxResults })),
      { sleep: deps.sleep },
    );
  try {
    const running: RunningBackfill[] = [];
    for (const execution of (await list(ExecutionStatus.RUNNING, 10)).executions ?? []) {
      if (!execution.executionArn || !execution.name) continue;
      const progress = await chunkProgress(session.sfn, execution.executionArn, {}, deps.sleep);
      running.push({
        name: execution.name,
        ...(execution.startDate ? { startedAt: execution.startDate.toISOString() } : {}),
        url: executionConsoleUrl(execution.executionArn),
        ...(progress ? { progress } : {}),
      });
    }
    const errors: RecentError[] = [];
    for (const execution of (await list(ExecutionStatus.FAILED, 3)).executions ?? []) {
      if (!execution.executionArn || !execution.name) continue;
      const details = await describeExecution(session.sfn, execution.executionArn, deps.sleep);
      errors.push({
        ...(execution.stopDate ? { at: execution.stopDate } : {}),
        source: 'backfill',
        id: execution.name,
        message: sanitizeText(`${details?.error ?? 'Failed'}: ${details?.cause ?? 'no cause recorded'}`),
        where: executionConsoleUrl(execution.executionArn),
      });
    }
    return { running, errors };
  } catch (error) {
    return {
      running: [],
      errors: [],
      reason: explainAwsFailure(error, 'list the backfill executions (states:ListExecutions)', session.region)
        .message,
    };
  }
}

function age(now: Date, iso: string | undefined): string {
  return iso ? formatAge((now.getTime() - Date.parse(iso)) / 1000) : '-';
}

export function renderStatus(report: StatusReport): string {
  const now = new Date(report.generatedAt);
  const out: string[] = [];
  out.push(
    `Stack ${report.stack.name} (${report.stack.region}, ${report.stack.status}) at ${formatUtc(now)} UTC`,
    '',
    'Feeds',
    renderTable(
      [
        'feed',
        'pending',
        'oldest pending',
        'failed',
        'retrying',
        'last load',
        'newest loaded (UTC)',
        'freshness',
      ],
      report.feeds.map((feed) => [
        feed.feed,
        feed.pending,
        feed.oldestPendingSeconds !== undefined ? formatAge(feed.oldestPendingSeconds) : '-',
        feed.failed,
        feed.retrying,
        feed.lastLoadAt ? `${age(now, feed.lastLoadAt)} ago` : '-',
        feed.newestTimeLoaded ? formatUtc(new Date(feed.newestTimeLoaded)) : '-',
        feed.freshnessSeconds !== undefined ? formatAge(feed.freshnessSeconds) : '-',
      ]),
    ),
    '',
  );
  if (report.ledger.available) {
    out.push(
      'Last loads',
      report.loads.length === 0
        ? '  none yet'
        : renderTable(
            [
              'loaded at (UTC)',
              'feed',
              'source',
              'batches',
              'rows',
              'duplicates',
              'quarantined',
              'erased',
              'load id',
            ],
            report.loads.map((load) => [
              load.loadedAt ? formatUtc(new Date(load.loadedAt)) : '-',
              load.feed,
              load.source,
              load.batches,
              load.rowsLoaded,
              load.duplicatesSkipped,
              load.quarantined,
              load.rowsErased,
              load.loadId,
            ]),
          ),
    );
  } else {
    out.push(`Last loads: not available: ${report.ledger.reason}`);
  }
  out.push('', ...renderErasures(report.erasures), '');
  if (!report.backfills.available) {
    out.push(`Running backfills: not available: ${report.backfills.reason}`);
  } else if (report.backfills.running.length === 0) {
    out.push('Running backfills: none');
  } else {
    out.push('Running backfills');
    for (const backfill of report.backfills.running) {
      out.push(
        `  ${backfill.name}  started ${age(now, backfill.startedAt)} ago  ${progressLine(backfill.progress, 20)}`,
        `    ${backfill.url}`,
      );
    }
  }
  out.push('');
  if (report.errors.length === 0) {
    out.push('Last errors: none');
  } else {
    out.push('Last errors');
    for (const error of report.errors) {
      const when = error.at ? `${formatUtc(new Date(error.at))} UTC` : 'unknown time';
      out.push(
        `  ${when}  ${error.source}${error.feed ? ` ${error.feed}` : ''}  ${error.id}`,
        `    ${clip(error.message, 300)}`,
        `    ${error.where}`,
      );
    }
  }
  return `${out.join('\n')}\n`;
}

function renderErasures(erasures: StatusReport['erasures']): string[] {
  if (!erasures.available) return [`Erasure requests: not available: ${erasures.reason}`];
  if (erasures.total === 0) return ['Erasure requests: none'];
  const removed = (rows: number | null) => (rows === null ? '-' : rows);
  return [
    `Erasure requests (${erasures.total}${erasures.total > erasures.recent.length ? `, newest ${erasures.recent.length}` : ''})`,
    renderTable(
      [
        'applied at (UTC)',
        'reference',
        'identified by',
        'linked IDs',
        'events removed',
        'merged IDs removed',
        'erasure id',
      ],
      erasures.recent.map((erasure) => [
        erasure.appliedAt ? formatUtc(new Date(erasure.appliedAt)) : '-',
        clip(erasure.reference, 40),
        erasure.identifiers.join('+'),
        erasure.linkedAmplitudeIds,
        removed(erasure.eventsRemoved),
        removed(erasure.mergeIdsRemoved),
        erasure.erasureId,
      ]),
    ),
  ];
}
