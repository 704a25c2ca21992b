import type { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import { ENV } from '../config/pipeline.ts';
import { ConfigError, optionalString, requireString, type Source } from '../config/validate.ts';
import { RedshiftDataApiRunner, type RedshiftTarget } from './redshift-data.ts';

/** The cluster or workgroup the stack named in the Lambda's environment: exactly one of them. */
export function redshiftTargetFrom(env: Source): RedshiftTarget {
  const clusterIdentifier = optionalString(env, ENV.clusterIdentifier);
  const workgroupName = optionalString(env, ENV.workgroupName);
  if (clusterIdentifier && !workgroupName) return { clusterIdentifier };
  if (workgroupName && !clusterIdentifier) return { workgroupName };
  throw new ConfigError(
    `Set exactly one of ${ENV.clusterIdentifier} (provisioned cluster) and ${ENV.workgroupName} (Serverless workgroup).`,
  );
}

/** A Data API runner for the database, secret and target the stack put in the environment. */
export function redshiftDataRunnerFrom(
  env: Source,
  client: RedshiftDataClient,
  statementName: string,
): RedshiftDataApiRunner {
  return new RedshiftDataApiRunner({
    client,
    database: requireString(env, ENV.database, 'the Redshift database'),
    secretArn: requireString(env, ENV.secretArn, 'the ARN of the Redshift credentials secret'),
    target: redshiftTargetFrom(env),
    statementName,
  });
}
