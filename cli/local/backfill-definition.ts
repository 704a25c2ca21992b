import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Backfill } from '#infra/constructs/backfill.ts';
import type { ExportSettings } from '#infra/constructs/pipeline.ts';
import { RedshiftWarehouse } from '#infra/constructs/redshift-warehouse.ts';
import type { BackfillMachine } from './state-machine.ts';

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
/** Bucket names the local runner maps to its object stores. */
export const LOCAL_BUCKETS = { landing: 'local-landing', staging: 'local-staging' } as const;

export interface SynthesizeBackfillOptions {
  readonly settings: ExportSettings;
  /** @default - the construct's default */
  readonly maxConcurrency?: number;
}

export interface SynthesizedBackfill extends BackfillMachine {
  /** The CloudFormation template of the stack, for tests that look at more than the definition. */
  readonly template: Record<string, unknown>;
}

/**
 * Synthesizes a stack that holds the `Backfill` construct (Lambda bundling skipped) and returns
 * the state machine's definition as CloudFormation would deploy it, with every reference
 * (function ARNs, partition, account) replaced by a fixed local value. The local runner and
 * the tests execute this definition, not a copy of it.
 */
export function synthesizeBackfillDefinition(options: SynthesizeBackfillOptions): SynthesizedBackfill {
  const outdir = mkdtempSync(join(tmpdir(), 'backfill-synth-'));
  try {
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'LocalBackfill', { env: { account: ACCOUNT, region: REGION } });
    const backfill = new Backfill(stack, 'Backfill', {
      settings: options.settings,
      landingBucket: s3.Bucket.fromBucketName(stack, 'Landing', LOCAL_BUCKETS.landing),
      stagingBucket: s3.Bucket.fromBucketName(stack, 'Staging', LOCAL_BUCKETS.staging),
      key: kms.Key.fromKeyArn(
        stack,
        'Key',
        `arn:aws:kms:${REGION}:${ACCOUNT}:key/00000000-0000-0000-0000-000000000000`,
      ),
      secret: secretsmanager.Secret.fromSecretCompleteArn(
        stack,
        'Secret',
        `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:local-redshift-AbCdEf`,
      ),
      copyRole: iam.Role.fromRoleArn(stack, 'CopyRole', `arn:aws:iam::${ACCOUNT}:role/local-copy`, {
        mutable: false,
      }),
      warehouse: new RedshiftWarehouse(stack, 'Warehouse', {
        endpoint: {
          kind: 'cluster',
          host: `local.abc123.${REGION}.redshift.amazonaws.com`,
          clusterIdentifier: 'local',
          region: REGION,
        },
        database: 'dev',
      }),
      ...(options.maxConcurrency !== undefined ? { maxConcurrency: options.maxConcurrency } : {}),
    });
    const template = app.synth().getStackArtifact(stack.artifactId).template as Record<string, unknown>;
    const resources = (template.Resources ?? {}) as Record<
      string,
      { Type: string; Properties?: Record<string, unknown> }
    >;
    const resolve = resolverFor(resources);
    const stateMachineId = stack.getLogicalId(backfill.stateMachine.node.defaultChild as never);
    const definitionString = resources[stateMachineId]?.Properties?.DefinitionString;
    if (definitionString === undefined) {
      throw new Error(`The synthesized template has no DefinitionString for ${stateMachineId}.`);
    }
    const arnOf = (fn: { function: { functionArn: string } }) =>
      resolve(stack.resolve(fn.function.functionArn));
    return {
      definition: JSON.parse(resolve(definitionString)) as Record<string, unknown>,
      functionArns: {
        plan: arnOf(backfill.planFunction),
        prepare: arnOf(backfill.prepareFunction),
        summarize: arnOf(backfill.summarizeFunction),
      },
      stagingBucket: LOCAL_BUCKETS.staging,
      template,
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

const PSEUDO: Readonly<Record<string, string>> = {
  'AWS::Partition': 'aws',
  'AWS::Region': REGION,
  'AWS::AccountId': ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
};

/** Resolves the intrinsics a definition string is built from (Fn::Join, Ref, Fn::GetAtt). */
function resolverFor(resources: Readonly<Record<string, { Type: string }>>): (value: unknown) => string {
  const functionName = (logicalId: string) => `local-${logicalId}`;
  const resolve = (value: unknown): string => {
    if (typeof value === 'string') return value;
    const node = value as Record<string, unknown>;
    if (Array.isArray(node?.['Fn::Join'])) {
      const [separator, parts] = node['Fn::Join'] as [string, unknown[]];
      return parts.map(resolve).join(separator);
    }
    if (typeof node?.Ref === 'string') {
      const ref = node.Ref;
      if (PSEUDO[ref]) return PSEUDO[ref];
      const type = resources[ref]?.Type;
      if (type === 'AWS::Lambda::Function') return functionName(ref);
      if (type) return ref;
    }
    if (Array.isArray(node?.['Fn::GetAtt'])) {
      const [logicalId, attribute] = node['Fn::GetAtt'] as [string, string];
      const type = resources[logicalId]?.Type;
      if (type === 'AWS::Lambda::Function' && attribute === 'Arn') {
        return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${functionName(logicalId)}`;
      }
      if (type) return `arn:aws:local:${REGION}:${ACCOUNT}:${logicalId}/${attribute}`;
    }
    throw new Error(
      `Cannot resolve ${JSON.stringify(value)} in the backfill definition for the local runner.`,
    );
  };
  return resolve;
}
