import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { formatHour, parseHour } from '../../base/hours.ts';
import { ENV } from '../../config/pipeline.ts';
import {
  ConfigError,
  integerIn,
  optionalString,
  prefixFrom,
  projectIdFrom,
  requireString,
  type Source,
} from '../../config/validate.ts';
import { EXPORT_API_BASE_URLS, ExportApiClient, type ExportApiRegion, type RetryEvent } from './client.ts';
import { secretCredentials } from './credentials.ts';
import type { LivePullSettings } from './live.ts';
import { DEFAULT_HOURS_PER_REQUEST, MAX_HOURS_PER_REQUEST } from './pull.ts';

/**
 * Environment variables of the Lambdas that call the Export API (the live pull, and the
 * backfill prepare step when backfills may use `"source": "export-api"`). The stack sets them.
 */
export const EXPORT_API_ENV = {
  /** ARN of the secret `{"apiKey", "secretKey"}`. */
  secretArn: 'EXPORT_API_SECRET_ARN',
  /** `us` or `eu` (data residency). */
  region: 'EXPORT_API_REGION',
  /** Overrides the region's host (tests, proxies). */
  baseUrl: 'EXPORT_API_BASE_URL',
  delayHours: 'EXPORT_API_DELAY_HOURS',
  lookbackDays: 'EXPORT_API_LOOKBACK_DAYS',
  hoursPerRequest: 'EXPORT_API_HOURS_PER_REQUEST',
  firstHour: 'EXPORT_API_FIRST_HOUR',
  /** Where answers wait while they are checked. @default os.tmpdir() (/tmp on Lambda) */
  tempDir: 'EXPORT_API_TEMP_DIR',
} as const;

export const REGIONS: readonly ExportApiRegion[] = Object.keys(EXPORT_API_BASE_URLS) as ExportApiRegion[];

export function regionFrom(source: Source, key: string): ExportApiRegion {
  const value = optionalString(source, key) ?? 'us';
  if (!(REGIONS as readonly string[]).includes(value)) {
    throw new ConfigError(
      `${key} must be ${REGIONS.map((region) => JSON.stringify(region)).join(' or ')} (the project's data residency: "eu" for analytics.eu.amplitude.com), got ${JSON.stringify(value)}.`,
    );
  }
  return value as ExportApiRegion;
}

/** The live pull's settings from the Lambda environment. */
export function livePullSettingsFrom(source: Source): LivePullSettings {
  const firstHourText = optionalString(source, EXPORT_API_ENV.firstHour);
  const firstHour = firstHourText === undefined ? undefined : parseHour(firstHourText);
  if (firstHourText !== undefined && firstHour === undefined) {
    throw new ConfigError(
      `${EXPORT_API_ENV.firstHour} must be an hour as YYYY-MM-DDTHH (UTC), got ${JSON.stringify(firstHourText)}.`,
    );
  }
  return {
    projectId: projectIdFrom(source, ENV.projectId),
    landingPrefix: prefixFrom(source, ENV.landingPrefix),
    delayHours: integerIn(source, EXPORT_API_ENV.delayHours, 3, 2, 72),
    lookbackDays: integerIn(source, EXPORT_API_ENV.lookbackDays, 7, 1, 30),
    maxHoursPerRequest: integerIn(
      source,
      EXPORT_API_ENV.hoursPerRequest,
      DEFAULT_HOURS_PER_REQUEST,
      1,
      MAX_HOURS_PER_REQUEST,
    ),
    batcherLookbackDays: integerIn(source, ENV.lookbackDays, 2, 0, 30),
    ...(firstHour === undefined ? {} : { firstHour: formatHour(firstHour) }),
  };
}

/**
 * The Export API client a Lambda uses: credentials from the secret in `EXPORT_API_SECRET_ARN`
 * (re-read every 5 minutes, so a rotated key is picked up), host from `EXPORT_API_REGION`.
 */
export function exportApiClientFrom(
  source: Source,
  deps: { readonly secrets: SecretsManagerClient; readonly onRetry?: (event: RetryEvent) => void },
): ExportApiClient {
  const secretArn = requireString(
    source,
    EXPORT_API_ENV.secretArn,
    'the ARN of the secret with the Amplitude project\'s {"apiKey", "secretKey"}',
  );
  const baseUrl = optionalString(source, EXPORT_API_ENV.baseUrl);
  const tempDir = optionalString(source, EXPORT_API_ENV.tempDir);
  return new ExportApiClient({
    credentials: secretCredentials(deps.secrets, secretArn),
    region: regionFrom(source, EXPORT_API_ENV.region),
    ...(baseUrl ? { baseUrl } : {}),
    ...(tempDir ? { tempDir } : {}),
    ...(deps.onRetry ? { onRetry: deps.onRetry } : {}),
  });
}
