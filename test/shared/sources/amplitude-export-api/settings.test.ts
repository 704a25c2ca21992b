import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '#shared/config/validate.ts';
import { EXPORT_API_METRICS, liveMetricValues } from '#shared/observability/export-api-metrics.ts';
import { classifyEntry, landingKeyOf } from '#shared/sources/amplitude-export-api/names.ts';
import { exportApiClientFrom, livePullSettingsFrom } from '#shared/sources/amplitude-export-api/settings.ts';
import { hourIndex } from './fake-export-api.ts';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:amplitude-AbCdEf';

describe('livePullSettingsFrom', () => {
  it('reads the defaults and the pipeline settings the stack already sets', () => {
    expect(livePullSettingsFrom({ PROJECT_ID: '187520', LANDING_PREFIX: 'amplitude/' })).toEqual({
      projectId: '187520',
      landingPrefix: 'amplitude/',
      delayHours: 3,
      lookbackDays: 7,
      maxHoursPerRequest: 24,
      batcherLookbackDays: 2,
    });
    expect(
      livePullSettingsFrom({
        PROJECT_ID: '1',
        LOOKBACK_DAYS: '4',
        EXPORT_API_DELAY_HOURS: '5',
        EXPORT_API_LOOKBACK_DAYS: '3',
        EXPORT_API_HOURS_PER_REQUEST: '6',
        EXPORT_API_FIRST_HOUR: '20240501T07',
      }),
    ).toMatchObject({
      delayHours: 5,
      lookbackDays: 3,
      maxHoursPerRequest: 6,
      batcherLookbackDays: 4,
      firstHour: '2024-05-01T07',
    });
  });

  it.each([
    [{ EXPORT_API_DELAY_HOURS: '1' }, /EXPORT_API_DELAY_HOURS must be from 2 to 72, got 1/],
    [{ EXPORT_API_FIRST_HOUR: 'yesterday' }, /EXPORT_API_FIRST_HOUR must be an hour as YYYY-MM-DDTHH/],
    [{ EXPORT_API_HOURS_PER_REQUEST: '9000' }, /EXPORT_API_HOURS_PER_REQUEST must be from 1 to 8760/],
  ])('names the wrong variable in %j', (env, message) => {
    expect(() => livePullSettingsFrom({ PROJECT_ID: '1', ...env })).toThrow(ConfigError);
    expect(() => livePullSettingsFrom({ PROJECT_ID: '1', ...env })).toThrow(message);
  });
});

describe('exportApiClientFrom', () => {
  const secrets = new SecretsManagerClient({ region: 'eu-west-1' });

  it('picks the host of the region, or the override', () => {
    expect(
      exportApiClientFrom({ EXPORT_API_SECRET_ARN: ARN, EXPORT_API_REGION: 'eu' }, { secrets }).baseUrl,
    ).toBe('https://analytics.eu.amplitude.com');
    expect(exportApiClientFrom({ EXPORT_API_SECRET_ARN: ARN }, { secrets }).baseUrl).toBe(
      'https://amplitude.com',
    );
    expect(
      exportApiClientFrom(
        { EXPORT_API_SECRET_ARN: ARN, EXPORT_API_BASE_URL: 'http://127.0.0.1:8080/' },
        { secrets },
      ).baseUrl,
    ).toBe('http://127.0.0.1:8080');
  });

  it('requires the secret ARN and a known region', () => {
    expect(() => exportApiClientFrom({}, { secrets })).toThrow(/EXPORT_API_SECRET_ARN is required/);
    expect(() =>
      exportApiClientFrom({ EXPORT_API_SECRET_ARN: ARN, EXPORT_API_REGION: 'EU' }, { secrets }),
    ).toThrow(/EXPORT_API_REGION must be "us" or "eu"/);
  });
});

describe('names', () => {
  it("reads the zip's entry names and gives the S3-export landing key", () => {
    const entry = classifyEntry('187520/187520_2024-05-01_7#12.json.gz');
    expect(entry).toEqual({
      kind: 'file',
      name: { projectId: '187520', hour: hourIndex('2024-05-01T07'), part: 12 },
    });
    if (entry.kind === 'file')
      expect(landingKeyOf('a/', entry.name)).toBe('a/187520_2024-05-01_7#12.json.gz');
    expect(classifyEntry('187520_2024-05-01_23#0.json.gz').kind).toBe('file');
    expect(classifyEntry('187520/').kind).toBe('skip');
    expect(classifyEntry('187520/187520_2024-05-01_7_complete').kind).toBe('skip');
    expect(classifyEntry('999/187520_2024-05-01_7#0.json.gz').kind).toBe('unknown');
    expect(classifyEntry('187520/187520_2024-02-30_7#0.json.gz').kind).toBe('unknown');
    expect(classifyEntry('187520/187520_2024-05-01_24#0.json.gz').kind).toBe('unknown');
  });
});

describe('liveMetricValues', () => {
  it('emits the gap metrics an alarm reads, and nothing for a skipped run', () => {
    const base = {
      skipped: false,
      dueHours: 3,
      requests: 2,
      hoursPulled: 2,
      hoursWithData: 1,
      filesWritten: 4,
      filesUnchanged: 0,
      filesDeleted: 0,
      bytesDownloaded: 1000,
      events: 10,
      failures: [{ startHour: 'a', endHour: 'a', kind: 'too-large', message: 'm' }],
      gapHours: 1,
      oldestGapAgeSeconds: 7200,
      abandonedHours: [],
      hoursNeedingBackfill: [],
    };
    const values = Object.fromEntries(liveMetricValues(base).map((metric) => [metric.name, metric.value]));
    expect(values).toEqual({
      [EXPORT_API_METRICS.hoursPulled]: 2,
      [EXPORT_API_METRICS.filesWritten]: 4,
      [EXPORT_API_METRICS.bytesDownloaded]: 1000,
      [EXPORT_API_METRICS.failedRequests]: 1,
      [EXPORT_API_METRICS.gapHours]: 1,
      [EXPORT_API_METRICS.oldestGapAgeSeconds]: 7200,
      [EXPORT_API_METRICS.abandonedHours]: 0,
    });
    expect(liveMetricValues({ ...base, skipped: true })).toEqual([]);
  });
});
