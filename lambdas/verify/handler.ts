import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { systemClock } from '#shared/base/clock.ts';
import { ENV, pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { requireString } from '#shared/config/validate.ts';
import { runInvocation } from '#shared/observability/invocation.ts';
import { SERVICES } from '#shared/observability/metric-names.ts';
import { logRunSummary, verifyRunSummary } from '#shared/observability/run-summary.ts';
import { deployCheckDecision, skippedReason } from '#shared/verify/on-deploy.ts';
import { runVerify, type VerifyReport } from '#shared/verify/verify.ts';
import { setUpLambda, warehouseOf } from '../setup.ts';

/** Key of a stack-created secret whose password is still the generated one (infra/constructs/storage.ts). */
const PLACEHOLDER_KEY = 'passwordIsPlaceholder';

const setup = setUpLambda({ service: SERVICES.verify });
const { observability } = setup;
const settings = pipelineSettingsFrom(process.env);
const secretArn = requireString(process.env, ENV.secretArn, 'the ARN of the Redshift credentials secret');
const database = requireString(process.env, ENV.database, 'the Redshift database');
const staging = setup.store('staging');
const runner = warehouseOf(setup, 'amplitude-export-verify');
const secrets = setup.traced(new SecretsManagerClient({}));
const cloudformation = setup.traced(new CloudFormationClient({}));

/**
 * Invoked by hand (any event: returns the report) or as a CloudFormation custom resource
 * during deploy (throws when a check fails, which fails the deploy with the fixes).
 */
export async function handler(
  event: unknown,
  context?: Context,
): Promise<VerifyReport | { PhysicalResourceId: string }> {
  const custom = isCustomResourceEvent(event) ? event : undefined;
  if (custom) {
    const decision = deployCheckDecision(
      custom.RequestType,
      custom.RequestType === 'Delete' ? undefined : await stackStatus(custom.StackId),
    );
    if (decision !== 'check') {
      observability.logger.info(skippedReason(decision), { decision });
      return { PhysicalResourceId: physicalIdOf(custom) };
    }
  }

  const runId = context?.awsRequestId ?? `verify-${Date.now()}`;
  const report = await runInvocation(
    observability,
    context,
    { kind: 'verify', correlation: { runId } },
    async () => {
      const secret = await secretFacts();
      const result = await runVerify({
        store: staging,
        runner,
        settings,
        clock: systemClock,
        secret: { passwordIsPlaceholder: secret.passwordIsPlaceholder },
        setupSqlCommand: [
          'npx redshift-export setup-sql --dialect redshift',
          `--schema ${settings.schema}`,
          `--project-id ${settings.projectId}`,
          ...(secret.username ? [`--user ${secret.username}`] : []),
          `--database ${database}`,
          `--feeds ${settings.feeds.join(',')}`,
          ...(settings.copyRoleArn ? [`--copy-role-arn ${settings.copyRoleArn}`] : []),
        ].join(' '),
      });
      // The checks say what was found and what to fix, never a password or a row value.
      observability.logger.info(result.ok ? 'verify passed' : 'verify failed', { report: result });
      logRunSummary(observability.logger, verifyRunSummary(result, runId));
      return result;
    },
  );
  if (!custom) return report;
  // Thrown outside the invocation: the deploy shows this message, fixes included, as written.
  if (!report.ok) {
    const failures = report.checks
      .filter((check) => !check.ok)
      .map((check) => `${check.name}: ${check.detail} Fix: ${check.fix ?? '-'}`);
    throw new Error(`Verify failed. ${failures.join(' | ')}`);
  }
  return { PhysicalResourceId: physicalIdOf(custom) };
}

function physicalIdOf(event: CloudFormationCustomResourceEvent): string {
  return 'PhysicalResourceId' in event ? event.PhysicalResourceId : 'amplitude-export-verify';
}

/** The stack's status, read with cloudformation:DescribeStacks on this stack only. */
async function stackStatus(stackId: string): Promise<string | undefined> {
  const { Stacks } = await cloudformation.send(new DescribeStacksCommand({ StackName: stackId }));
  return Stacks?.[0]?.StackStatus;
}

/** Reads the placeholder flag and the user name only: the password is never looked at or logged. */
async function secretFacts(): Promise<{ passwordIsPlaceholder: boolean; username?: string }> {
  const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }));
  let fields: Record<string, unknown> = {};
  try {
    fields = JSON.parse(SecretString ?? '{}') as Record<string, unknown>;
  } catch {
    // Not JSON: the Data API will refuse it too, and the connection check reports that.
  }
  const username = typeof fields.username === 'string' ? fields.username : undefined;
  return {
    passwordIsPlaceholder: fields[PLACEHOLDER_KEY] === true || fields[PLACEHOLDER_KEY] === 'true',
    ...(username ? { username } : {}),
  };
}

function isCustomResourceEvent(event: unknown): event is CloudFormationCustomResourceEvent {
  return (
    typeof event === 'object' && event !== null && 'RequestType' in event && 'ResourceProperties' in event
  );
}
