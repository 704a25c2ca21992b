import { type App, Validations } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEPLOYMENT_VARIANTS, resourcesOf, type Synthesized, synthesize } from './synth.ts';

/**
 * Actions that IAM only accepts with `Resource: "*"`, and why each is here. Anything else on
 * `*` fails the test.
 */
const STAR_ONLY_ACTIONS: Readonly<Record<string, string>> = {
  'xray:PutTraceSegments':
    'X-Ray tracing of the Lambdas and the state machine: no resource-level permissions.',
  'xray:PutTelemetryRecords': 'X-Ray tracing: no resource-level permissions.',
  'xray:GetSamplingRules': 'X-Ray tracing of the state machine: no resource-level permissions.',
  'xray:GetSamplingTargets': 'X-Ray tracing of the state machine: no resource-level permissions.',
  'redshift-data:DescribeStatement':
    'No resource type; every use must carry the statement-owner condition (checked below).',
  'redshift-data:GetStatementResult':
    'No resource type; every use must carry the statement-owner condition (checked below).',
  'redshift-data:CancelStatement':
    'No resource type; every use must carry the statement-owner condition (checked below).',
  'logs:CreateLogDelivery': 'Step Functions logging to CloudWatch Logs (vended log delivery): only "*".',
  'logs:GetLogDelivery': 'Step Functions logging: only "*".',
  'logs:UpdateLogDelivery': 'Step Functions logging: only "*".',
  'logs:DeleteLogDelivery': 'Step Functions logging: only "*".',
  'logs:ListLogDeliveries': 'Step Functions logging: only "*".',
  'logs:PutResourcePolicy': 'Step Functions logging: only "*".',
  'logs:DescribeResourcePolicies': 'Step Functions logging: only "*".',
  'logs:DescribeLogGroups': 'Step Functions logging: only "*".',
};

interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

/** Every statement of every identity policy in the template, with where it comes from. */
function identityStatements(template: Template): { where: string; statement: Statement }[] {
  const found: { where: string; statement: Statement }[] = [];
  for (const [id, policy] of Object.entries(resourcesOf(template, 'AWS::IAM::Policy'))) {
    for (const statement of (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement) {
      found.push({ where: id, statement });
    }
  }
  for (const [id, role] of Object.entries(resourcesOf(template, 'AWS::IAM::Role'))) {
    for (const inline of (role.Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[]) ??
      []) {
      for (const statement of inline.PolicyDocument.Statement) found.push({ where: id, statement });
    }
    expect(role.Properties.ManagedPolicyArns, `${id} uses a managed policy`).toBeUndefined();
  }
  return found;
}

const variants: Record<string, Synthesized> = {};

const VARIANTS = DEPLOYMENT_VARIANTS;

beforeAll(() => {
  for (const [name, context] of Object.entries(VARIANTS)) variants[name] = synthesize(context);
});

describe.each(Object.keys(VARIANTS))('%s deployment', (name) => {
  it('has no statement on "*" except for actions that only support "*"', () => {
    const { template } = variants[name]!;
    const statements = identityStatements(template);
    expect(statements.length).toBeGreaterThan(20);
    for (const { where, statement } of statements) {
      const resources = [statement.Resource].flat();
      if (!resources.includes('*')) continue;
      for (const action of [statement.Action].flat()) {
        expect(STAR_ONLY_ACTIONS[action], `${where} allows ${action} on "*"`).toBeDefined();
      }
    }
  });

  it('never allows a service-wide action (service:* or *)', () => {
    for (const { where, statement } of identityStatements(variants[name]!.template)) {
      for (const action of [statement.Action].flat()) {
        expect(action === '*' || action.endsWith(':*'), `${where} allows ${action}`).toBe(false);
      }
    }
  });

  it('limits statement reads to the caller’s own statements wherever they are allowed', () => {
    const reads = identityStatements(variants[name]!.template).filter(({ statement }) =>
      [statement.Action]
        .flat()
        .some((action) => /^redshift-data:(Describe|GetStatementResult|Cancel)/.test(action)),
    );
    expect(reads.length).toBeGreaterThanOrEqual(3);
    for (const { where, statement } of reads) {
      const condition = statement.Condition?.StringEquals ?? statement.Condition?.StringLike;
      // `${aws:userid}` (this very session) or `<this role's id>:*` (any session of this role).
      expect(JSON.stringify(condition?.['redshift-data:statement-owner-iam-userid']), where).toMatch(
        /\$\{aws:userid\}|RoleId.*:\*/,
      );
    }
  });

  it('contains no password: no secret string, no password value, no password variable', () => {
    const { template } = variants[name]!;
    const json = JSON.stringify(template.toJSON());
    expect(json).not.toMatch(/\\"password\\"\s*:/);
    expect(json).not.toMatch(/"password"\s*:/i);
    expect(json).not.toContain('{{resolve:secretsmanager');
    for (const secret of Object.values(resourcesOf(template, 'AWS::SecretsManager::Secret'))) {
      expect(secret.Properties.SecretString).toBeUndefined();
    }
    for (const [id, fn] of Object.entries(resourcesOf(template, 'AWS::Lambda::Function'))) {
      const names = Object.keys(
        (fn.Properties.Environment as { Variables?: object } | undefined)?.Variables ?? {},
      );
      expect(
        names.filter((variable) => /PASSWORD/i.test(variable)),
        id,
      ).toEqual([]);
    }
  });

  it('passes cdk-nag AwsSolutions and Serverless checks with no unacknowledged errors or warnings', () => {
    const { app } = variants[name]!;
    const violations = [new AwsSolutionsChecks(app), new ServerlessChecks(app)].flatMap(
      (pack) => pack.validateScope(app).violations,
    );
    const listed = violations.flatMap((violation) =>
      violation.violatingResources.map(
        (resource) => `${violation.severity} ${violation.ruleName} at ${resource.constructPath}`,
      ),
    );
    expect(listed).toEqual([]);
  });

  it('acknowledges each cdk-nag rule narrowly, with a reason a reviewer can check', () => {
    const acknowledgments = acknowledgmentsOf(variants[name]!.app);
    expect(acknowledgments.length).toBeGreaterThan(10);
    for (const { path, id, reason } of acknowledgments) {
      expect(reason.length, `${id} at ${path}`).toBeGreaterThan(60);
      // Wildcard findings are acknowledged per action or resource, never for the whole rule.
      if (id.includes('IAM5')) expect(id, path).toMatch(/^AwsSolutions-IAM5\[(Action|Resource)::.+\]$/);
      // Never on the stack or app as a whole.
      expect(path.split('/').length, `${id} acknowledged at ${path}`).toBeGreaterThan(1);
    }
  });
});

function acknowledgmentsOf(app: App): { path: string; id: string; reason: string }[] {
  const found: { path: string; id: string; reason: string }[] = [];
  const visit = (construct: IConstruct) => {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        found.push({ path: construct.node.path, id: id.replace(/^annotation::/i, ''), reason });
      }
    }
    for (const child of construct.node.children) visit(child);
  };
  visit(app);
  return found;
}
