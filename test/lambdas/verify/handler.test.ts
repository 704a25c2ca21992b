import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { useHandlerHarness } from '#test/support/lambda-handler.ts';

const cloudformation = mockClient(CloudFormationClient);
const redshift = mockClient(RedshiftDataClient);
const s3 = mockClient(S3Client);
const secrets = mockClient(SecretsManagerClient);

const ENVIRONMENT = {
  AWS_REGION: 'us-east-1',
  PROJECT_ID: '187520',
  FEEDS: 'events',
  STAGING_BUCKET: 'staging-bucket',
  REDSHIFT_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:redshift-abc',
  REDSHIFT_DATABASE: 'dev',
  REDSHIFT_WORKGROUP_NAME: 'analytics',
};
const STACK_ID = 'arn:aws:cloudformation:us-east-1:123456789012:stack/AmplitudeRedshiftExport-187520/abc';

const context = { awsRequestId: 'request-1', getRemainingTimeInMillis: () => 300_000 } as unknown as Context;

function customResourceEvent(requestType: 'Create' | 'Update') {
  return {
    RequestType: requestType,
    StackId: STACK_ID,
    RequestId: 'r-1',
    LogicalResourceId: 'VerifyOnDeploy',
    ResourceType: 'AWS::CloudFormation::CustomResource',
    ResponseURL: 'https://example.invalid',
    ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:provider',
    ResourceProperties: { ServiceToken: 'x' },
    ...(requestType === 'Update'
      ? { PhysicalResourceId: 'amplitude-export-verify', OldResourceProperties: {} }
      : {}),
  };
}

beforeEach(() => {
  for (const client of [cloudformation, redshift, s3, secrets]) client.reset();
});
useHandlerHarness(() => ENVIRONMENT);

const loadHandler = async () => await import('#lambdas/verify/handler.ts');

describe('verify as a deploy-time custom resource', () => {
  it.each([
    ['Create', 'CREATE_IN_PROGRESS'],
    ['Update', 'UPDATE_ROLLBACK_IN_PROGRESS'],
  ] as const)(
    'succeeds without checking anything on %s while the stack is %s',
    async (requestType, status) => {
      cloudformation.on(DescribeStacksCommand).resolves({
        Stacks: [{ StackName: 'x', StackStatus: status, CreationTime: new Date() }],
      });
      const { handler } = await loadHandler();

      const result = await handler(customResourceEvent(requestType), context);

      expect(result).toEqual({ PhysicalResourceId: 'amplitude-export-verify' });
      expect(cloudformation.commandCalls(DescribeStacksCommand)[0]?.args[0].input).toEqual({
        StackName: STACK_ID,
      });
      // Nothing of the check ran: no secret read, no statement, no test batch.
      expect(secrets.calls()).toHaveLength(0);
      expect(redshift.calls()).toHaveLength(0);
      expect(s3.calls()).toHaveLength(0);
    },
  );

  it('checks during a normal update (and reads the secret for it)', async () => {
    cloudformation.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackName: 'x', StackStatus: 'UPDATE_IN_PROGRESS', CreationTime: new Date() }],
    });
    secrets.rejects(new Error('AccessDeniedException: stop here'));
    const { handler } = await loadHandler();

    await expect(handler(customResourceEvent('Update'), context)).rejects.toThrow();
    expect(secrets.calls().length).toBeGreaterThan(0);
  });
});
