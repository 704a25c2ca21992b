import { type CfnTemplate, roleIdOf, TemplateResolver } from './resolve.ts';

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Principal?: unknown;
  readonly Action: string | string[];
  readonly Resource?: string | string[];
  readonly Condition?: Record<string, Record<string, unknown>>;
}

export interface PolicyDocument {
  readonly Version: string;
  readonly Statement: PolicyStatement[];
}

export interface RolePolicies {
  readonly logicalId: string;
  readonly arn: string;
  readonly roleId: string;
  readonly trust: PolicyDocument;
  /** Inline and attached (AWS::IAM::Policy) identity policies, resolved. */
  readonly identity: { readonly name: string; readonly policy: PolicyDocument }[];
  readonly managedPolicyArns: readonly string[];
}

/**
 * Every policy of the template, resolved to concrete ARNs: identity policies per role, and the
 * resource policy in force for a resource ARN (bucket, key, topic, queue, role trust, Lambda
 * function permissions).
 */
export class TemplatePolicies {
  readonly resolver: TemplateResolver;
  readonly roles = new Map<string, RolePolicies>();
  private readonly resourcePolicies = new Map<string, PolicyDocument>();

  constructor(template: CfnTemplate, account: string, region: string, stackName?: string) {
    this.resolver = new TemplateResolver(template, account, region, stackName);
    const r = this.resolver;
    const entries = Object.entries(template.Resources);
    for (const [id, resource] of entries.filter(([, res]) => res.Type === 'AWS::IAM::Role')) {
      const properties = resource.Properties ?? {};
      const inline = (properties.Policies as { PolicyName: string; PolicyDocument: unknown }[]) ?? [];
      const arn = r.getAtt(id, 'Arn');
      this.roles.set(id, {
        logicalId: id,
        arn,
        roleId: roleIdOf(id),
        trust: r.resolve(properties.AssumeRolePolicyDocument) as PolicyDocument,
        identity: inline.map((policy) => ({
          name: policy.PolicyName,
          policy: r.resolve(policy.PolicyDocument) as PolicyDocument,
        })),
        managedPolicyArns: (r.resolve(properties.ManagedPolicyArns ?? []) as string[]) ?? [],
      });
      this.resourcePolicies.set(arn, r.resolve(properties.AssumeRolePolicyDocument) as PolicyDocument);
    }
    for (const [id, resource] of entries) {
      const properties = resource.Properties ?? {};
      switch (resource.Type) {
        case 'AWS::IAM::Policy':
          for (const role of properties.Roles as unknown[]) {
            const roleId = (role as { Ref: string }).Ref;
            this.roles.get(roleId)?.identity.push({
              name: id,
              policy: r.resolve(properties.PolicyDocument) as PolicyDocument,
            });
          }
          break;
        case 'AWS::S3::BucketPolicy':
          this.resourcePolicies.set(
            `arn:aws:s3:::${r.text(properties.Bucket)}`,
            r.resolve(properties.PolicyDocument) as PolicyDocument,
          );
          break;
        case 'AWS::KMS::Key':
          this.resourcePolicies.set(r.getAtt(id, 'Arn'), r.resolve(properties.KeyPolicy) as PolicyDocument);
          break;
        case 'AWS::SNS::TopicPolicy':
          for (const topic of r.resolve(properties.Topics) as string[]) {
            this.resourcePolicies.set(topic, r.resolve(properties.PolicyDocument) as PolicyDocument);
          }
          break;
        case 'AWS::SQS::QueuePolicy':
          for (const queue of properties.Queues as { Ref: string }[]) {
            this.resourcePolicies.set(
              r.getAtt(queue.Ref, 'Arn'),
              r.resolve(properties.PolicyDocument) as PolicyDocument,
            );
          }
          break;
        case 'AWS::Lambda::Permission':
          this.addLambdaPermission(properties);
          break;
      }
    }
  }

  role(logicalId: string): RolePolicies {
    const role = this.roles.get(logicalId);
    if (!role) throw new Error(`The template has no role ${logicalId}.`);
    return role;
  }

  /**
   * The resource policy in force for `arn`: a bucket's for its objects too, a function's for its
   * versions. undefined when the resource has none (Lambda logs, secrets, imported buckets).
   */
  resourcePolicyFor(arn: string): PolicyDocument | undefined {
    const bucket = /^arn:aws:s3:::([^/]+)/.exec(arn);
    if (bucket) return this.resourcePolicies.get(`arn:aws:s3:::${bucket[1]}`);
    return this.resourcePolicies.get(arn.replace(/^(arn:aws:lambda:[^:]+:\d+:function:[^:]+):.*$/, '$1'));
  }

  /** AWS::Lambda::Permission rows become the statements of the function's resource policy. */
  private addLambdaPermission(properties: Record<string, unknown>): void {
    const r = this.resolver;
    const functionArn = r.text(properties.FunctionName);
    const principal = r.text(properties.Principal);
    const condition: Record<string, Record<string, unknown>> = {};
    if (properties.SourceArn) condition.ArnLike = { 'aws:SourceArn': r.text(properties.SourceArn) };
    if (properties.SourceAccount) {
      condition.StringEquals = { 'aws:SourceAccount': r.text(properties.SourceAccount) };
    }
    const existing = this.resourcePolicies.get(functionArn) ?? { Version: '2012-10-17', Statement: [] };
    existing.Statement.push({
      Effect: 'Allow',
      Principal: principal.endsWith('.amazonaws.com') ? { Service: principal } : { AWS: principal },
      Action: r.text(properties.Action),
      Resource: functionArn,
      ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
    });
    this.resourcePolicies.set(functionArn, existing);
  }
}
