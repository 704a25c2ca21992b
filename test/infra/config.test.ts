import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertSameAccount, CONTEXT_KEYS, type ContextKey, closest, parseContext } from '#infra/config.ts';
import { ConfigError } from '#shared/config/validate.ts';

const REQUIRED = {
  projectId: '187520',
  redshiftHost: 'analytics.c1abcdefghij.eu-west-1.redshift.amazonaws.com',
  redshiftDatabase: 'dev',
  redshiftUser: 'amplitude_export',
};

function parse(context: Record<string, unknown>) {
  return parseContext((key: ContextKey) => context[key], Object.keys(context));
}

function errorOf(context: Record<string, unknown>): string {
  try {
    parse(context);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('parseContext', () => {
  it('applies the documented defaults when only the required keys are set', () => {
    expect(parse(REQUIRED)).toEqual({
      projectId: '187520',
      feeds: ['events', 'merge_ids'],
      landingPrefix: '',
      redshift: {
        endpoint: {
          kind: 'cluster',
          host: REQUIRED.redshiftHost,
          clusterIdentifier: 'analytics',
          region: 'eu-west-1',
        },
        port: 5439,
        database: 'dev',
        user: 'amplitude_export',
      },
      schema: 'amplitude',
      batchIntervalMinutes: 5,
      loadIntervalMinutes: 10,
      backfillMaxConcurrency: 2,
      stagingRetentionDays: 14,
      quarantineRetentionDays: 90,
      verifyOnDeploy: false,
    });
  });

  it('reads cdk.json JSON values and -c strings alike', () => {
    const fromJson = parse({
      ...REQUIRED,
      feeds: ['merge_ids'],
      redshiftPort: 5440,
      verifyOnDeploy: true,
      redshiftSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rs-AbC123',
    });
    const fromFlags = parse({
      ...REQUIRED,
      feeds: 'merge_ids',
      redshiftPort: '5440',
      verifyOnDeploy: 'true',
      redshiftSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rs-AbC123',
    });
    expect(fromFlags).toEqual(fromJson);
    expect(fromJson.feeds).toEqual(['merge_ids']);
    expect(fromJson.redshift.port).toBe(5440);
    expect(fromJson.verifyOnDeploy).toBe(true);
  });

  it('keeps the optional keys it was given', () => {
    const config = parse({
      ...REQUIRED,
      orgId: '4242',
      landingBucket: 'acme-amplitude-export',
      landingPrefix: 'amplitude/187520/',
      alarmEmail: 'data@example.com',
      schema: 'analytics_amplitude',
    });
    expect(config).toMatchObject({
      orgId: '4242',
      landingBucketName: 'acme-amplitude-export',
      landingPrefix: 'amplitude/187520/',
      alarmEmail: 'data@example.com',
      schema: 'analytics_amplitude',
    });
  });

  it.each([
    [{ projectId: undefined }, /A required context key is missing: projectId \(Amplitude project ID\)/],
    [{ redshiftHost: undefined }, /A required context key is missing: redshiftHost/],
    [{ redshiftDatabase: ' ' }, /A required context key is missing: redshiftDatabase/],
    [{ redshiftUser: undefined }, /A required context key is missing: redshiftUser/],
    [{ projectId: 'my-project' }, /projectId must be the numeric Amplitude project ID, got "my-project"/],
    [{ orgId: 'acme' }, /orgId must be the numeric Amplitude organization ID/],
    [
      { feeds: 'events,users' },
      /feeds must be a comma-separated list of events, merge_ids, got "events,users"/,
    ],
    [{ landingBucket: 's3://acme/amplitude' }, /landingBucket must be the bare bucket name.*landingPrefix/],
    [{ landingBucket: 'Acme_Bucket' }, /landingBucket must be an S3 bucket name/],
    [{ landingPrefix: '/amplitude' }, /landingPrefix must not start with "\/"/],
    [{ redshiftHost: 'db.example.com' }, /redshiftHost is not an Amazon Redshift endpoint host/],
    [{ redshiftPort: 80 }, /redshiftPort must be from 1150 to 65535, got 80/],
    [{ redshiftPort: 'fast' }, /redshiftPort must be a whole number from 1150 to 65535, got "fast"/],
    [{ redshiftDatabase: 'My-DB' }, /redshiftDatabase must be a lower-case database name/],
    [{ redshiftUser: 'Amplitude User' }, /redshiftUser must be a lower-case identifier/],
    [{ redshiftSecretArn: 'amplitude/redshift' }, /redshiftSecretArn must be the complete ARN/],
    [
      { redshiftSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rs' },
      /redshiftSecretArn must be the complete ARN.*<name>-<6 characters>/,
    ],
    [{ schema: 'Amplitude' }, /schema must be a lower-case identifier/],
    [{ batchIntervalMinutes: 0 }, /batchIntervalMinutes must be from 1 to 1440, got 0/],
    [{ loadIntervalMinutes: '2.5' }, /loadIntervalMinutes must be a whole number from 1 to 1440/],
    [{ backfillMaxConcurrency: 50 }, /backfillMaxConcurrency must be from 1 to 20, got 50/],
    [{ alarmEmail: 'alerts' }, /alarmEmail must be an email address, got "alerts"/],
    [{ stagingRetentionDays: 0 }, /stagingRetentionDays must be from 1 to 3650/],
    [
      { stagingRetentionDays: 30, quarantineRetentionDays: 7 },
      /quarantineRetentionDays \(7\) must be at least stagingRetentionDays \(30\)/,
    ],
    [{ verifyOnDeploy: 'yes' }, /verifyOnDeploy must be true or false, got "yes"/],
    [{ verifyOnDeploy: true }, /verifyOnDeploy needs redshiftSecretArn/],
    [{ feeds: { events: true } }, /feeds must be comma-separated feeds to export/],
  ])('rejects %o with a message naming the key and what is allowed', (override, message) => {
    expect(errorOf({ ...REQUIRED, ...override })).toMatch(message);
  });
});

describe('parseContext: which keys', () => {
  it('reports every missing required key at once, with an example', () => {
    const message = errorOf({ schema: 'amplitude' });
    expect(message).toMatch(
      /^4 required context keys are missing: projectId \(.+\), redshiftHost \(.+\), redshiftDatabase \(.+\), redshiftUser \(.+\)\./,
    );
    expect(message).toContain('npx cdk deploy -c projectId=187520 -c redshiftHost=');
    expect(message).not.toContain('DEPLOY.md');
  });

  it('refuses a misspelt key with the key it probably meant', () => {
    expect(errorOf({ ...REQUIRED, redshiftDatbase: 'dev', batchIntervalMinute: 5 })).toBe(
      `Unknown context keys: redshiftDatbase (did you mean redshiftDatabase?), batchIntervalMinute (did you mean batchIntervalMinutes?). The keys this stack reads are: ${Object.keys(CONTEXT_KEYS).join(', ')}.`,
    );
  });

  it('refuses a password key, saying where the password goes instead', () => {
    expect(errorOf({ ...REQUIRED, redshiftPasword: 'hunter2' })).toMatch(
      /^Unknown context key: redshiftPasword \(a password is never a context value.*goes into the Redshift secret/,
    );
    expect(errorOf({ ...REQUIRED, redshiftPasword: 'hunter2' })).not.toContain('hunter2');
  });

  it("leaves the CDK's own keys (feature flags, lookups, bundling) to the CDK", () => {
    expect(
      parse({
        ...REQUIRED,
        '@aws-cdk/core:checkSecretUsage': true,
        'aws:cdk:bundling-stacks': [],
        'acknowledged-issue-numbers': [32775],
        'availability-zones:account=123456789012:region=eu-west-1': ['eu-west-1a'],
      }).projectId,
    ).toBe('187520');
  });

  it('stops `cdk synth` (infra/app.ts) on a misspelt key in cdk.json or -c, pointing at the README', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'infra/app.ts'], {
      encoding: 'utf8',
      env: {
        ...process.env,
        CDK_OUTDIR: mkdtempSync(join(tmpdir(), 'cdk-out-')),
        // How the CDK CLI hands cdk.json's context and -c values to the app.
        CDK_CONTEXT_JSON: JSON.stringify({
          ...REQUIRED,
          redshiftDatbase: 'dev',
          '@aws-cdk/core:checkSecretUsage': true,
        }),
      },
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('Unknown context key: redshiftDatbase (did you mean redshiftDatabase?)');
    expect(run.stderr).toContain('the README\'s "Configure" section lists every key');
    expect(run.stderr).not.toContain('DEPLOY.md');
  });

  it('suggests nothing for a key unlike any of ours', () => {
    expect(closest('colour', Object.keys(CONTEXT_KEYS))).toBeUndefined();
    expect(closest('ProjectID', Object.keys(CONTEXT_KEYS))).toBe('projectId');
  });
});

describe('parseContext: the Export API connector', () => {
  const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:amplitude-export-api-AbCdEf';
  // What cdk.json sets: the documented defaults, which leave the connector off.
  const DEFAULTS = {
    exportApiRegion: 'us',
    exportApiIntervalMinutes: 60,
    exportApiDelayHours: 3,
    exportApiLookbackDays: 7,
  };

  it('is off without exportApiSecretArn, also with the defaults cdk.json sets', () => {
    expect(parse(REQUIRED).exportApi).toBeUndefined();
    expect(parse({ ...REQUIRED, ...DEFAULTS }).exportApi).toBeUndefined();
    expect(parse({ ...REQUIRED, ...DEFAULTS })).toEqual(parse(REQUIRED));
  });

  it('is on with exportApiSecretArn, with the documented defaults', () => {
    expect(parse({ ...REQUIRED, exportApiSecretArn: SECRET }).exportApi).toEqual({
      secretArn: SECRET,
      region: 'us',
      intervalMinutes: 60,
      delayHours: 3,
      lookbackDays: 7,
    });
    expect(parse({ ...REQUIRED, ...DEFAULTS, exportApiSecretArn: SECRET }).exportApi).toEqual(
      parse({ ...REQUIRED, exportApiSecretArn: SECRET }).exportApi,
    );
  });

  it('takes the region, interval, delay and look-back from context, as JSON values or -c strings', () => {
    const flags = {
      ...REQUIRED,
      exportApiSecretArn: SECRET,
      exportApiRegion: 'eu',
      exportApiIntervalMinutes: '30',
      exportApiDelayHours: '6',
      exportApiLookbackDays: '14',
    };
    const json = {
      ...flags,
      exportApiIntervalMinutes: 30,
      exportApiDelayHours: 6,
      exportApiLookbackDays: 14,
    };
    expect(parse(flags).exportApi).toEqual({
      secretArn: SECRET,
      region: 'eu',
      intervalMinutes: 30,
      delayHours: 6,
      lookbackDays: 14,
    });
    expect(parse(json)).toEqual(parse(flags));
  });

  it.each([
    [
      { exportApiSecretArn: 'amplitude-export-api' },
      /exportApiSecretArn must be the complete ARN.*\{"apiKey", "secretKey"\}/,
    ],
    [
      { exportApiSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:amplitude-export-api' },
      /exportApiSecretArn must be the complete ARN.*<name>-<6 characters>/,
    ],
    [
      {
        exportApiSecretArn:
          'arn:aws:secretsmanager:us-east-1:123456789012:secret:amplitude-export-api-AbCdEf',
      },
      /exportApiSecretArn names a secret in us-east-1, but the stack deploys to eu-west-1.*Create the secret in eu-west-1/,
    ],
    [{ exportApiSecretArn: SECRET, exportApiRegion: 'EU' }, /exportApiRegion must be "us" or "eu".*got "EU"/],
    [
      { exportApiSecretArn: SECRET, exportApiIntervalMinutes: 5 },
      /exportApiIntervalMinutes must be from 15 to 360, got 5/,
    ],
    [
      { exportApiSecretArn: SECRET, exportApiIntervalMinutes: 'hourly' },
      /exportApiIntervalMinutes must be a whole number/,
    ],
    [
      { exportApiSecretArn: SECRET, exportApiDelayHours: 1 },
      /exportApiDelayHours must be from 2 to 72, got 1/,
    ],
    [
      { exportApiSecretArn: SECRET, exportApiLookbackDays: 31 },
      /exportApiLookbackDays must be from 1 to 30, got 31/,
    ],
    [
      { exportApiRegion: 'eu' },
      /exportApiRegion is set to "eu", but exportApiSecretArn is not.*-c exportApiSecretArn=/,
    ],
    [
      { exportApiIntervalMinutes: 30 },
      /exportApiIntervalMinutes is set to "30", but exportApiSecretArn is not/,
    ],
    // Checked even with the connector off, so a typo is not kept for the day it is turned on.
    [{ exportApiLookbackDays: 0 }, /exportApiLookbackDays must be from 1 to 30, got 0/],
  ])('rejects %o with a message naming the key and what is allowed', (override, message) => {
    expect(errorOf({ ...REQUIRED, ...override })).toMatch(message);
  });
});

describe('assertSameAccount', () => {
  const serverless = parse({
    ...REQUIRED,
    redshiftHost: 'exports.123456789012.us-east-1.redshift-serverless.amazonaws.com',
  });

  it('refuses to deploy into another account than the workgroup', () => {
    expect(() => assertSameAccount(serverless, '999999999999')).toThrow(
      /workgroup in account 123456789012, but the deployment targets account 999999999999/,
    );
  });

  it('accepts the same account, an unknown account and any provisioned cluster', () => {
    expect(() => assertSameAccount(serverless, '123456789012')).not.toThrow();
    expect(() => assertSameAccount(serverless, undefined)).not.toThrow();
    expect(() => assertSameAccount(parse(REQUIRED), '999999999999')).not.toThrow();
  });
});
