import { ConfigError } from './validate.ts';

/** Where a Redshift endpoint points: a provisioned cluster or a Serverless workgroup. */
export type RedshiftEndpoint =
  | {
      readonly kind: 'cluster';
      readonly host: string;
      readonly clusterIdentifier: string;
      readonly region: string;
    }
  | {
      readonly kind: 'serverless';
      readonly host: string;
      readonly workgroupName: string;
      readonly accountId: string;
      readonly region: string;
    };

const REGION = '[a-z]{2}(?:-[a-z]+)+-\\d';
const DOMAIN_SUFFIX = 'amazonaws\\.com(?:\\.cn)?';
// <cluster-id>.<unique-id>.<region>.redshift.amazonaws.com
const CLUSTER_HOST = new RegExp(
  `^([a-z][a-z0-9-]{0,62})\\.([a-z0-9]+)\\.(${REGION})\\.redshift\\.${DOMAIN_SUFFIX}$`,
);
// <workgroup-name>.<account-id>.<region>.redshift-serverless.amazonaws.com
const SERVERLESS_HOST = new RegExp(
  `^([a-z0-9-]{3,64})\\.(\\d{12})\\.(${REGION})\\.redshift-serverless\\.${DOMAIN_SUFFIX}$`,
);

const EXAMPLES =
  'e.g. my-cluster.abc123xyz789.us-east-1.redshift.amazonaws.com (provisioned) or ' +
  'my-workgroup.123456789012.us-east-1.redshift-serverless.amazonaws.com (Serverless)';

/**
 * Reads the cluster identifier or Serverless workgroup name from a Redshift endpoint host,
 * which is what the Data API and the IAM policies need. `key` names the setting in errors.
 */
export function parseRedshiftHost(raw: string, key = 'redshiftHost'): RedshiftEndpoint {
  const host = raw.trim().toLowerCase();
  if (host === '')
    throw new ConfigError(`${key} is required: the endpoint host of your Redshift (${EXAMPLES}).`);
  if (/[:/]/.test(host)) {
    throw new ConfigError(
      `${key} must be the endpoint host only, without scheme, port or database, got ${JSON.stringify(raw)}. ` +
        `Copy the endpoint from the Redshift console and remove everything from the ":" (the port is redshiftPort, the database redshiftDatabase).`,
    );
  }
  const cluster = CLUSTER_HOST.exec(host);
  if (cluster) {
    const [, clusterIdentifier, , region] = cluster as unknown as [string, string, string, string];
    if (clusterIdentifier.endsWith('-') || clusterIdentifier.includes('--')) {
      throw new ConfigError(
        `${key} names cluster ${JSON.stringify(clusterIdentifier)}, which is not a valid cluster identifier (no trailing or double hyphen); check the endpoint.`,
      );
    }
    return { kind: 'cluster', host, clusterIdentifier, region };
  }
  const serverless = SERVERLESS_HOST.exec(host);
  if (serverless) {
    const [, workgroupName, accountId, region] = serverless as unknown as [string, string, string, string];
    return { kind: 'serverless', host, workgroupName, accountId, region };
  }
  throw new ConfigError(
    `${key} is not an Amazon Redshift endpoint host: ${JSON.stringify(raw)}. Expected a provisioned cluster or Serverless workgroup endpoint, ${EXAMPLES}.`,
  );
}
