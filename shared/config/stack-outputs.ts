/**
 * Output keys of the deployed stack that the CLI reads (`status`, `backfill`, `verify`, `forget`).
 * The CDK stack declares its outputs with these keys, so the two cannot drift apart.
 */
export const STACK_OUTPUTS = {
  stagingBucket: 'StagingBucketName',
  secretArn: 'RedshiftSecretArn',
  backfillStateMachine: 'BackfillStateMachineArn',
  verifyFunction: 'VerifyFunctionName',
  database: 'RedshiftDatabase',
  clusterIdentifier: 'RedshiftClusterIdentifier',
  workgroupName: 'RedshiftWorkgroupName',
  schema: 'WarehouseSchema',
  projectId: 'ProjectId',
  feeds: 'Feeds',
  stagingRetentionDays: 'StagingRetentionDays',
  quarantineRetentionDays: 'QuarantineRetentionDays',
} as const;

export type StackOutput = keyof typeof STACK_OUTPUTS;
