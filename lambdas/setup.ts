import { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ENV } from '#shared/config/pipeline.ts';
import { requireString } from '#shared/config/validate.ts';
import {
  createObservability,
  type Observability,
  type ObservabilityOptions,
  traceClient,
} from '#shared/observability/powertools.ts';
import type { ExportApiClient } from '#shared/sources/amplitude-export-api/client.ts';
import { exportApiClientFrom } from '#shared/sources/amplitude-export-api/settings.ts';
import { S3ObjectStore } from '#shared/storage/s3-store.ts';
import type { RedshiftDataApiRunner } from '#shared/warehouse/redshift-data.ts';
import { redshiftDataRunnerFrom } from '#shared/warehouse/redshift-data-env.ts';

/** The two buckets a Lambda may use, each named by the variable the stack sets. */
const BUCKETS = {
  landing: {
    variable: ENV.landingBucket,
    what: 'the bucket Amplitude exports into (the Export API connector writes there too)',
  },
  staging: {
    variable: ENV.stagingBucket,
    what: 'the bucket for staged parts, manifests, state and backfill files',
  },
} as const;

export type Bucket = keyof typeof BUCKETS;

/** What every handler builds once per container: Powertools and its S3 stores. */
export interface LambdaSetup {
  readonly observability: Observability;
  /** The environment the stack set for this Lambda. */
  readonly env: NodeJS.ProcessEnv;
  /** The bucket as an object store; one traced S3 client serves both buckets. */
  store(bucket: Bucket): S3ObjectStore;
  /** The AWS SDK client, recorded in the trace. */
  traced<T>(client: T): T;
}

/**
 * The one set-up of every Lambda, called at module scope so that a configuration error fails
 * the first invocation loudly: Powertools for `options` and the buckets from the environment
 * the stack sets, every AWS client traced. A store is built on first use, so a Lambda reads
 * only the variables it needs. The warehouse and the Export API are separate functions below
 * so that a Lambda without them does not bundle their SDK clients.
 */
export function setUpLambda(
  options: ObservabilityOptions,
  env: NodeJS.ProcessEnv = process.env,
): LambdaSetup {
  const observability = createObservability(options);
  let s3: S3Client | undefined;
  const stores = new Map<Bucket, S3ObjectStore>();
  return {
    observability,
    env,
    store(bucket) {
      let store = stores.get(bucket);
      if (!store) {
        s3 ??= traceClient(observability, new S3Client({}));
        const { variable, what } = BUCKETS[bucket];
        store = new S3ObjectStore({ client: s3, bucket: requireString(env, variable, what) });
        stores.set(bucket, store);
      }
      return store;
    },
    traced: (client) => traceClient(observability, client),
  };
}

/** The Redshift Data API runner; `statementName` tells this Lambda's statements apart in Redshift. */
export function warehouseOf(setup: LambdaSetup, statementName: string): RedshiftDataApiRunner {
  return redshiftDataRunnerFrom(setup.env, setup.traced(new RedshiftDataClient({})), statementName);
}

/** The Export API client (its secret from the environment), logging each retry. */
export function exportApiOf(setup: LambdaSetup): ExportApiClient {
  return exportApiClientFrom(setup.env, {
    secrets: setup.traced(new SecretsManagerClient({})),
    onRetry: (retry) => setup.observability.logger.warn('Export API request failed; retrying', { retry }),
  });
}
