import { Arn, ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import type { RedshiftEndpoint } from '#shared/config/redshift-host.ts';
import { acknowledge, acknowledgeWildcardResource } from '../nag.ts';

/** IAM's policy variable for the caller (`<role id>:<session name>` for a role session). */
const CALLER_USERID = ['$', '{aws:userid}'].join('');

// The construct id of the one provider function CDK creates for every AwsCustomResource of a stack.
const AWS_CUSTOM_RESOURCE_UUID = '679f53fa-c002-430c-b0da-5b7982bd2287';

/**
 * What a construct needs to run statements in the warehouse and COPY from staging: shared by
 * `Pipeline` and `Backfill`, which load through the same Data API calls and the same role.
 */
export interface WarehouseAccess {
  /** Secret with the Redshift credentials the Data API uses. */
  readonly secret: secretsmanager.ISecret;
  /** Role Redshift assumes for COPY (named in the COPY statement). */
  readonly copyRole: iam.IRole;
  /** The cluster or workgroup and database the Data API runs statements on. */
  readonly warehouse: RedshiftWarehouse;
}

export interface RedshiftWarehouseProps {
  /** The cluster or workgroup, from `parseRedshiftHost`. */
  readonly endpoint: RedshiftEndpoint;
  /** Database the pipeline loads into. */
  readonly database: string;
}

/**
 * The Redshift the Data API talks to, and the IAM statements that allow it: statements run on
 * this cluster or workgroup only, and statement reads are limited to the caller's own.
 *
 * A Serverless workgroup ARN ends in the workgroup's id, not its name, and the host only
 * names it. So for Serverless the ARN is looked up once at deploy time (GetWorkgroup); that
 * lookup is the only thing allowed on every workgroup, and it only reads.
 */
export class RedshiftWarehouse extends Construct {
  readonly endpoint: RedshiftEndpoint;
  readonly database: string;
  /** `arn:...:redshift:...:cluster:<id>` or `arn:...:redshift-serverless:...:workgroup/<uuid>`. */
  readonly arn: string;

  constructor(scope: Construct, id: string, props: RedshiftWarehouseProps) {
    super(scope, id);
    this.endpoint = props.endpoint;
    this.database = props.database;
    const stack = Stack.of(this);
    if (props.endpoint.kind === 'cluster') {
      this.arn = stack.formatArn({
        service: 'redshift',
        region: props.endpoint.region,
        resource: 'cluster',
        resourceName: props.endpoint.clusterIdentifier,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
      return;
    }
    const anyWorkgroup = Arn.format(
      {
        service: 'redshift-serverless',
        region: props.endpoint.region,
        account: props.endpoint.accountId,
        resource: 'workgroup',
        resourceName: '*',
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      },
      stack,
    );
    // Our own role and log group instead of the managed AWSLambdaBasicExecutionRole, which
    // may write to every log group of the account.
    const logGroup = new logs.LogGroup(this, 'WorkgroupLookupLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
    });
    const role = new iam.Role(this, 'WorkgroupLookupRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Looks up the ARN of the Redshift Serverless workgroup once per deploy',
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    const lookup = new cr.AwsCustomResource(this, 'WorkgroupLookup', {
      onUpdate: {
        service: 'redshift-serverless',
        action: 'GetWorkgroup',
        parameters: { workgroupName: props.endpoint.workgroupName },
        physicalResourceId: cr.PhysicalResourceId.of(props.endpoint.workgroupName),
        outputPaths: ['workgroup.workgroupArn'],
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['redshift-serverless:GetWorkgroup'], resources: [anyWorkgroup] }),
      ]),
      role,
      logGroup,
      memorySize: 256,
      installLatestAwsSdk: false,
    });
    acknowledgeWildcardResource(
      lookup,
      anyWorkgroup,
      'GetWorkgroup is authorized on the workgroup ARN, which ends in an id the host does not reveal; this read-only lookup is what finds that id, so the Data API grants can name the one workgroup exactly.',
    );
    const singleton = stack.node.tryFindChild(`AWS${AWS_CUSTOM_RESOURCE_UUID.replaceAll('-', '')}`);
    if (!singleton)
      throw new Error(
        'The AwsCustomResource provider function was not found; cdk-nag acknowledgments need updating.',
      );
    const deployTimeOnly =
      "CDK's AwsCustomResource provider runs only while CloudFormation deploys (one GetWorkgroup call); CloudFormation reports its failure and rolls back, so there is no asynchronous invocation to catch or trace.";
    acknowledge(singleton, 'Serverless-LambdaDLQ', deployTimeOnly);
    acknowledge(singleton, 'Serverless-LambdaTracing', deployTimeOnly);
    this.arn = lookup.getResponseField('workgroup.workgroupArn');
  }

  /** Running statements on this target, and reading and cancelling the caller's own statements. */
  grantDataApi(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['redshift-data:ExecuteStatement', 'redshift-data:BatchExecuteStatement'],
      resourceArns: [this.arn],
    });
    this.grantOwnStatements(grantee);
  }

  /**
   * DescribeStatement, GetStatementResult and CancelStatement have no resource type (IAM
   * requires `*`); the statement-owner condition limits them to statements this same
   * identity submitted. `aws:userid` of a role session is `<role id>:<session name>`, so
   * only the same role (and session name) that submitted a statement can read it.
   */
  grantOwnStatements(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'redshift-data:DescribeStatement',
          'redshift-data:GetStatementResult',
          'redshift-data:CancelStatement',
        ],
        resources: ['*'],
        conditions: { StringEquals: { 'redshift-data:statement-owner-iam-userid': CALLER_USERID } },
      }),
    );
  }
}
