import { describe, expect, it } from 'vitest';
import { parseRedshiftHost } from '#shared/config/redshift-host.ts';
import { ConfigError } from '#shared/config/validate.ts';

describe('parseRedshiftHost', () => {
  it('reads the cluster identifier and region of a provisioned endpoint', () => {
    expect(parseRedshiftHost('examplecluster.abc123xyz789.us-west-2.redshift.amazonaws.com')).toEqual({
      kind: 'cluster',
      host: 'examplecluster.abc123xyz789.us-west-2.redshift.amazonaws.com',
      clusterIdentifier: 'examplecluster',
      region: 'us-west-2',
    });
  });

  it('reads the workgroup, account and region of a Serverless endpoint', () => {
    expect(
      parseRedshiftHost('default-wg.123456789012.eu-central-1.redshift-serverless.amazonaws.com'),
    ).toEqual({
      kind: 'serverless',
      host: 'default-wg.123456789012.eu-central-1.redshift-serverless.amazonaws.com',
      workgroupName: 'default-wg',
      accountId: '123456789012',
      region: 'eu-central-1',
    });
  });

  it('accepts China and GovCloud endpoints, upper case and surrounding spaces', () => {
    expect(parseRedshiftHost('c1.x9.cn-north-1.redshift.amazonaws.com.cn')).toMatchObject({
      clusterIdentifier: 'c1',
      region: 'cn-north-1',
    });
    expect(parseRedshiftHost('  Prod-Cluster.X9.US-GOV-WEST-1.redshift.amazonaws.com ')).toMatchObject({
      kind: 'cluster',
      clusterIdentifier: 'prod-cluster',
      region: 'us-gov-west-1',
    });
  });

  it('says to drop the port and database when the JDBC-style endpoint is pasted', () => {
    expect(() => parseRedshiftHost('c1.x9.us-east-1.redshift.amazonaws.com:5439/dev')).toThrow(
      /redshiftHost must be the endpoint host only.*redshiftPort.*redshiftDatabase/,
    );
    expect(() => parseRedshiftHost('jdbc:redshift://c1.x9.us-east-1.redshift.amazonaws.com')).toThrow(
      ConfigError,
    );
  });

  it('refuses hosts that are not Redshift endpoints, naming the key and both forms', () => {
    for (const host of [
      'db.example.com',
      'mydb.cluster-abc.us-east-1.rds.amazonaws.com',
      'wg.12345.us-east-1.redshift-serverless.amazonaws.com',
      'c1.us-east-1.redshift.amazonaws.com',
    ]) {
      expect(() => parseRedshiftHost(host, 'redshiftHost')).toThrow(
        /redshiftHost is not an Amazon Redshift endpoint host.*redshift\.amazonaws\.com \(provisioned\).*redshift-serverless\.amazonaws\.com \(Serverless\)/,
      );
    }
  });

  it('refuses a cluster identifier Redshift would not accept', () => {
    expect(() => parseRedshiftHost('bad--name.x9.us-east-1.redshift.amazonaws.com')).toThrow(
      /not a valid cluster identifier/,
    );
  });

  it('asks for the host when it is empty', () => {
    expect(() => parseRedshiftHost('  ', 'redshiftHost')).toThrow(/redshiftHost is required/);
  });
});
