/**
 * Whether verify, run as a CloudFormation custom resource (`verifyOnDeploy`), checks the
 * deployment or lets the deploy go on. It never fails:
 * - the stack's first deploy (status CREATE_IN_PROGRESS): the COPY role it checks is created in
 *   that same deploy, and nobody could have associated it with the warehouse or granted it yet;
 * - a rollback (UPDATE_ROLLBACK_IN_PROGRESS and the like): a second failure there leaves the
 *   stack in UPDATE_ROLLBACK_FAILED, which only a person can clear;
 * - a delete, which has nothing to check.
 * Stack statuses: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html
 */
export type DeployCheckDecision = 'check' | 'skip-first-deploy' | 'skip-rollback' | 'skip-delete';

export function deployCheckDecision(
  requestType: 'Create' | 'Update' | 'Delete',
  stackStatus: string | undefined,
): DeployCheckDecision {
  if (requestType === 'Delete') return 'skip-delete';
  if (stackStatus?.includes('ROLLBACK')) return 'skip-rollback';
  if (stackStatus === 'CREATE_IN_PROGRESS') return 'skip-first-deploy';
  return 'check';
}

/** What the deploy shows when the check was skipped, and how to run it. */
export function skippedReason(decision: Exclude<DeployCheckDecision, 'check'>): string {
  switch (decision) {
    case 'skip-first-deploy':
      return 'Verify skipped on the first deploy: associate the COPY role and run the setup SQL, then run verify (or deploy again).';
    case 'skip-rollback':
      return 'Verify skipped during a rollback.';
    case 'skip-delete':
      return 'Nothing to verify on delete.';
  }
}
