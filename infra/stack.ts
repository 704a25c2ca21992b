import { Aws, CfnOutput, Duration, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { RedshiftEndpoint } from '#shared/config/redshift-host.ts';
import { STACK_OUTPUTS } from '#shared/config/stack-outputs.ts';
import type { DeploymentConfig } from './config.ts';
import { Backfill } from './constructs/backfill.ts';
import { ExportApi, type ExportApiAccess } from './constructs/export-api.ts';
import { Monitoring } from './constructs/monitoring.ts';
import { EncryptedQueueDestination, type ExportSettings, Pipeline } from './constructs/pipeline.ts';
import { RedshiftWarehouse } from './constructs/redshift-warehouse.ts';
import { PipelineStorage } from './constructs/storage.ts';

export interface AmplitudeRedshiftExportStackProps extends StackProps {
  /** The validated deployment configuration (`parseContext`). */
  readonly config: DeploymentConfig;
}

/** Deploys the whole export: storage, pipeline, backfill, monitoring, and what to do next. */
export class AmplitudeRedshiftExportStack extends Stack {
  readonly storage: PipelineStorage;
  readonly warehouse: RedshiftWarehouse;
  readonly pipeline: Pipeline;
  readonly backfill: Backfill;
  readonly monitoring: Monitoring;
  /** The live Export API pull; undefined unless `exportApiSecretArn` is set. */
  readonly exportApi?: ExportApi;

  constructor(scope: Construct, id: string, props: AmplitudeRedshiftExportStackProps) {
    super(scope, id, {
      description: `Amplitude project ${props.config.projectId} export to Amazon Redshift (amplitude-redshift-export)`,
      ...props,
    });
    const { config } = props;
    const { redshift } = config;

    this.storage = new PipelineStorage(this, 'Storage', {
      ...(config.landingBucketName ? { landingBucketName: config.landingBucketName } : {}),
      stagingRetentionDays: config.stagingRetentionDays,
      quarantineRetentionDays: config.quarantineRetentionDays,
      endpoint: redshift.endpoint,
      port: redshift.port,
      database: redshift.database,
      user: redshift.user,
      ...(redshift.secretArn ? { secretArn: redshift.secretArn } : {}),
    });
    this.warehouse = new RedshiftWarehouse(this, 'Warehouse', {
      endpoint: redshift.endpoint,
      database: redshift.database,
    });
    const exportSettings: ExportSettings = {
      projectId: config.projectId,
      ...(config.orgId ? { orgId: config.orgId } : {}),
      feeds: config.feeds,
      schema: config.schema,
      landingPrefix: config.landingPrefix,
    };
    this.pipeline = new Pipeline(this, 'Pipeline', {
      settings: exportSettings,
      landingBucket: this.storage.landingBucket,
      stagingBucket: this.storage.stagingBucket,
      key: this.storage.key,
      secret: this.storage.secret,
      copyRole: this.storage.copyRole,
      warehouse: this.warehouse,
      batchInterval: Duration.minutes(config.batchIntervalMinutes),
      loadInterval: Duration.minutes(config.loadIntervalMinutes),
      verifyOnDeploy: config.verifyOnDeploy,
    });

    let exportApiAccess: ExportApiAccess | undefined;
    if (config.exportApi) {
      exportApiAccess = {
        // The customer's secret, by its complete ARN, so grants name exactly that secret.
        secret: secretsmanager.Secret.fromSecretCompleteArn(
          this,
          'ExportApiSecret',
          config.exportApi.secretArn,
        ),
        region: config.exportApi.region,
      };
      this.exportApi = new ExportApi(this, 'ExportApi', {
        ...exportApiAccess,
        projectId: config.projectId,
        landingPrefix: config.landingPrefix,
        landingBucket: this.storage.landingBucket,
        stagingBucket: this.storage.stagingBucket,
        onFailure: new EncryptedQueueDestination(this.pipeline.deadLetterQueue, this.storage.key),
        deadLetterQueue: this.pipeline.deadLetterQueue,
        interval: Duration.minutes(config.exportApi.intervalMinutes),
        delayHours: config.exportApi.delayHours,
        lookbackDays: config.exportApi.lookbackDays,
      });
    }

    this.backfill = new Backfill(this, 'Backfill', {
      settings: exportSettings,
      landingBucket: this.storage.landingBucket,
      stagingBucket: this.storage.stagingBucket,
      key: this.storage.key,
      secret: this.storage.secret,
      copyRole: this.storage.copyRole,
      warehouse: this.warehouse,
      maxConcurrency: config.backfillMaxConcurrency,
      ...(exportApiAccess ? { exportApi: exportApiAccess } : {}),
    });

    this.monitoring = new Monitoring(this, 'Monitoring', {
      feeds: config.feeds,
      key: this.storage.key,
      batcher: this.pipeline.batcher.function,
      loader: this.pipeline.loader.function,
      deadLetterQueue: this.pipeline.deadLetterQueue,
      backfill: this.backfill.stateMachine,
      ...(this.exportApi
        ? { exportApi: { function: this.exportApi.pull.function, interval: this.exportApi.interval } }
        : {}),
      ...(config.alarmEmail ? { alarmEmail: config.alarmEmail } : {}),
    });

    this.outputs(config);
  }

  private outputs(config: DeploymentConfig): void {
    const copyRoleArn = this.storage.copyRole.roleArn;
    const consoleUrl = `https://${Aws.REGION}.console.${Aws.URL_SUFFIX}`;
    new CfnOutput(this, STACK_OUTPUTS.stagingBucket, {
      description: 'Bucket with staged batches, manifests, quarantine and backfill reports',
      value: this.storage.stagingBucket.bucketName,
    });
    new CfnOutput(this, 'LandingBucketName', {
      description: "Bucket the pipeline reads Amplitude's export files from",
      value: this.storage.landingBucket.bucketName,
    });
    new CfnOutput(this, STACK_OUTPUTS.secretArn, {
      description: this.storage.secretCreated
        ? 'Secret with the Redshift credentials: replace the generated password with the real one and delete the passwordIsPlaceholder key'
        : 'Secret with the Redshift credentials (yours)',
      value: this.storage.secret.secretArn,
    });
    new CfnOutput(this, 'CopyRoleArn', {
      description: 'Role Redshift assumes for COPY; associate it with your cluster or namespace',
      value: copyRoleArn,
    });
    new CfnOutput(this, 'AssociateCopyRoleCommand', {
      description: associateDescription(config.redshift.endpoint),
      value: associateCommand(config.redshift.endpoint, copyRoleArn),
    });
    new CfnOutput(this, 'SetupSqlCommand', {
      description: 'Prints the SQL that creates the schema, tables and grants; run it as a superuser',
      value: Fn.join(' ', [
        'npx redshift-export setup-sql --dialect redshift',
        `--schema ${config.schema}`,
        `--project-id ${config.projectId}`,
        `--user ${config.redshift.user}`,
        `--database ${config.redshift.database}`,
        `--feeds ${config.feeds.join(',')}`,
        '--copy-role-arn',
        copyRoleArn,
      ]),
    });
    new CfnOutput(this, 'VerifyCommand', {
      description: 'Checks the deployment end to end and prints what to fix',
      value: Fn.join('', [
        'aws lambda invoke --region ',
        Aws.REGION,
        ' --function-name ',
        this.pipeline.verify.function.functionName,
        ' --cli-read-timeout 300 verify.json && cat verify.json',
      ]),
    });
    new CfnOutput(this, STACK_OUTPUTS.backfillStateMachine, {
      description: 'Start a backfill with input {"start":"2026-01-01","end":"2026-01-31"}',
      value: this.backfill.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, 'BackfillConsoleUrl', {
      description: 'The backfill state machine in the Step Functions console ("Start execution")',
      value: `${consoleUrl}/states/home?region=${Aws.REGION}#/statemachines/view/${this.backfill.stateMachine.stateMachineArn}`,
    });
    new CfnOutput(this, 'DashboardUrl', {
      description: 'CloudWatch dashboard of the export',
      value: `${consoleUrl}/cloudwatch/home?region=${Aws.REGION}#dashboards:name=${this.monitoring.dashboard.dashboardName}`,
    });
    new CfnOutput(this, STACK_OUTPUTS.verifyFunction, {
      description: 'Verify function (`npx redshift-export verify --stack <this stack>` invokes it)',
      value: this.pipeline.verify.function.functionName,
    });
    new CfnOutput(this, STACK_OUTPUTS.database, {
      description: 'Redshift database the pipeline loads into',
      value: config.redshift.database,
    });
    const endpoint = config.redshift.endpoint;
    if (endpoint.kind === 'cluster') {
      new CfnOutput(this, STACK_OUTPUTS.clusterIdentifier, {
        description: 'Provisioned cluster the Data API statements run on',
        value: endpoint.clusterIdentifier,
      });
    } else {
      new CfnOutput(this, STACK_OUTPUTS.workgroupName, {
        description: 'Serverless workgroup the Data API statements run on',
        value: endpoint.workgroupName,
      });
    }
    new CfnOutput(this, STACK_OUTPUTS.schema, { description: 'Schema of the tables', value: config.schema });
    new CfnOutput(this, STACK_OUTPUTS.projectId, {
      description: 'Amplitude project ID',
      value: config.projectId,
    });
    new CfnOutput(this, STACK_OUTPUTS.feeds, {
      description: 'Feeds exported',
      value: config.feeds.join(','),
    });
    // `forget` states how long staged files may still hold an erased person's rows.
    new CfnOutput(this, STACK_OUTPUTS.stagingRetentionDays, {
      description: 'Days the staging lifecycle keeps staged parts and loaded manifests',
      value: String(config.stagingRetentionDays),
    });
    new CfnOutput(this, STACK_OUTPUTS.quarantineRetentionDays, {
      description: 'Days the staging lifecycle keeps quarantine records and failed manifests',
      value: String(config.quarantineRetentionDays),
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'SNS topic the alarms publish to; subscribe more endpoints here',
      value: this.monitoring.topic.topicArn,
    });
    if (this.exportApi) {
      new CfnOutput(this, 'ExportApiPullFunctionName', {
        description:
          "Export API pull, run on its schedule; invoke it to pull due hours now. Backfill older hours with 'npx redshift-export backfill --source export-api'",
        value: this.exportApi.pull.function.functionName,
      });
    }
  }
}

function associateDescription(endpoint: RedshiftEndpoint): string {
  return endpoint.kind === 'cluster'
    ? 'Associates the COPY role with the cluster (adds it to the roles already there)'
    : `Associates the COPY role with the namespace of workgroup ${endpoint.workgroupName}. update-namespace REPLACES the role list: ` +
        'put every role already associated (get-namespace shows them) after the COPY role, and keep your current default role';
}

function associateCommand(endpoint: RedshiftEndpoint, roleArn: string): string {
  if (endpoint.kind === 'cluster') {
    return Fn.join(' ', [
      'aws redshift modify-cluster-iam-roles',
      `--region ${endpoint.region}`,
      `--cluster-identifier ${endpoint.clusterIdentifier}`,
      '--add-iam-roles',
      roleArn,
    ]);
  }
  const namespace = `$(aws redshift-serverless get-workgroup --region ${endpoint.region} --workgroup-name ${endpoint.workgroupName} --query workgroup.namespaceName --output text)`;
  return Fn.join(' ', [
    'aws redshift-serverless update-namespace',
    `--region ${endpoint.region}`,
    `--namespace-name ${namespace}`,
    '--iam-roles',
    roleArn,
    '<ROLES_ALREADY_ASSOCIATED>',
    '--default-iam-role-arn <CURRENT_DEFAULT_ROLE_OR_THE_COPY_ROLE>',
  ]);
}
