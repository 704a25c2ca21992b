import { createRequire } from 'node:module';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { beforeAll, describe, expect, it } from 'vitest';
import { type SynthesizedBackfill, synthesizeBackfillDefinition } from '#cli/local/backfill-definition.ts';
import { Backfill, type BackfillProps } from '#infra/constructs/backfill.ts';
import { BACKFILL_STATES as S } from '#infra/constructs/backfill-states.ts';
import type { ExportSettings } from '#infra/constructs/pipeline.ts';
import { RedshiftWarehouse } from '#infra/constructs/redshift-warehouse.ts';
import type { RedshiftEndpoint } from '#shared/config/redshift-host.ts';

const aslValidator = createRequire(import.meta.url)('asl-validator') as (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };

const SETTINGS: ExportSettings = {
  projectId: '187520',
  feeds: ['events', 'merge_ids'],
  schema: 'amplitude',
  landingPrefix: '',
};

type StateJson = Record<string, unknown> & { Retry?: { ErrorEquals: string[]; JitterStrategy?: string }[] };

let synthesized: SynthesizedBackfill;
let states: Record<string, StateJson>;
let chunkStates: Record<string, StateJson>;

beforeAll(() => {
  synthesized = synthesizeBackfillDefinition({ settings: SETTINGS });
  states = synthesized.definition.States as Record<string, StateJson>;
  chunkStates = (states[S.chunks]!.ItemProcessor as { States: Record<string, StateJson> }).States;
});

function stackWith(
  endpoint: RedshiftEndpoint,
  props: Partial<BackfillProps> | ((stack: Stack) => Partial<BackfillProps>) = {},
): { stack: Stack; backfill: Backfill } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'us-east-1' } });
  const backfill = new Backfill(stack, 'Backfill', {
    settings: SETTINGS,
    landingBucket: new s3.Bucket(stack, 'Landing'),
    stagingBucket: new s3.Bucket(stack, 'Staging'),
    key: new kms.Key(stack, 'Key'),
    secret: new secretsmanager.Secret(stack, 'Secret'),
    copyRole: new iam.Role(stack, 'CopyRole', {
      assumedBy: new iam.ServicePrincipal('redshift.amazonaws.com'),
    }),
    warehouse: new RedshiftWarehouse(stack, 'Warehouse', { endpoint, database: 'analytics' }),
    ...(typeof props === 'function' ? props(stack) : props),
  });
  return { stack, backfill };
}

const CLUSTER: RedshiftEndpoint = {
  kind: 'cluster',
  host: 'prod.abc123.us-east-1.redshift.amazonaws.com',
  clusterIdentifier: 'prod',
  region: 'us-east-1',
};

describe('Backfill construct', () => {
  it('synthesizes a definition that asl-validator accepts', () => {
    const result = aslValidator(structuredClone(synthesized.definition), {
      checkPaths: true,
      checkArn: true,
    });
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('logs every event without execution data and traces with X-Ray', () => {
    Template.fromJSON(synthesized.template).hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false, Destinations: Match.anyValue() },
      TracingConfiguration: { Enabled: true },
    });
    expect(synthesized.definition.QueryLanguage).toBe('JSONPath');
  });

  it('reads the chunk list from S3 in a Distributed Map that tolerates failed chunks and writes results to S3', () => {
    const map = states[S.chunks]!;
    expect(map).toMatchObject({
      Type: 'Map',
      MaxConcurrency: 2,
      ToleratedFailurePercentage: 100,
      ItemReader: {
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSON' },
        Parameters: { Bucket: 'local-staging', 'Key.$': '$.plan.chunksKey' },
      },
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } },
      ResultWriter: {
        Resource: 'arn:aws:states:::s3:putObject',
        Parameters: { Bucket: 'local-staging', Prefix: 'backfill/map-results' },
      },
    });
    // Only a summary travels through the state: the plan Lambda returns the list's key.
    expect(states[S.plan]).toMatchObject({ ResultSelector: { 'plan.$': '$' } });
    expect(states[S.plan]?.ResultPath).toBeUndefined();
  });

  it('loads through the Data API directly, with the prepared statements and the load id as ClientToken', () => {
    expect(chunkStates[S.load]).toMatchObject({
      Type: 'Task',
      Resource: 'arn:aws:states:::aws-sdk:redshiftdata:batchExecuteStatement',
      Parameters: {
        'Sqls.$': '$.prepared.statements',
        Database: 'dev',
        ClusterIdentifier: 'local',
        SecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:local-redshift-AbCdEf',
        'ClientToken.$': '$.prepared.loadId',
      },
      Next: S.waitForLoad,
    });
    expect(chunkStates[S.describeLoad]).toMatchObject({
      Resource: 'arn:aws:states:::aws-sdk:redshiftdata:describeStatement',
      Parameters: { 'Id.$': '$.load.Id' },
    });
    expect(chunkStates[S.loadStatus]).toMatchObject({
      Type: 'Choice',
      Choices: [
        { Variable: '$.statement.Status', StringEquals: 'FINISHED', Next: S.chunkLoaded },
        { Variable: '$.statement.Status', StringEquals: 'FAILED', Next: S.readLoadError },
        { Variable: '$.statement.Status', StringEquals: 'ABORTED', Next: S.retryAborted },
      ],
      // Every further check is counted; after the last one the chunk fails (backfill-chunk.test.ts).
      Default: S.countCheck,
    });
    expect(chunkStates[S.waitedTooLong]).toMatchObject({
      Choices: [{ Variable: '$.poll.count', NumericGreaterThanEquals: 480, Next: S.loadWaitExceeded }],
      Default: S.waitForLoad,
    });
    expect(chunkStates[S.anythingToLoad]).toMatchObject({
      Choices: [{ Variable: '$.prepared.empty', BooleanEquals: true, Next: S.chunkEmpty }],
      Default: S.load,
    });
  });

  it('retries busy or throttled Data API calls and Lambda service errors with full jitter', () => {
    for (const name of [S.load, S.describeLoad, S.readLoadError]) {
      expect(chunkStates[name]?.Retry).toEqual([
        expect.objectContaining({
          ErrorEquals: expect.arrayContaining([
            'RedshiftData.ThrottlingException',
            'RedshiftData.ActiveStatementsExceededException',
          ]),
          JitterStrategy: 'FULL',
        }),
      ]);
    }
    for (const retry of [states[S.plan]?.Retry, chunkStates[S.prepare]?.Retry, states[S.summarize]?.Retry]) {
      expect(retry?.[0]).toMatchObject({
        ErrorEquals: expect.arrayContaining(['Lambda.ServiceException']),
        JitterStrategy: 'FULL',
      });
    }
  });

  it("decides about a failed load with the loader's rules, in order, a bounded number of times", () => {
    const choice = chunkStates[S.retryLoad] as { Choices: Record<string, unknown>[]; Default: string };
    expect(choice.Default).toBe(S.loadFailed);
    // First branch: the first rule (KMS, systemic) ends the chunk; no attempt count involved.
    expect(choice.Choices[0]).toMatchObject({ Next: S.loadFailed });
    // Every retry is bounded by the attempt count.
    for (const branch of choice.Choices.filter((candidate) => candidate.Next === S.nextAttempt)) {
      expect(JSON.stringify(branch)).toContain('"Variable":"$.attempt","NumericLessThan":4');
    }
    expect(chunkStates[S.retryAborted]).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.attempt', NumericLessThan: 4, Next: S.nextAttempt }],
      Default: S.loadAborted,
    });
  });

  it('ends every chunk in an outcome: each task that can fail is caught into a failed outcome', () => {
    for (const name of [S.prepare, S.load, S.describeLoad, S.readLoadError]) {
      expect(chunkStates[name]?.Catch).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: S.chunkFailed },
      ]);
    }
    const ends = Object.entries(chunkStates)
      .filter(([, state]) => state.End === true)
      .map(([name]) => name);
    expect(ends.sort()).toEqual(
      [S.chunkEmpty, S.chunkFailed, S.loadAborted, S.loadFailed, S.chunkLoaded, S.loadWaitExceeded].sort(),
    );
  });

  it('fails with clear errors: bad input at once, failed chunks after the summary', () => {
    expect(states[S.plan]?.Catch).toEqual([
      { ErrorEquals: ['BackfillInputError'], ResultPath: '$.inputError', Next: S.readInputError },
    ]);
    expect(states[S.rejectInput]).toMatchObject({
      Type: 'Fail',
      Error: 'BackfillInputError',
      CausePath: '$.error.errorMessage',
    });
    expect(states[S.anyChunkFailed]).toMatchObject({
      Choices: [{ Variable: '$.summary.failed', NumericGreaterThan: 0, Next: S.failed }],
      Default: S.succeeded,
    });
    expect(states[S.failed]).toMatchObject({
      Type: 'Fail',
      Error: 'BackfillChunksFailed',
      CausePath: '$.summary.message',
    });
  });

  it('lets the state machine start loads on its cluster only and read only its own statements', () => {
    const { stack, backfill } = stackWith(CLUSTER);
    const template = Template.fromStack(stack);
    const roleId = stack.resolve((backfill.stateMachine.role as iam.Role).roleId);
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [stack.resolve((backfill.stateMachine.role as iam.Role).roleName)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: 'redshift-data:BatchExecuteStatement',
            Effect: 'Allow',
            Resource: {
              'Fn::Join': [
                '',
                ['arn:', { Ref: 'AWS::Partition' }, ':redshift:us-east-1:123456789012:cluster:prod'],
              ],
            },
          },
          {
            Action: 'redshift-data:DescribeStatement',
            Effect: 'Allow',
            Resource: '*',
            Condition: {
              StringLike: {
                'redshift-data:statement-owner-iam-userid': { 'Fn::Join': ['', [roleId, ':*']] },
              },
            },
          },
          Match.objectLike({ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'] }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'states:StartExecution' })]) },
    });
  });

  it('runs its Lambdas with the settings they need and the Data API only where it is used', () => {
    const { stack } = stackWith(CLUSTER);
    const template = Template.fromStack(stack);
    const common = {
      PROJECT_ID: '187520',
      FEEDS: 'events,merge_ids',
      WAREHOUSE_SCHEMA: 'amplitude',
      POWERTOOLS_SERVICE_NAME: 'backfill',
    };
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Backfill: stages one chunk'),
      Runtime: 'nodejs22.x',
      Timeout: 900,
      Environment: {
        Variables: Match.objectLike({
          ...common,
          LANDING_BUCKET: Match.anyValue(),
          COPY_ROLE_ARN: Match.anyValue(),
        }),
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Backfill: writes the report'),
      Environment: {
        Variables: Match.objectLike({
          ...common,
          REDSHIFT_CLUSTER_IDENTIFIER: 'prod',
          REDSHIFT_DATABASE: 'analytics',
        }),
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Backfill: checks the requested range'),
      Environment: { Variables: Match.objectLike({ ...common, REDSHIFT_SECRET_ARN: Match.absent() }) },
    });
  });

  it('fails a chunk at once when its prepare step throws, e.g. ExportApiNotConfiguredError: only Lambda service errors are retried', () => {
    const retried = (chunkStates[S.prepare]?.Retry ?? []).flatMap((retry) => retry.ErrorEquals);
    expect(retried.length).toBeGreaterThan(0);
    for (const error of retried) expect(error).toMatch(/^Lambda\.\w+Exception$/);
    expect(chunkStates[S.prepare]?.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: S.chunkFailed },
    ]);
    // The chunk's outcome carries the error's name and the Lambda's message as its cause.
    expect(chunkStates[S.chunkFailed]).toMatchObject({
      Type: 'Pass',
      Parameters: { status: 'failed', 'error.$': '$.failure.Error', 'cause.$': '$.failure.Cause' },
      End: true,
    });
  });

  it('with the Export API connector, lets the prepare step read its secret, write below the landing prefix and use 8 GiB of /tmp', () => {
    const secretArn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:amplitude-export-api-AbCdEf';
    /** The prepare function's properties and the resources its role may do `action` on. */
    const prepareOf = (props: Parameters<typeof stackWith>[1]) => {
      const { stack, backfill } = stackWith(CLUSTER, props);
      const template = Template.fromStack(stack);
      const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
        stack.getLogicalId(construct.node.defaultChild as never);
      const roleId = logicalId(backfill.prepareFunction.role);
      const statements = Object.values(template.findResources('AWS::IAM::Policy'))
        .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(`"${roleId}"`))
        .flatMap(
          (policy) => policy.Properties.PolicyDocument.Statement as { Action: unknown; Resource: unknown }[],
        );
      return {
        properties: template.toJSON().Resources[logicalId(backfill.prepareFunction.function)].Properties,
        allowed: (action: string) =>
          statements
            .filter((statement) => [statement.Action].flat().includes(action))
            .flatMap((statement) => [statement.Resource].flat()),
        landingArn: { 'Fn::GetAtt': [logicalId(stack.node.findChild('Landing')), 'Arn'] },
      };
    };

    const off = prepareOf({});
    expect(off.properties.EphemeralStorage).toBeUndefined();
    expect(off.properties.Environment.Variables.EXPORT_API_SECRET_ARN).toBeUndefined();
    expect(JSON.stringify(off.allowed('s3:PutObject'))).not.toContain(JSON.stringify(off.landingArn));

    const on = prepareOf((stack) => ({
      settings: { ...SETTINGS, landingPrefix: 'amplitude/' },
      exportApi: {
        secret: secretsmanager.Secret.fromSecretCompleteArn(stack, 'ExportApiSecret', secretArn),
        region: 'eu',
      },
    }));
    expect(on.properties.EphemeralStorage).toEqual({ Size: 8192 });
    expect(on.properties.Environment.Variables).toMatchObject({
      EXPORT_API_SECRET_ARN: secretArn,
      EXPORT_API_REGION: 'eu',
    });
    for (const action of ['s3:PutObject', 's3:DeleteObject']) {
      expect(on.allowed(action)).toContainEqual({ 'Fn::Join': ['', [on.landingArn, '/amplitude/*']] });
    }
    expect(on.allowed('secretsmanager:GetSecretValue')).toEqual([secretArn]);
  });

  it('names the workgroup for Redshift Serverless', () => {
    const { stack } = stackWith({
      kind: 'serverless',
      host: 'wg.123456789012.us-east-1.redshift-serverless.amazonaws.com',
      workgroupName: 'wg',
      accountId: '123456789012',
      region: 'us-east-1',
    });
    const [machine] = Object.values(
      Template.fromStack(stack).findResources('AWS::StepFunctions::StateMachine'),
    );
    const definition = JSON.stringify(machine?.Properties.DefinitionString);
    expect(definition).toContain('\\"WorkgroupName\\":\\"wg\\"');
    expect(definition).not.toContain('ClusterIdentifier');
  });

  it('takes its maximum concurrency from props and refuses nonsense', () => {
    const { stack } = stackWith(CLUSTER, { maxConcurrency: 5 });
    const [machine] = Object.values(
      Template.fromStack(stack).findResources('AWS::StepFunctions::StateMachine'),
    );
    expect(JSON.stringify(machine?.Properties.DefinitionString)).toContain('\\"MaxConcurrency\\":5');
    expect(() => stackWith(CLUSTER, { maxConcurrency: 0 })).toThrow(
      /maxConcurrency must be a whole number from 1 to 1000, got 0/,
    );
  });
});
