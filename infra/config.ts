import { parseFeeds } from '#shared/config/pipeline.ts';
import { parseRedshiftHost, type RedshiftEndpoint } from '#shared/config/redshift-host.ts';
import {
  ConfigError,
  identifierFrom,
  integerIn,
  nearestName,
  optionalString,
  orgIdFrom,
  prefixFrom,
  projectIdFrom,
  requireString,
  type Source,
} from '#shared/config/validate.ts';
import type { Feed } from '#shared/schema/columns.ts';
import type { ExportApiRegion } from '#shared/sources/amplitude-export-api/client.ts';
import { regionFrom } from '#shared/sources/amplitude-export-api/settings.ts';

/** Everything a deployment is configured with, validated once by `parseContext`. */
export interface DeploymentConfig {
  readonly projectId: string;
  readonly orgId?: string;
  readonly feeds: readonly Feed[];
  /** Existing bucket Amplitude exports into. @default - the stack creates one */
  readonly landingBucketName?: string;
  readonly landingPrefix: string;
  readonly redshift: RedshiftConfig;
  readonly schema: string;
  readonly batchIntervalMinutes: number;
  readonly loadIntervalMinutes: number;
  readonly backfillMaxConcurrency: number;
  readonly alarmEmail?: string;
  readonly stagingRetentionDays: number;
  readonly quarantineRetentionDays: number;
  readonly verifyOnDeploy: boolean;
  /** The Amplitude Export API connector. @default - off (no pull function, no schedule, no grants) */
  readonly exportApi?: ExportApiConfig;
}

/** The Export API connector, on when `exportApiSecretArn` is set. */
export interface ExportApiConfig {
  /** Complete ARN of the secret `{"apiKey": "...", "secretKey": "..."}`, in the stack's region. */
  readonly secretArn: string;
  readonly region: ExportApiRegion;
  readonly intervalMinutes: number;
  readonly delayHours: number;
  readonly lookbackDays: number;
}

export interface RedshiftConfig {
  readonly endpoint: RedshiftEndpoint;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  /** Existing secret with the credentials. @default - the stack creates one */
  readonly secretArn?: string;
}

/** The context keys, their defaults and what they mean (cdk.json documents the same). */
export const CONTEXT_KEYS = {
  projectId: 'Amplitude project ID (required)',
  orgId: 'Amplitude organization ID: load merged-ID files of this org only (optional)',
  feeds: 'comma-separated feeds to export: events, merge_ids (default both)',
  landingBucket: "name of an existing bucket with Amplitude's S3 export (default: the stack creates one)",
  landingPrefix: 'key prefix of the export files in the landing bucket (default none)',
  redshiftHost: 'endpoint host of the cluster or Serverless workgroup (required)',
  redshiftPort: 'port (default 5439)',
  redshiftDatabase: 'database to load into (required)',
  redshiftUser: 'database user the pipeline connects as (required)',
  redshiftSecretArn:
    'ARN of an existing Secrets Manager secret with the credentials (default: the stack creates one)',
  schema: 'schema of the tables (default amplitude)',
  batchIntervalMinutes: 'minutes between batcher runs (default 5)',
  loadIntervalMinutes: 'minutes between loader runs (default 10)',
  backfillMaxConcurrency: 'backfill chunks loading at once (default 2)',
  alarmEmail: 'email address subscribed to the alarm topic (optional)',
  stagingRetentionDays: 'days staged parts and loaded manifests are kept (default 14)',
  quarantineRetentionDays: 'days quarantined records and failed manifests are kept (default 90)',
  verifyOnDeploy: 'run the verify check during deploy; needs redshiftSecretArn (default false)',
  exportApiSecretArn:
    'complete ARN of a Secrets Manager secret {"apiKey", "secretKey"} of the Amplitude project, in the stack\'s region; turns the Export API connector on (default off)',
  exportApiRegion: 'data residency of the Amplitude project for the Export API: us or eu (default us)',
  exportApiIntervalMinutes: 'minutes between Export API pulls, 15 to 360 (default 60)',
  exportApiDelayHours: 'hours after an hour ends before the Export API pull fetches it, 2 to 72 (default 3)',
  exportApiLookbackDays: 'days the Export API pull keeps retrying missing hours, 1 to 30 (default 7)',
} as const;

export type ContextKey = keyof typeof CONTEXT_KEYS;

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
// The complete ARN: Secrets Manager appends `-` and six characters to the name.
const SECRET_ARN =
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
// Redshift database names: lower-case letters, digits, underscore, dollar; at most 64 bytes.
const DATABASE_NAME = /^[a-z_][a-z0-9_$]{0,63}$/;

/** Keys without which nothing can be deployed; all missing ones are reported together. */
const REQUIRED_KEYS = ['projectId', 'redshiftHost', 'redshiftDatabase', 'redshiftUser'] as const;

/** Where a user reads about the keys (no other deployment document exists). */
export const CONFIGURE_HINT =
  'Set it in cdk.json ("context") or with -c key=value; the README\'s "Configure" section lists every key.';

/**
 * Reads and validates the CDK context once. `get` is `app.node.tryGetContext`; values may be
 * strings (`-c key=value`) or JSON values (cdk.json). `givenKeys` are the names of every
 * context key set (`Object.keys(app.node.getAllContext())`), so a misspelt one is refused
 * rather than silently ignored. Throws `ConfigError` naming the key, what was given and what
 * is allowed.
 */
export function parseContext(
  get: (key: ContextKey) => unknown,
  givenKeys: readonly string[] = [],
): DeploymentConfig {
  assertKnownKeys(givenKeys);
  const source = contextSource(get);
  const missing = REQUIRED_KEYS.filter((key) => optionalString(source, key) === undefined);
  if (missing.length > 0) {
    throw new ConfigError(
      `${missing.length === 1 ? 'A required context key is' : `${missing.length} required context keys are`} missing: ${missing
        .map((key) => `${key} (${CONTEXT_KEYS[key].replace(' (required)', '')})`)
        .join(
          ', ',
        )}. For example: npx cdk deploy -c projectId=187520 -c redshiftHost=my-cluster.abc123xyz789.us-east-1.redshift.amazonaws.com -c redshiftDatabase=dev -c redshiftUser=amplitude_export`,
    );
  }
  const feeds = parseFeeds(source.feeds, 'feeds');
  const landingBucketName = landingBucketFrom(source);
  const secretArn = optionalString(source, 'redshiftSecretArn');
  if (secretArn !== undefined && !SECRET_ARN.test(secretArn)) {
    throw new ConfigError(
      `redshiftSecretArn must be the complete ARN of a Secrets Manager secret, as the console shows it (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>), got ${JSON.stringify(secretArn)}.`,
    );
  }
  const stagingRetentionDays = integerIn(source, 'stagingRetentionDays', 14, 1, 3650);
  const quarantineRetentionDays = integerIn(source, 'quarantineRetentionDays', 90, 1, 3650);
  if (quarantineRetentionDays < stagingRetentionDays) {
    throw new ConfigError(
      `quarantineRetentionDays (${quarantineRetentionDays}) must be at least stagingRetentionDays (${stagingRetentionDays}): quarantined records are what someone investigates later.`,
    );
  }
  const verifyOnDeploy = booleanFrom(source, 'verifyOnDeploy', false);
  if (verifyOnDeploy && secretArn === undefined) {
    throw new ConfigError(
      'verifyOnDeploy needs redshiftSecretArn: a secret this stack creates still holds a placeholder password during the deploy, so the check could only fail. Deploy first, set the password, then run verify (README, "Deploying to AWS", steps 4 and 6).',
    );
  }
  const alarmEmail = optionalString(source, 'alarmEmail');
  if (alarmEmail !== undefined && !EMAIL.test(alarmEmail)) {
    throw new ConfigError(`alarmEmail must be an email address, got ${JSON.stringify(alarmEmail)}.`);
  }
  const orgId = orgIdFrom(source, 'orgId');
  const endpoint = parseRedshiftHost(
    requireString(
      source,
      'redshiftHost',
      'the endpoint host of your Redshift cluster or Serverless workgroup',
    ),
    'redshiftHost',
  );
  const exportApi = exportApiFrom(source, endpoint.region);
  return {
    projectId: projectIdFrom(source, 'projectId'),
    ...(orgId ? { orgId } : {}),
    feeds,
    ...(landingBucketName ? { landingBucketName } : {}),
    landingPrefix: prefixFrom(source, 'landingPrefix'),
    redshift: {
      endpoint,
      port: integerIn(source, 'redshiftPort', 5439, 1150, 65535),
      database: databaseFrom(source),
      user: identifierFrom(
        { redshiftUser: requireString(source, 'redshiftUser', 'the database user the pipeline connects as') },
        'redshiftUser',
        '',
      ),
      ...(secretArn ? { secretArn } : {}),
    },
    schema: identifierFrom(source, 'schema', 'amplitude'),
    batchIntervalMinutes: integerIn(source, 'batchIntervalMinutes', 5, 1, 1440),
    loadIntervalMinutes: integerIn(source, 'loadIntervalMinutes', 10, 1, 1440),
    backfillMaxConcurrency: integerIn(source, 'backfillMaxConcurrency', 2, 1, 20),
    ...(alarmEmail ? { alarmEmail } : {}),
    stagingRetentionDays,
    quarantineRetentionDays,
    verifyOnDeploy,
    ...(exportApi ? { exportApi } : {}),
  };
}

/**
 * Refuses a deployment into an account other than the Serverless workgroup's: the Data API
 * grants and the COPY role are made for one account. `account` is undefined when unknown.
 */
export function assertSameAccount(config: DeploymentConfig, account: string | undefined): void {
  const endpoint = config.redshift.endpoint;
  if (endpoint.kind === 'serverless' && account !== undefined && account !== endpoint.accountId) {
    throw new ConfigError(
      `redshiftHost names a workgroup in account ${endpoint.accountId}, but the deployment targets account ${account}. Deploy with credentials for account ${endpoint.accountId}.`,
    );
  }
}

/**
 * Refuses context keys that look like ours (a plain camelCase name) but are not: a misspelt
 * `redshiftPasword` would otherwise be ignored. Keys with `:`, `@`, `-` or `/` belong to the
 * CDK (feature flags such as `@aws-cdk/core:...`, `aws:cdk:...`, lookups cached in
 * cdk.context.json) and are left to it.
 */
function assertKnownKeys(givenKeys: readonly string[]): void {
  const known = Object.keys(CONTEXT_KEYS);
  const unknown = givenKeys.filter((key) => /^[A-Za-z][A-Za-z0-9]*$/.test(key) && !known.includes(key));
  if (unknown.length === 0) return;
  const described = unknown.map((key) => {
    if (/pas*w|pwd/i.test(key)) {
      return `${key} (a password is never a context value, where it would land in the template: it goes into the Redshift secret, README "Deploying to AWS" step 4)`;
    }
    const guess = closest(key, known);
    return guess ? `${key} (did you mean ${guess}?)` : key;
  });
  throw new ConfigError(
    `Unknown context key${unknown.length === 1 ? '' : 's'}: ${described.join(', ')}. The keys this stack reads are: ${known.join(', ')}.`,
  );
}

/** The known key nearest to `key` (ignoring case), when it is near enough to be a typo. */
export function closest(key: string, known: readonly string[]): string | undefined {
  return nearestName(key, known, Math.max(2, Math.floor(key.length / 4)));
}

function contextSource(get: (key: ContextKey) => unknown): Source {
  const source: Record<string, string | undefined> = {};
  for (const key of Object.keys(CONTEXT_KEYS) as ContextKey[]) {
    const value = get(key);
    if (value === undefined || value === null) continue;
    if (typeof value === 'string') source[key] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') source[key] = String(value);
    else if (key === 'feeds' && Array.isArray(value) && value.every((item) => typeof item === 'string')) {
      source[key] = value.join(',');
    } else {
      throw new ConfigError(`${key} must be ${CONTEXT_KEYS[key]}; got ${JSON.stringify(value)}.`);
    }
  }
  return source;
}

function landingBucketFrom(source: Source): string | undefined {
  const name = optionalString(source, 'landingBucket');
  if (name === undefined) return undefined;
  if (name.startsWith('s3://') || name.startsWith('arn:')) {
    throw new ConfigError(
      `landingBucket must be the bare bucket name (no s3:// or ARN; put a key prefix in landingPrefix), got ${JSON.stringify(name)}.`,
    );
  }
  if (!BUCKET_NAME.test(name) || name.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(name)) {
    throw new ConfigError(
      `landingBucket must be an S3 bucket name (3-63 lower-case letters, digits, dots, hyphens), got ${JSON.stringify(name)}.`,
    );
  }
  return name;
}

/** The connector's keys other than the secret, with the defaults cdk.json documents. */
const EXPORT_API_DEFAULTS = {
  exportApiRegion: 'us',
  exportApiIntervalMinutes: '60',
  exportApiDelayHours: '3',
  exportApiLookbackDays: '7',
} as const;

/**
 * The Export API connector: off without `exportApiSecretArn`. Its other keys are checked either
 * way, and setting one to anything but its default without the secret is refused: the
 * connector would silently stay off.
 */
function exportApiFrom(source: Source, stackRegion: string): ExportApiConfig | undefined {
  const region = regionFrom(source, 'exportApiRegion');
  const intervalMinutes = integerIn(source, 'exportApiIntervalMinutes', 60, 15, 360);
  const delayHours = integerIn(source, 'exportApiDelayHours', 3, 2, 72);
  const lookbackDays = integerIn(source, 'exportApiLookbackDays', 7, 1, 30);
  const secretArn = optionalString(source, 'exportApiSecretArn');
  if (secretArn === undefined) {
    for (const [key, fallback] of Object.entries(EXPORT_API_DEFAULTS)) {
      const given = optionalString(source, key);
      if (given !== undefined && given !== fallback) {
        throw new ConfigError(
          `${key} is set to ${JSON.stringify(given)}, but exportApiSecretArn is not, and without it the Export API connector is off. Set -c exportApiSecretArn=<ARN of the secret {"apiKey", "secretKey"}> to turn it on, or remove ${key}.`,
        );
      }
    }
    return undefined;
  }
  if (!SECRET_ARN.test(secretArn)) {
    throw new ConfigError(
      `exportApiSecretArn must be the complete ARN of a Secrets Manager secret holding {"apiKey", "secretKey"}, as the console shows it (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>), got ${JSON.stringify(secretArn)}.`,
    );
  }
  const secretRegion = secretArn.split(':')[3];
  if (secretRegion !== stackRegion) {
    throw new ConfigError(
      `exportApiSecretArn names a secret in ${secretRegion}, but the stack deploys to ${stackRegion} (the region of redshiftHost), where the functions read it. Create the secret in ${stackRegion} (or replicate it there) and pass that ARN.`,
    );
  }
  return { secretArn, region, intervalMinutes, delayHours, lookbackDays };
}

function databaseFrom(source: Source): string {
  const database = requireString(source, 'redshiftDatabase', 'the database to load into, e.g. dev');
  if (!DATABASE_NAME.test(database)) {
    throw new ConfigError(
      `redshiftDatabase must be a lower-case database name (letters, digits, _ or $; at most 64), got ${JSON.stringify(database)}.`,
    );
  }
  return database;
}

function booleanFrom(source: Source, key: string, fallback: boolean): boolean {
  const raw = optionalString(source, key);
  if (raw === undefined) return fallback;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new ConfigError(`${key} must be true or false, got ${JSON.stringify(raw)}.`);
}
