import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { PREFIXES } from '#shared/base/staging-keys.ts';
import type { RedshiftEndpoint } from '#shared/config/redshift-host.ts';
import { acknowledge, acknowledgeWildcardResource } from '../nag.ts';

/** Key of the created secret that says its password is still the generated placeholder. */
export const PLACEHOLDER_SECRET_KEY = 'passwordIsPlaceholder';

export interface PipelineStorageProps {
  /** Existing bucket Amplitude's S3 export writes to. @default - a new, hardened bucket */
  readonly landingBucketName?: string;
  /** Days staged parts, loaded and combined manifests are kept. */
  readonly stagingRetentionDays: number;
  /** Days quarantined records, failed manifests, backfill reports and access logs are kept. */
  readonly quarantineRetentionDays: number;
  /** The warehouse, for the created secret's fields and the COPY role's trust. */
  readonly endpoint: RedshiftEndpoint;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  /** Existing Secrets Manager secret with the credentials. @default - a new secret with a placeholder password */
  readonly secretArn?: string;
}

/**
 * The stateful part: the KMS key, the buckets, the secret and the COPY role (a role the
 * customer associates with the cluster by hand, so it must outlive changes elsewhere).
 * Buckets and the key are retained when the stack is deleted: they may hold data not yet
 * loaded, and the key decrypts it.
 */
export class PipelineStorage extends Construct {
  readonly key: kms.Key;
  readonly accessLogsBucket: s3.Bucket;
  readonly stagingBucket: s3.Bucket;
  readonly landingBucket: s3.IBucket;
  readonly secret: secretsmanager.ISecret;
  /** True when this construct created the secret (its password is a placeholder until replaced). */
  readonly secretCreated: boolean;
  /** Role Redshift assumes for COPY: read-only on staged parts and manifests. */
  readonly copyRole: iam.Role;

  constructor(scope: Construct, id: string, props: PipelineStorageProps) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description:
        'Encrypts staged Amplitude data, the Redshift secret, the dead-letter queue and alarm topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // S3 server access logs can only be delivered to a bucket with S3-managed encryption.
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        { id: 'expire-access-logs', expiration: Duration.days(props.quarantineRetentionDays) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.stagingBucket = new s3.Bucket(this, 'Staging', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      // One data key per bucket instead of a KMS call per object: the pipeline writes many parts.
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'staging/',
      lifecycleRules: stagingLifecycle(props.stagingRetentionDays, props.quarantineRetentionDays),
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.landingBucket =
      props.landingBucketName === undefined
        ? new s3.Bucket(this, 'Landing', {
            // S3-managed keys: Amplitude's export role writes here and cannot use our KMS key.
            encryption: s3.BucketEncryption.S3_MANAGED,
            blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
            enforceSSL: true,
            minimumTLSVersion: 1.2,
            objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            serverAccessLogsBucket: this.accessLogsBucket,
            serverAccessLogsPrefix: 'landing/',
            lifecycleRules: [
              { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
            ],
            removalPolicy: RemovalPolicy.RETAIN,
          })
        : s3.Bucket.fromBucketName(this, 'Landing', props.landingBucketName);

    this.secretCreated = props.secretArn === undefined;
    this.secret =
      props.secretArn === undefined
        ? createdSecret(this, this.key, props)
        : // The complete ARN (config validation requires it), so grants name exactly this secret.
          secretsmanager.Secret.fromSecretCompleteArn(this, 'RedshiftSecret', props.secretArn);

    // Confused-deputy guard: Redshift may assume the role only for this account's cluster or
    // namespace. AWS recommends aws:SourceAccount / aws:SourceArn in the trust policy of a role
    // a service assumes (https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html);
    // Redshift's guide documents no aws:SourceArn value for COPY's AssumeRole (its own example
    // restricts by sts:ExternalId per database user:
    // https://docs.aws.amazon.com/redshift/latest/mgmt/authorizing-redshift-service-database-users.html),
    // so the account is the condition. verify's COPY check shows at once if Redshift refuses.
    const sameAccount = { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } };
    this.copyRole = new iam.Role(this, 'CopyRole', {
      assumedBy: new iam.ServicePrincipal('redshift.amazonaws.com').withConditions(sameAccount),
      description: 'Assumed by Redshift COPY to read staged Amplitude parts and manifests',
    });
    if (props.endpoint.kind === 'serverless') {
      // Serverless namespaces need both principals in the trust policy.
      this.copyRole.assumeRolePolicy?.addStatements(
        new iam.PolicyStatement({
          actions: ['sts:AssumeRole'],
          principals: [new iam.ServicePrincipal('redshift-serverless.amazonaws.com')],
          conditions: sameAccount,
        }),
      );
    }
    // COPY reads parts and manifests; verify/ holds the test batch the verify check COPYs
    // through this same role. Nothing else of the bucket (quarantine, state) is readable.
    const copyPrefixes = [PREFIXES.staging, PREFIXES.manifests, PREFIXES.verify];
    const readable = copyPrefixes.map((prefix) => this.stagingBucket.arnForObjects(`${prefix}*`));
    this.copyRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadStagedPartsAndManifests',
        actions: ['s3:GetObject'],
        resources: readable,
      }),
    );
    this.copyRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ListStagingBucket',
        actions: ['s3:ListBucket', 's3:GetBucketLocation'],
        resources: [this.stagingBucket.bucketArn],
      }),
    );
    this.key.grantDecrypt(this.copyRole);
    for (const [index, arn] of readable.entries()) {
      acknowledgeWildcardResource(
        this.copyRole,
        arn,
        `COPY reads the objects below "${copyPrefixes[index]}" of the staging bucket, whose keys are made at run time; read-only, one prefix.`,
      );
    }
    acknowledge(
      this.accessLogsBucket,
      'AwsSolutions-S1',
      'This is the server access log bucket of the other buckets; logging it into itself would loop.',
    );
    if (this.secretCreated) {
      acknowledge(
        this.secret,
        'AwsSolutions-SMG4',
        "The secret holds the password of an existing Redshift user that the customer sets; rotating it needs a rotation function with network access to the cluster and would change the user's password behind the customer's back. Customers who want rotation pass their own rotated secret (redshiftSecretArn).",
      );
    }
  }
}

function stagingLifecycle(stagingDays: number, quarantineDays: number): s3.LifecycleRule[] {
  const expire = (id: string, prefix: string, days: number): s3.LifecycleRule => ({
    id,
    prefix,
    expiration: Duration.days(days),
  });
  // `manifests/pending/` and `state/` never expire: they are the work still to do and the
  // record of what was already batched (exactly-once depends on them).
  return [
    expire('expire-staged-parts', PREFIXES.staging, stagingDays),
    expire('expire-loaded-manifests', PREFIXES.loaded, stagingDays),
    expire('expire-copy-manifests', PREFIXES.copy, stagingDays),
    expire('expire-quarantine', PREFIXES.quarantine, quarantineDays),
    expire('expire-failed-manifests', PREFIXES.failed, quarantineDays),
    expire('expire-backfill-reports', PREFIXES.backfill, quarantineDays),
    expire('expire-verify-batches', PREFIXES.verify, 1),
    { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
  ];
}

function createdSecret(scope: Construct, key: kms.IKey, props: PipelineStorageProps): secretsmanager.Secret {
  const fields: Record<string, string | number | boolean> = {
    engine: 'redshift',
    host: props.endpoint.host,
    port: props.port,
    dbname: props.database,
    username: props.user,
    // The Data API checks this against the cluster it is asked to use.
    ...(props.endpoint.kind === 'cluster' ? { dbClusterIdentifier: props.endpoint.clusterIdentifier } : {}),
    // Deleted by the user when they set the real password; verify reports it until then.
    [PLACEHOLDER_SECRET_KEY]: true,
  };
  return new secretsmanager.Secret(scope, 'RedshiftSecret', {
    description: `Credentials of Redshift user ${props.user} for the Amplitude export. Replace the generated password with the real one and delete the ${PLACEHOLDER_SECRET_KEY} key.`,
    encryptionKey: key,
    generateSecretString: {
      secretStringTemplate: JSON.stringify(fields),
      generateStringKey: 'password',
      // Characters Redshift does not allow in passwords.
      excludeCharacters: `'"\\/@ `,
      passwordLength: 32,
    },
  });
}
