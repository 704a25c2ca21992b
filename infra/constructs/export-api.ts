import { Duration, Size } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PREFIXES } from '#shared/base/staging-keys.ts';
import { ENV } from '#shared/config/pipeline.ts';
import { SERVICES } from '#shared/observability/metric-names.ts';
import type { ExportApiRegion } from '#shared/sources/amplitude-export-api/client.ts';
import { EXPORT_API_ENV } from '#shared/sources/amplitude-export-api/settings.ts';
import { schedule, scheduledFunction } from './pipeline.ts';
import { handlerEntry, PipelineFunction } from './pipeline-function.ts';

/**
 * /tmp of every function that calls the Export API: one answer (the API returns up to 4 GB)
 * waits there while each of its files is checked, before anything is written to landing.
 */
export const EXPORT_API_EPHEMERAL_STORAGE = Size.gibibytes(8);

/** What a function needs to call the Export API. */
export interface ExportApiAccess {
  /** Secret `{"apiKey": "...", "secretKey": "..."}` of the Amplitude project. */
  readonly secret: secretsmanager.ISecret;
  /** Data residency of the project: which Amplitude host answers. */
  readonly region: ExportApiRegion;
}

/**
 * Names the secret and the region the way `exportApiClientFrom` reads them, and grants reading
 * the secret (GetSecretValue on that ARN only).
 */
export function useExportApi(fn: PipelineFunction, access: ExportApiAccess): PipelineFunction {
  return fn.useSecret(EXPORT_API_ENV.secretArn, access.secret).setEnv(EXPORT_API_ENV.region, access.region);
}

export interface ExportApiProps extends ExportApiAccess {
  readonly projectId: string;
  /** Key prefix of the S3-export files in landing ('' for none): the pulled files go below it. */
  readonly landingPrefix: string;
  /** Bucket the files are written to, under the names Amplitude's S3 export gives them. */
  readonly landingBucket: s3.IBucket;
  /** Holds the pull's state record and lease (below `state/`). */
  readonly stagingBucket: s3.IBucket;
  /** Where failed or expired scheduled invocations go (the pipeline's dead-letter queue). */
  readonly onFailure: lambda.IDestination;
  /** Receives schedule events EventBridge could not deliver. */
  readonly deadLetterQueue: sqs.IQueue;
  /** Time between pulls, 1 minute to 6 hours. @default Duration.hours(1) */
  readonly interval?: Duration;
  /** Hours after an hour ends before it is pulled (2-72). @default 3 */
  readonly delayHours?: number;
  /** Days of hours the pull keeps retrying (1-30); older gaps are left to a backfill. @default 7 */
  readonly lookbackDays?: number;
}

/**
 * The live Export API pull: a Lambda on a schedule that fetches every due hour from
 * Amplitude's Export API into the landing bucket, where the batcher picks the files up like
 * those of the S3 export. One run at a time; a failed run is not retried (the next one
 * retries its hours), and it lands in the dead-letter queue.
 */
export class ExportApi extends Construct {
  readonly pull: PipelineFunction;
  readonly schedule: events.Rule;
  readonly interval: Duration;

  constructor(scope: Construct, id: string, props: ExportApiProps) {
    super(scope, id);
    this.interval = props.interval ?? Duration.hours(1);
    const seconds = this.interval.toSeconds();
    if (!Number.isInteger(seconds / 60) || seconds < 60 || seconds > 6 * 3600) {
      throw new Error(
        `ExportApi interval must be whole minutes from 1 minute to 6 hours (the longest a scheduled event may wait), got ${this.interval.toHumanString()}.`,
      );
    }

    this.pull = new PipelineFunction(this, 'Pull', {
      entry: handlerEntry('export-api-pull'),
      serviceName: SERVICES.exportApi,
      description:
        "Pulls due hours from Amplitude's Export API into the landing bucket, named like the S3 export",
      // gunzip checks run on libuv's thread pool: 2048 MB gives two vCPUs.
      memorySize: 2048,
      ephemeralStorageSize: EXPORT_API_EPHEMERAL_STORAGE,
      reservedConcurrentExecutions: 1,
      // The next scheduled run retries the same hours; the run ends before it.
      ...scheduledFunction(this.interval, props.onFailure),
    });
    useExportApi(this.pull, props)
      .setEnv(ENV.projectId, props.projectId)
      .setEnv(ENV.landingPrefix, props.landingPrefix)
      .setEnv(EXPORT_API_ENV.delayHours, String(props.delayHours ?? 3))
      .setEnv(EXPORT_API_ENV.lookbackDays, String(props.lookbackDays ?? 7))
      // LOOKBACK_DAYS stays unset, as on the batcher: both read the same default window.
      // Put the hours' files, list an hour's parts, delete the parts a newer answer no longer has.
      .readWriteBucket(ENV.landingBucket, props.landingBucket, [props.landingPrefix])
      .readWriteBucket(ENV.stagingBucket, props.stagingBucket, [PREFIXES.state]);

    this.schedule = schedule(this, 'Schedule', this.pull, this.interval, props.deadLetterQueue);
  }
}
