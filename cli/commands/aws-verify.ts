import { InvokeCommand, type InvokeCommandOutput } from '@aws-sdk/client-lambda';
import { sanitizeText } from '#shared/observability/redact.ts';
import type { VerifyReport } from '#shared/verify/verify.ts';
import { awsErrorName, explainAwsFailure } from '../aws/errors.ts';
import { retryThrottled } from '../aws/retry.ts';
import { type AwsCommandDeps, defaultAwsDeps, openSession } from '../aws/session.ts';
import { type Command, UsageError } from '../io.ts';
import { parseCommandLine } from '../options.ts';

const HELP = `Usage: redshift-export verify --stack NAME [--region R] [--json]

Runs the stack's verify function, which checks the deployment end to end (the secret, the
connection, the tables, the grants, the staging bucket and COPY with the COPY role), and
prints each check with what to fix. Exits 0 when every check passes, 1 otherwise.

Options:
  --stack NAME   the deployed stack (AmplitudeRedshiftExport-<projectId>)
  --region R     its region (default: AWS_REGION, or your profile's region)
  --json         print the function's report as JSON
  -h, --help     show this help

Needs cloudformation:DescribeStacks and lambda:InvokeFunction on the verify function.
`;

const OPTIONS = {
  stack: { type: 'string' },
  region: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export function verifyCommand(deps: AwsCommandDeps = defaultAwsDeps): Command {
  return async (argv, io) => {
    const values = parseCommandLine(argv, OPTIONS, HELP, io);
    if (!values) return 0;
    const session = await openSession(values.stack, values.region, io.env, deps);
    const functionName = session.stack.require('verifyFunction', 'names the verify function to invoke');
    if (!values.json) io.stderr(`Running ${functionName} (up to a few minutes)…\n`);

    let response: InvokeCommandOutput;
    try {
      response = await retryThrottled(
        () =>
          session.lambda.send(new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from('{}') })),
        { sleep: deps.sleep },
      );
    } catch (error) {
      if (awsErrorName(error) === 'ResourceNotFoundException') {
        throw new UsageError(
          `The verify function ${functionName} named by stack ${session.stack.name} does not exist in ${session.region}. Deploy the stack again (cdk deploy).`,
        );
      }
      throw explainAwsFailure(error, `invoke ${functionName} (lambda:InvokeFunction)`, session.region);
    }
    const text = response.Payload ? Buffer.from(response.Payload).toString('utf8') : '';
    if (response.FunctionError) {
      const failure = parseJson(text) as { errorType?: string; errorMessage?: string } | undefined;
      throw new Error(
        `The verify function failed before it could report (${failure?.errorType ?? response.FunctionError}: ${sanitizeText(
          failure?.errorMessage ?? text,
        )}). Its log group has the details.`,
      );
    }
    const report = parseJson(text) as VerifyReport | undefined;
    if (!report || !Array.isArray(report.checks)) {
      throw new Error(
        `The verify function returned something other than a report: ${sanitizeText(text.slice(0, 300))}`,
      );
    }
    io.stdout(
      values.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report, session.stack.name),
    );
    return report.ok ? 0 : 1;
  };
}

export const run: Command = verifyCommand();

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function renderReport(report: VerifyReport, stackName: string): string {
  const width = Math.max(...report.checks.map((check) => check.name.length), 4);
  const lines = [`Verify ${stackName}`];
  for (const check of report.checks) {
    lines.push(`  ${check.ok ? 'ok  ' : 'FAIL'}  ${check.name.padEnd(width)}  ${check.detail}`);
    if (!check.ok && check.fix) lines.push(`        ${' '.repeat(width)}  fix: ${check.fix}`);
  }
  const failed = report.checks.filter((check) => !check.ok).length;
  lines.push(
    report.ok
      ? `All ${report.checks.length} checks passed.`
      : `${failed} check(s) failed; checks after the first failure that makes them meaningless were not run.`,
  );
  return `${lines.join('\n')}\n`;
}
