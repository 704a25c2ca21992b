/**
 * Turns the synthesized CloudFormation template into the concrete values a deployed stack would
 * have, for one fixed account and region: every `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`,
 * `Fn::Select` and `Fn::Split` in a policy becomes a plain string, so an IAM evaluator can match
 * it against request ARNs. Physical names are made from logical ids (deterministic, unique per
 * template); what matters to IAM is the ARN shape of each resource type, which follows the
 * service's documented format.
 */

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

export interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
}

/** The UUID CloudFormation gives the stack, fixed here. */
export const STACK_UUID = '0a1b2c3d-4e5f-6789-abcd-ef0123456789';

/** The Serverless workgroup id the stack looks up at deploy time (GetWorkgroup), fixed here. */
export const LOOKED_UP_WORKGROUP_ID = '0f0e0d0c-0b0a-4909-8807-060504030201';

export class TemplateResolver {
  readonly partition = 'aws';

  constructor(
    readonly template: CfnTemplate,
    readonly account: string,
    readonly region: string,
    readonly stackName = 'AmplitudeRedshiftExport',
  ) {}

  resource(logicalId: string): CfnResource {
    const resource = this.template.Resources[logicalId];
    if (!resource) throw new Error(`The template has no resource ${logicalId}.`);
    return resource;
  }

  /** Every intrinsic in `value` replaced by its concrete value. */
  resolve(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((item) => this.resolve(item));
    if (value === null || typeof value !== 'object') return value;
    const node = value as Record<string, unknown>;
    const keys = Object.keys(node);
    if (keys.length === 1) {
      const [key] = keys as [string];
      const argument = node[key];
      switch (key) {
        case 'Ref':
          return this.ref(argument as string);
        case 'Fn::GetAtt': {
          const [id, attribute] =
            typeof argument === 'string'
              ? (argument.split(/\.(.*)/s) as [string, string])
              : (argument as [string, string]);
          return this.getAtt(id, attribute);
        }
        case 'Fn::Join': {
          const [delimiter, parts] = argument as [string, unknown[]];
          return (this.resolve(parts) as unknown[]).map(String).join(delimiter);
        }
        case 'Fn::Sub':
          return this.sub(argument);
        case 'Fn::Select': {
          const [index, list] = argument as [unknown, unknown];
          return (this.resolve(list) as unknown[])[Number(this.resolve(index))];
        }
        case 'Fn::Split': {
          const [delimiter, text] = argument as [string, unknown];
          return String(this.resolve(text)).split(delimiter);
        }
        default:
          if (key.startsWith('Fn::')) throw new Error(`Cannot resolve ${key} (not used in policies).`);
      }
    }
    return Object.fromEntries(keys.map((key) => [key, this.resolve(node[key])]));
  }

  /** `resolve` for a value that must end up a string. */
  text(value: unknown): string {
    const resolved = this.resolve(value);
    if (typeof resolved !== 'string') throw new Error(`Expected a string, got ${JSON.stringify(resolved)}.`);
    return resolved;
  }

  ref(id: string): string {
    switch (id) {
      case 'AWS::AccountId':
        return this.account;
      case 'AWS::Region':
        return this.region;
      case 'AWS::Partition':
        return this.partition;
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackName':
        return this.stackName;
      case 'AWS::StackId':
        return `arn:${this.partition}:cloudformation:${this.region}:${this.account}:stack/${this.stackName}/${STACK_UUID}`;
    }
    const { Type: type, Properties: properties = {} } = this.resource(id);
    switch (type) {
      case 'AWS::SNS::Topic':
      case 'AWS::SecretsManager::Secret':
      case 'AWS::StepFunctions::StateMachine':
        return this.getAtt(id, 'Arn');
      case 'AWS::SQS::Queue':
        return `https://sqs.${this.region}.amazonaws.com/${this.account}/${this.nameOf(id)}`;
      case 'AWS::KMS::Key':
        return keyIdOf(id);
      case 'AWS::Logs::LogGroup':
        return (properties.LogGroupName as string | undefined) ?? `/generated/${id}`;
      default:
        return this.nameOf(id);
    }
  }

  getAtt(id: string, attribute: string): string {
    const { Type: type } = this.resource(id);
    const { partition: p, region: r, account: a } = this;
    const name = this.nameOf(id);
    const arns: Record<string, () => string> = {
      'AWS::S3::Bucket': () => `arn:${p}:s3:::${name}`,
      'AWS::IAM::Role': () => `arn:${p}:iam::${a}:role/${name}`,
      'AWS::Lambda::Function': () => `arn:${p}:lambda:${r}:${a}:function:${name}`,
      'AWS::SQS::Queue': () => `arn:${p}:sqs:${r}:${a}:${name}`,
      'AWS::SNS::Topic': () => `arn:${p}:sns:${r}:${a}:${name}`,
      'AWS::KMS::Key': () => `arn:${p}:kms:${r}:${a}:key/${keyIdOf(id)}`,
      // Secrets Manager appends six random characters to the name.
      'AWS::SecretsManager::Secret': () => `arn:${p}:secretsmanager:${r}:${a}:secret:${name}-AbCdEf`,
      'AWS::Logs::LogGroup': () => `arn:${p}:logs:${r}:${a}:log-group:${this.ref(id)}:*`,
      'AWS::StepFunctions::StateMachine': () => `arn:${p}:states:${r}:${a}:stateMachine:${name}`,
      'AWS::Events::Rule': () => `arn:${p}:events:${r}:${a}:rule/${name}`,
      'AWS::CloudWatch::Alarm': () => `arn:${p}:cloudwatch:${r}:${a}:alarm:${name}`,
    };
    if (attribute === 'Arn' || (type === 'AWS::SNS::Topic' && attribute === 'TopicArn')) {
      const arn = arns[type];
      if (arn) return arn();
    }
    if (type === 'AWS::IAM::Role' && attribute === 'RoleId') return roleIdOf(id);
    if (type === 'AWS::SQS::Queue' && attribute === 'QueueName') return name;
    if (type === 'AWS::SNS::Topic' && attribute === 'TopicName') return name;
    if (type === 'AWS::StepFunctions::StateMachine' && attribute === 'Name') return name;
    if (type === 'Custom::AWS' && attribute === 'workgroup.workgroupArn') {
      return `arn:${p}:redshift-serverless:${r}:${a}:workgroup/${LOOKED_UP_WORKGROUP_ID}`;
    }
    throw new Error(`Cannot resolve Fn::GetAtt ${id}.${attribute} (${type}).`);
  }

  private sub(argument: unknown): string {
    const [text, variables = {}] =
      typeof argument === 'string' ? [argument, {}] : (argument as [string, Record<string, unknown>]);
    return text.replace(/\$\{([^}!][^}]*)\}/g, (_match, expression: string) => {
      if (expression in variables) return String(this.resolve(variables[expression]));
      const [id, attribute] = expression.split(/\.(.*)/s) as [string, string | undefined];
      return attribute ? this.getAtt(id, attribute) : this.ref(id);
    });
  }

  /** Physical name: the logical id, which is unique in the template and valid in every ARN. */
  private nameOf(id: string): string {
    const { Type: type, Properties: properties = {} } = this.resource(id);
    const explicit =
      type === 'AWS::StepFunctions::StateMachine' ? properties.StateMachineName : properties.FunctionName;
    if (typeof explicit === 'string') return explicit;
    // S3 bucket names are lower case.
    return type === 'AWS::S3::Bucket' ? id.toLowerCase() : id;
  }
}

/** IAM role ids start with AROA; the rest is the logical id, so each role's is unique. */
export function roleIdOf(logicalId: string): string {
  return `AROA${logicalId.toUpperCase()}`;
}

function keyIdOf(logicalId: string): string {
  return `key-${logicalId.toLowerCase()}`;
}
