/** The AWS console's host for the partition of an ARN. */
function consoleHost(arn: string, region: string): string {
  const partition = arn.split(':')[1] ?? 'aws';
  if (partition === 'aws-cn') return `https://${region}.console.amazonaws.cn`;
  if (partition === 'aws-us-gov') return `https://${region}.console.amazonaws-us-gov.com`;
  return `https://${region}.console.aws.amazon.com`;
}

/** Region of an ARN (`arn:partition:service:region:account:...`). */
export function regionOfArn(arn: string): string | undefined {
  return arn.split(':')[3] || undefined;
}

export function executionConsoleUrl(executionArn: string): string {
  const region = regionOfArn(executionArn) ?? 'us-east-1';
  return `${consoleHost(executionArn, region)}/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/**
 * `arn:...:stateMachine:<machine>` + name -> `arn:...:execution:<machine>:<name>`: an
 * execution's ARN is known before it starts, which lets the CLI look for an earlier one.
 */
export function executionArnFor(stateMachineArn: string, executionName: string): string {
  const parts = stateMachineArn.split(':');
  if (parts.length < 7 || parts[5] !== 'stateMachine') {
    throw new Error(
      `Expected a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>), got ${JSON.stringify(stateMachineArn)}.`,
    );
  }
  parts[5] = 'execution';
  return [...parts.slice(0, 7), executionName].join(':');
}
