import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { type ContextKey, parseContext } from '#infra/config.ts';
import { AmplitudeRedshiftExportStack } from '#infra/stack.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** The feature flags and defaults of cdk.json, so tests synthesize what `cdk synth` does. */
export const CDK_JSON_CONTEXT = (
  JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }
).context;

export const CLUSTER_CONTEXT = {
  projectId: '187520',
  redshiftHost: 'analytics.c1abcdefghij.eu-west-1.redshift.amazonaws.com',
  redshiftDatabase: 'dev',
  redshiftUser: 'amplitude_export',
} as const;

/** The IAM policy variable for the calling identity (a literal `${...}`, not a template). */
export const CALLER_USERID = ['$', '{aws:userid}'].join('');

export const SERVERLESS_CONTEXT = {
  projectId: '187520',
  orgId: '4242',
  redshiftHost: 'exports.123456789012.us-east-1.redshift-serverless.amazonaws.com',
  redshiftDatabase: 'analytics',
  redshiftUser: 'amplitude_export',
  redshiftSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:amplitude/redshift-AbC123',
  landingBucket: 'acme-amplitude-export',
  landingPrefix: 'amplitude/187520/',
  alarmEmail: 'data-alerts@example.com',
  verifyOnDeploy: 'true',
  batchIntervalMinutes: '3',
  loadIntervalMinutes: '15',
} as const;

/** A secret of the Export API connector in CLUSTER_CONTEXT's region (eu-west-1). */
export const EXPORT_API_SECRET_ARN =
  'arn:aws:secretsmanager:eu-west-1:123456789012:secret:amplitude-export-api-AbCdEf';

/** CLUSTER_CONTEXT with the Export API connector on, everything else at its default. */
export const CLUSTER_EXPORT_API_CONTEXT = {
  ...CLUSTER_CONTEXT,
  exportApiSecretArn: EXPORT_API_SECRET_ARN,
} as const;

/** SERVERLESS_CONTEXT (imported landing bucket with a prefix) with the connector on and tuned. */
export const SERVERLESS_EXPORT_API_CONTEXT = {
  ...SERVERLESS_CONTEXT,
  exportApiSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:amplitude/export-api-XyZ789',
  exportApiRegion: 'eu',
  exportApiIntervalMinutes: '120',
  exportApiDelayHours: '4',
  exportApiLookbackDays: '10',
} as const;

/**
 * The four deployments the whole-stack checks (cdk-nag, the permission matrix, the invariants)
 * run on: provisioned and Serverless, each with and without the Export API connector (a pull
 * function writing to a created and to an imported landing bucket).
 */
export const DEPLOYMENT_VARIANTS = {
  cluster: CLUSTER_CONTEXT,
  serverless: SERVERLESS_CONTEXT,
  'cluster with the Export API connector': CLUSTER_EXPORT_API_CONTEXT,
  'serverless with the Export API connector': SERVERLESS_EXPORT_API_CONTEXT,
} as const;

export interface Synthesized {
  readonly app: App;
  readonly stack: AmplitudeRedshiftExportStack;
  readonly template: Template;
}

/**
 * Builds the stack the way infra/app.ts does. Bundling is skipped (`aws:cdk:bundling-stacks`
 * = []) unless `bundle` is set: NodejsFunction then uses a placeholder asset.
 */
export function synthesize(
  context: Readonly<Record<string, unknown>>,
  options: { bundle?: boolean; outdir?: string } = {},
): Synthesized {
  const app = new App({
    ...(options.outdir ? { outdir: options.outdir } : {}),
    context: {
      ...CDK_JSON_CONTEXT,
      ...context,
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
    },
  });
  const config = parseContext(
    (key: ContextKey) => app.node.tryGetContext(key),
    Object.keys(app.node.getAllContext()),
  );
  const stack = new AmplitudeRedshiftExportStack(app, `AmplitudeRedshiftExport-${config.projectId}`, {
    config,
    env: { account: '123456789012', region: config.redshift.endpoint.region },
  });
  return { app, stack, template: Template.fromStack(stack) };
}

/** Every resource of a type, by logical id. */
export function resourcesOf(
  template: Template,
  type: string,
): Record<string, { Properties: Record<string, unknown> }> {
  return template.findResources(type) as Record<string, { Properties: Record<string, unknown> }>;
}
