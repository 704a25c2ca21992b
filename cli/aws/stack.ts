import {
  type CloudFormationClient,
  DescribeStacksCommand,
  type DescribeStacksCommandOutput,
} from '@aws-sdk/client-cloudformation';
import { STACK_OUTPUTS, type StackOutput } from '#shared/config/stack-outputs.ts';
import { UsageError } from '../io.ts';
import { awsErrorName, explainAwsFailure } from './errors.ts';
import { retryThrottled } from './retry.ts';

export { STACK_OUTPUTS, type StackOutput } from '#shared/config/stack-outputs.ts';

export interface DeployedStack {
  readonly name: string;
  readonly region: string;
  /** CloudFormation status, e.g. `UPDATE_COMPLETE`. */
  readonly status: string;
  readonly outputs: Readonly<Record<string, string>>;
  optional(output: StackOutput): string | undefined;
  /** Throws a `UsageError` naming the output and what it is for. */
  require(output: StackOutput, purpose: string): string;
}

/** Stack outputs by stack name (CloudFormation DescribeStacks). */
export async function describeDeployedStack(
  cloudFormation: CloudFormationClient,
  stackName: string,
  region: string,
  sleep: (ms: number) => Promise<void>,
): Promise<DeployedStack> {
  let response: DescribeStacksCommandOutput;
  try {
    response = await retryThrottled(
      () => cloudFormation.send(new DescribeStacksCommand({ StackName: stackName })),
      { sleep },
    );
  } catch (error) {
    if (awsErrorName(error) === 'ValidationError' && /does not exist/i.test((error as Error).message)) {
      throw new UsageError(
        `Stack ${JSON.stringify(stackName)} does not exist in ${region}. Check the name (cdk deploy prints it; ` +
          'the default is AmplitudeRedshiftExport-<projectId>) and pass --region with the region it was deployed to ' +
          '(the region of your Redshift).',
      );
    }
    throw explainAwsFailure(error, 'read the stack outputs (cloudformation:DescribeStacks)', region);
  }
  const stack = response.Stacks?.[0];
  if (!stack) {
    throw new UsageError(
      `Stack ${JSON.stringify(stackName)} was not returned by CloudFormation in ${region}.`,
    );
  }
  const outputs: Record<string, string> = {};
  for (const output of stack.Outputs ?? []) {
    if (output.OutputKey && output.OutputValue !== undefined) outputs[output.OutputKey] = output.OutputValue;
  }
  const name = stack.StackName ?? stackName;
  const optional = (output: StackOutput) => {
    const value = outputs[STACK_OUTPUTS[output]]?.trim();
    return value ? value : undefined;
  };
  return {
    name,
    region,
    status: stack.StackStatus ?? 'UNKNOWN',
    outputs,
    optional,
    require(output, purpose) {
      const value = optional(output);
      if (value === undefined) {
        throw new UsageError(
          `Stack ${name} has no output ${STACK_OUTPUTS[output]}, which ${purpose}. It was probably deployed by ` +
            `an older version of this project (status ${stack.StackStatus ?? 'unknown'}); deploy this version ` +
            '(cdk deploy) and run the command again.',
        );
      }
      return value;
    },
  };
}
