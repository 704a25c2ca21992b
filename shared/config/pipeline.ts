import { FEEDS, type Feed } from '../schema/columns.ts';
import {
  ConfigError,
  identifierFrom,
  integerIn,
  orgIdFrom,
  prefixFrom,
  projectIdFrom,
  type Source,
} from './validate.ts';

/** What the batcher, loader and backfill need to know, wherever they run. */
export interface PipelineSettings {
  readonly projectId: string;
  /** Merged-ID files of this org only. @default - any org */
  readonly orgId?: string;
  readonly feeds: readonly Feed[];
  /** Warehouse schema. @default amplitude */
  readonly schema: string;
  /** Key prefix of the Amplitude S3-export files in the landing store (may be ''). */
  readonly landingPrefix: string;
  /** Days back from today (UTC) that discovery lists. @default 2 */
  readonly lookbackDays: number;
  /** Target uncompressed bytes per staged part. @default 64 MiB */
  readonly partTargetBytes: number;
  /** Most batches one load transaction takes per feed. @default 30 */
  readonly maxBatchesPerLoad: number;
  /** Failed load attempts after which a batch is moved to `failed`. @default 3 */
  readonly maxLoadAttempts: number;
  /** IAM role Redshift assumes for COPY (unused by PostgreSQL). */
  readonly copyRoleArn?: string;
}

/**
 * Environment variables the CDK stack sets on the Lambdas. Named once here so the stack
 * and the handlers cannot drift apart.
 */
export const ENV = {
  projectId: 'PROJECT_ID',
  orgId: 'ORG_ID',
  feeds: 'FEEDS',
  schema: 'WAREHOUSE_SCHEMA',
  landingBucket: 'LANDING_BUCKET',
  landingPrefix: 'LANDING_PREFIX',
  stagingBucket: 'STAGING_BUCKET',
  lookbackDays: 'LOOKBACK_DAYS',
  partTargetBytes: 'PART_TARGET_BYTES',
  maxBatchesPerLoad: 'MAX_BATCHES_PER_LOAD',
  maxLoadAttempts: 'MAX_LOAD_ATTEMPTS',
  copyRoleArn: 'COPY_ROLE_ARN',
  secretArn: 'REDSHIFT_SECRET_ARN',
  database: 'REDSHIFT_DATABASE',
  clusterIdentifier: 'REDSHIFT_CLUSTER_IDENTIFIER',
  workgroupName: 'REDSHIFT_WORKGROUP_NAME',
  /**
   * The loader function the batcher starts (asynchronously) after it staged batches, so rows
   * are loaded minutes after their file landed; the loader's own schedule stays the floor.
   */
  loaderFunctionName: 'LOADER_FUNCTION_NAME',
} as const;

export function parseFeeds(raw: string | undefined, key: string): readonly Feed[] {
  if (raw === undefined || raw.trim() === '') return FEEDS;
  const feeds = raw.split(',').map((feed) => feed.trim());
  const unknown = feeds.filter((feed) => !(FEEDS as readonly string[]).includes(feed));
  if (unknown.length > 0 || feeds.length === 0) {
    throw new ConfigError(
      `${key} must be a comma-separated list of ${FEEDS.join(', ')}, got ${JSON.stringify(raw)}.`,
    );
  }
  return [...new Set(feeds)] as Feed[];
}

/** Reads `PipelineSettings` from a key/value source (environment variables, CLI flags). */
export function pipelineSettingsFrom(
  source: Source,
  keys: Partial<Record<keyof typeof ENV, string>> = {},
): PipelineSettings {
  const k = { ...ENV, ...keys };
  const copyRoleArn = source[k.copyRoleArn]?.trim();
  const orgId = orgIdFrom(source, k.orgId);
  return {
    projectId: projectIdFrom(source, k.projectId),
    ...(orgId ? { orgId } : {}),
    feeds: parseFeeds(source[k.feeds], k.feeds),
    schema: identifierFrom(source, k.schema, 'amplitude'),
    landingPrefix: prefixFrom(source, k.landingPrefix),
    lookbackDays: integerIn(source, k.lookbackDays, 2, 0, 30),
    partTargetBytes: integerIn(source, k.partTargetBytes, 64 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    maxBatchesPerLoad: integerIn(source, k.maxBatchesPerLoad, 30, 1, 500),
    maxLoadAttempts: integerIn(source, k.maxLoadAttempts, 3, 1, 100),
    ...(copyRoleArn ? { copyRoleArn } : {}),
  };
}
