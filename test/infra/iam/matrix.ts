/**
 * Evaluates catalogue rows against the synthesized template with @cloud-copilot/iam-simulate.
 *
 * Why that evaluator: it is independent of this project, evaluates identity and resource policies
 * together (same- and cross-account rules, KMS key policies that do not trust the account by
 * default, role trust policies), implements every condition operator and policy variables such as
 * `${aws:userid}`, and validates actions and ARNs against AWS's service reference. The
 * alternatives were IAM's SimulateCustomPolicy API (needs an account and credentials, so it
 * cannot run in `npm test`), `pbac` (identity-style statements only: no principals, resource or
 * key policies) and a hand-written matcher (code we write, which the design rules out).
 * Its licence is AGPL-3.0: it is a devDependency used by tests only, never bundled into a Lambda.
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import type { AmplitudeRedshiftExportStack } from '#infra/stack.ts';
import {
  type Actor,
  type Call,
  type RoleActor,
  SERVICE_PRINCIPALS,
  type ServiceActor,
  TOLERATED_GRANTS,
  type World,
} from './catalogue.ts';
import { type PolicyStatement, type RolePolicies, TemplatePolicies } from './policies.ts';
import type { CfnTemplate } from './resolve.ts';

export const ACCOUNT = '123456789012';

export interface Matrix {
  readonly policies: TemplatePolicies;
  readonly world: World;
  /** The role each role actor runs as. */
  readonly roles: Partial<Record<RoleActor, RolePolicies>>;
}

/** Builds the concrete world of a synthesized stack: ARNs of everything the catalogue names. */
export function matrixOf(stack: AmplitudeRedshiftExportStack, template: CfnTemplate): Matrix {
  const policies = new TemplatePolicies(template, ACCOUNT, stack.region, stack.stackName);
  const r = policies.resolver;
  const concrete = (token: string) => r.text(stack.resolve(token));
  const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(construct.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);
  const byPath = (suffix: string) => {
    const found = stack.node.findAll().find((c) => c.node.path.endsWith(suffix));
    return found ? logicalId(found) : undefined;
  };

  const roleIds: Partial<Record<RoleActor, string | undefined>> = {
    batcher: logicalId(stack.pipeline.batcher.role),
    loader: logicalId(stack.pipeline.loader.role),
    verify: logicalId(stack.pipeline.verify.role),
    ...(stack.exportApi ? { exportApiPull: logicalId(stack.exportApi.pull.role) } : {}),
    backfillPlan: logicalId(stack.backfill.planFunction.role),
    backfillPrepare: logicalId(stack.backfill.prepareFunction.role),
    backfillSummarize: logicalId(stack.backfill.summarizeFunction.role),
    stateMachine: logicalId(
      stack.backfill.stateMachine.role as unknown as { node: { defaultChild?: unknown } },
    ),
    copyRole: logicalId(stack.storage.copyRole),
    workgroupLookup: byPath('/Warehouse/WorkgroupLookupRole'),
    verifyProvider: byPath('/Pipeline/VerifyProviderRole'),
  };
  const roles: Partial<Record<RoleActor, RolePolicies>> = {};
  const actorOfRole = new Map<string, RoleActor>();
  for (const [actor, id] of Object.entries(roleIds) as [RoleActor, string | undefined][]) {
    if (!id || !policies.roles.has(id)) continue;
    roles[actor] = policies.role(id);
    actorOfRole.set(id, actor);
  }

  const functions: Partial<Record<RoleActor, string>> = {};
  const logGroups: Partial<Record<RoleActor, string>> = {};
  const functionActor = new Map<string, RoleActor>();
  const resources = Object.entries(template.Resources);
  for (const [id, resource] of resources.filter(([, res]) => res.Type === 'AWS::Lambda::Function')) {
    const properties = resource.Properties ?? {};
    const roleId = (properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const actor = actorOfRole.get(roleId);
    if (!actor) throw new Error(`Function ${id} runs as role ${roleId}, which is no actor of the catalogue.`);
    functions[actor] = r.getAtt(id, 'Arn');
    functionActor.set(functions[actor], actor);
    const logGroup = (properties.LoggingConfig as { LogGroup?: { Ref: string } } | undefined)?.LogGroup;
    if (logGroup) logGroups[actor] = r.getAtt(logGroup.Ref, 'Arn');
  }
  const onFailureSenders: RoleActor[] = [];
  const schedules: { ruleArn: string; functionArn: string }[] = [];
  const alarmArns: string[] = [];
  const topicArn = concrete(stack.monitoring.topic.topicArn);
  for (const [id, resource] of resources) {
    const properties = resource.Properties ?? {};
    if (resource.Type === 'AWS::Lambda::EventInvokeConfig' && properties.DestinationConfig) {
      const actor = functionActor.get(r.getAtt(r.text(properties.FunctionName), 'Arn'));
      if (actor) onFailureSenders.push(actor);
    }
    if (resource.Type === 'AWS::Events::Rule') {
      for (const target of properties.Targets as { Arn: unknown }[]) {
        schedules.push({ ruleArn: r.getAtt(id, 'Arn'), functionArn: r.text(target.Arn) });
      }
    }
    if (
      resource.Type === 'AWS::CloudWatch::Alarm' &&
      (r.resolve(properties.AlarmActions) as string[]).includes(topicArn)
    ) {
      alarmArns.push(r.getAtt(id, 'Arn'));
    }
  }

  const config = stack.node.tryGetContext('landingPrefix') as string | undefined;
  const world: World = {
    account: ACCOUNT,
    region: stack.region,
    stackName: stack.stackName,
    projectId: String(stack.node.tryGetContext('projectId')),
    orgId: String(stack.node.tryGetContext('orgId') ?? '4242'),
    landingBucket: concrete(stack.storage.landingBucket.bucketName),
    landingPrefix: config ?? '',
    stagingBucket: concrete(stack.storage.stagingBucket.bucketName),
    keyArn: concrete(stack.storage.key.keyArn),
    redshiftSecretArn: concrete(stack.storage.secret.secretArn),
    ...(stack.exportApi
      ? { exportApiSecretArn: String(stack.node.tryGetContext('exportApiSecretArn')) }
      : {}),
    warehouseArn: concrete(stack.warehouse.arn),
    topicArn,
    queueArn: concrete(stack.pipeline.deadLetterQueue.queueArn),
    stateMachineArn: concrete(stack.backfill.stateMachine.stateMachineArn),
    stateMachineName: concrete(stack.backfill.stateMachine.stateMachineName),
    copyRoleArn: concrete(stack.storage.copyRole.roleArn),
    functions,
    logGroups,
    schedules,
    onFailureSenders,
    alarmArns,
    exportApi: stack.exportApi !== undefined,
    serverless: stack.warehouse.endpoint.kind === 'serverless',
  };
  return { policies, world, roles };
}

export type Decision = 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';

/** The evaluator's decision for one call: identity policies of the actor and the resource's policy. */
export async function evaluate(matrix: Matrix, call: Call): Promise<Decision> {
  const { policies, roles } = matrix;
  const service = SERVICE_PRINCIPALS[call.actor as ServiceActor];
  const role = service ? undefined : roles[call.actor as RoleActor];
  if (!service && !role) throw new Error(`${call.actor} has no role in this deployment.`);
  const session = call.context?.['redshift-data:statement-owner-iam-userid']
    ?.toString()
    .includes('any-session')
    ? 'other-session'
    : 'same-session';
  const context: Record<string, string | string[]> = { 'aws:SecureTransport': 'true' };
  if (role) {
    context['aws:userid'] = `${role.roleId}:${session}`;
    context['aws:PrincipalAccount'] = ACCOUNT;
    context['aws:PrincipalArn'] = role.arn;
  }
  for (const [key, value] of Object.entries(call.context ?? {})) {
    context[key] = typeof value === 'string' && role ? value.replace('<roleId>', role.roleId) : value;
  }
  const principal = role ? `arn:aws:sts::${ACCOUNT}:assumed-role/${role.logicalId}/${session}` : service!;
  const result = await runSimulation(
    {
      request: {
        principal,
        action: call.action,
        resource: { resource: call.resource, accountId: ACCOUNT },
        contextVariables: context,
      },
      identityPolicies: role ? role.identity.map(({ name, policy }) => ({ name, policy })) : [],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy:
        call.action === 'sts:AssumeRole' || call.resource !== '*'
          ? policies.resourcePolicyFor(call.resource)
          : undefined,
    },
    {},
  );
  if (result.resultType === 'error') {
    throw new Error(
      `The evaluator rejected ${describe(call)}: ${result.errors.message} ${JSON.stringify(result.errors)}`,
    );
  }
  return result.overallResult as Decision;
}

export function describe(call: Call): string {
  return `${call.actor} ${call.action} on ${call.resource}${call.context ? ` ${JSON.stringify(call.context)}` : ''}`;
}

/** IAM-style wildcard match (`*` any run, `?` one character) of an ARN against a pattern. */
export function arnMatches(pattern: string, arn: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    's',
  );
  return regex.test(arn);
}

/**
 * Grants of `actor`'s role that no catalogue row uses: `<action> on <resource>` for each
 * allowed action and resource of its identity policies without a matching call.
 */
export function unusedGrants(matrix: Matrix, actor: RoleActor, calls: readonly Call[]): string[] {
  const role = matrix.roles[actor];
  if (!role) return [];
  const own = calls.filter((call) => call.actor === actor);
  const unused: string[] = [];
  for (const { policy } of role.identity) {
    for (const statement of policy.Statement as PolicyStatement[]) {
      if (statement.Effect !== 'Allow') continue;
      for (const action of [statement.Action].flat()) {
        if (TOLERATED_GRANTS.some((t) => t.action === action && (t.actor === '*' || t.actor === actor)))
          continue;
        for (const resource of [statement.Resource ?? '*'].flat()) {
          const used = own.some((call) => call.action === action && arnMatches(resource, call.resource));
          if (!used) unused.push(`${action} on ${resource}`);
        }
      }
    }
  }
  return unused;
}

export type { Actor };
