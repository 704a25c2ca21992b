import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { UsageError } from '../io.ts';
import { explainAwsFailure } from './errors.ts';
import { type DeployedStack, describeDeployedStack } from './stack.ts';

/** What the AWS commands take from outside besides the CLI's I/O; tests pass their own. */
export interface AwsCommandDeps {
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => Date;
  /** The progress bar redraws one line on a terminal and prints a line per change elsewhere. */
  readonly stderrIsTty: boolean;
}

export const defaultAwsDeps: AwsCommandDeps = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: () => new Date(),
  stderrIsTty: Boolean(process.stderr.isTTY),
};

/** The SDK's own retries, on top of which polling loops retry throttling themselves. */
const MAX_SDK_ATTEMPTS = 5;

export interface AwsSession {
  readonly region: string;
  readonly stack: DeployedStack;
  readonly cloudFormation: CloudFormationClient;
  readonly sfn: SFNClient;
  readonly s3: S3Client;
  readonly lambda: LambdaClient;
  readonly redshiftData: RedshiftDataClient;
}

const STACK_NAME =
  /^(?:[A-Za-z][A-Za-z0-9-]{0,127}|arn:aws[a-z-]*:cloudformation:[a-z0-9-]+:\d{12}:stack\/.+)$/;

/**
 * Clients for the stack's region and the stack's outputs. The region is `--region`, else
 * AWS_REGION / AWS_DEFAULT_REGION, else the profile's; credentials come from the SDK's
 * default chain (environment, profile, SSO, instance role).
 */
export async function openSession(
  stackName: string | undefined,
  regionFlag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  deps: AwsCommandDeps,
): Promise<AwsSession> {
  if (!stackName) {
    throw new UsageError(
      '--stack is required: the name of the deployed stack (e.g. AmplitudeRedshiftExport-187520).',
    );
  }
  if (!STACK_NAME.test(stackName)) {
    throw new UsageError(
      `--stack ${JSON.stringify(stackName)} is not a CloudFormation stack name (letters, digits and hyphens, starting with a letter) or stack ARN.`,
    );
  }
  if (regionFlag !== undefined && !/^[a-z]{2}(?:-[a-z]+)+-\d$/.test(regionFlag)) {
    throw new UsageError(
      `--region ${JSON.stringify(regionFlag)} is not an AWS region name such as eu-west-1.`,
    );
  }
  const configured = regionFlag ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const config = { ...(configured ? { region: configured } : {}), maxAttempts: MAX_SDK_ATTEMPTS };
  const cloudFormation = new CloudFormationClient(config);
  let region: string;
  try {
    region = await cloudFormation.config.region();
  } catch (error) {
    throw explainAwsFailure(error, 'find the AWS region', undefined);
  }
  const regional = { ...config, region };
  const stack = await describeDeployedStack(cloudFormation, stackName, region, deps.sleep);
  return {
    region,
    stack,
    cloudFormation,
    sfn: new SFNClient(regional),
    s3: new S3Client(regional),
    lambda: new LambdaClient(regional),
    redshiftData: new RedshiftDataClient(regional),
  };
}
