import {
  BatchExecuteStatementCommand,
  DescribeStatementCommand,
  RedshiftDataClient,
} from '@aws-sdk/client-redshift-data';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '#shared/config/validate.ts';
import { redshiftDataRunnerFrom, redshiftTargetFrom } from '#shared/warehouse/redshift-data-env.ts';

const base = {
  REDSHIFT_DATABASE: 'dev',
  REDSHIFT_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rs-AbCdEf',
};

describe('redshiftTargetFrom', () => {
  it('takes the cluster or the workgroup, whichever the stack set', () => {
    expect(redshiftTargetFrom({ REDSHIFT_CLUSTER_IDENTIFIER: 'analytics' })).toEqual({
      clusterIdentifier: 'analytics',
    });
    expect(redshiftTargetFrom({ REDSHIFT_WORKGROUP_NAME: 'exports' })).toEqual({ workgroupName: 'exports' });
  });

  it('refuses neither or both, naming the two variables', () => {
    for (const env of [{}, { REDSHIFT_CLUSTER_IDENTIFIER: 'a', REDSHIFT_WORKGROUP_NAME: 'b' }]) {
      expect(() => redshiftTargetFrom(env)).toThrow(ConfigError);
      expect(() => redshiftTargetFrom(env)).toThrow(/REDSHIFT_CLUSTER_IDENTIFIER.*REDSHIFT_WORKGROUP_NAME/);
    }
  });
});

describe('redshiftDataRunnerFrom', () => {
  it('sends statements to the database, secret and cluster of the environment', async () => {
    const client = new RedshiftDataClient({ region: 'eu-west-1' });
    const mock = mockClient(client);
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'stmt-1' });
    mock.on(DescribeStatementCommand).resolves({ Id: 'stmt-1', Status: 'FINISHED', SubStatements: [] });
    const runner = redshiftDataRunnerFrom(
      { ...base, REDSHIFT_CLUSTER_IDENTIFIER: 'analytics' },
      client,
      'test-run',
    );
    await runner.transaction(['SELECT 1']);
    expect(mock.commandCalls(BatchExecuteStatementCommand)[0]!.args[0].input).toMatchObject({
      Database: 'dev',
      SecretArn: base.REDSHIFT_SECRET_ARN,
      ClusterIdentifier: 'analytics',
      StatementName: 'test-run',
      Sqls: ['SELECT 1'],
    });
  });

  it('fails at once, naming the variable, without a database', () => {
    const client = new RedshiftDataClient({ region: 'eu-west-1' });
    expect(() =>
      redshiftDataRunnerFrom({ REDSHIFT_WORKGROUP_NAME: 'w', REDSHIFT_SECRET_ARN: 'x' }, client, 'n'),
    ).toThrow(/^REDSHIFT_DATABASE is required/);
  });
});
