import { beforeAll, describe, expect, it } from 'vitest';
import type { AmplitudeRedshiftExportStack } from '#infra/stack.ts';
import { type ScheduledFunction, timeBudgetMs } from '#shared/config/scheduled-run.ts';
import { DEFAULT_LOADER_LEASE_TTL_MS } from '#shared/pipeline/loader/run.ts';
import type { Call } from './iam/catalogue.ts';
import { evaluate, type Matrix, matrixOf } from './iam/matrix.ts';
import type { CfnResource, CfnTemplate } from './iam/resolve.ts';
import { DEPLOYMENT_VARIANTS, synthesize } from './synth.ts';

/**
 * Invariants of the synthesized template that no single resource shows: how each schedule, its
 * function's timeout, the run's time budget and the event ages fit together; that every alarm
 * action can reach its topic; that every log group a service writes to is writable by it.
 */
const VARIANTS = DEPLOYMENT_VARIANTS;

interface Variant {
  readonly stack: AmplitudeRedshiftExportStack;
  readonly template: CfnTemplate;
  readonly matrix: Matrix;
}

const variants: Record<string, Variant> = {};

beforeAll(() => {
  for (const [name, context] of Object.entries(VARIANTS)) {
    const { stack, template } = synthesize(context);
    const json = template.toJSON() as CfnTemplate;
    variants[name] = { stack, template: json, matrix: matrixOf(stack, json) };
  }
});

function resourcesOfType(template: CfnTemplate, type: string): [string, CfnResource][] {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

/** `rate(5 minutes)` -> 300. */
function rateSeconds(expression: string): number {
  const match = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (!match) throw new Error(`Not a rate expression: ${expression}`);
  const unit = { minute: 60, hour: 3600, day: 86_400 }[match[2]!.replace(/s$/, '') as 'minute'];
  return Number(match[1]) * unit;
}

describe.each(Object.keys(VARIANTS))('%s deployment: invariants', (name) => {
  it('ends every scheduled run before its next tick, with a time budget, and keeps its events until then', () => {
    const { stack, template } = variants[name]!;
    const functions: Record<string, ScheduledFunction> = {
      [stack.getLogicalId(stack.pipeline.batcher.function.node.defaultChild as never)]: 'batcher',
      [stack.getLogicalId(stack.pipeline.loader.function.node.defaultChild as never)]: 'loader',
      ...(stack.exportApi
        ? { [stack.getLogicalId(stack.exportApi.pull.function.node.defaultChild as never)]: 'exportApiPull' }
        : {}),
    };
    const rules = resourcesOfType(template, 'AWS::Events::Rule');
    expect(rules.length).toBe(stack.exportApi ? 3 : 2);
    const problems: string[] = [];
    for (const [ruleId, rule] of rules) {
      const interval = rateSeconds(rule.Properties!.ScheduleExpression as string);
      for (const target of rule.Properties!.Targets as {
        Arn: { 'Fn::GetAtt': [string, string] };
        RetryPolicy: { MaximumEventAgeInSeconds: number };
      }[]) {
        const functionId = target.Arn['Fn::GetAtt'][0];
        const fn = template.Resources[functionId]!.Properties!;
        const kind = functions[functionId];
        if (!kind)
          throw new Error(`${ruleId} invokes ${functionId}, which is not a known scheduled function.`);
        const timeout = fn.Timeout as number;
        const budget = timeBudgetMs(timeout * 1000, kind) / 1000;
        const [, config] = resourcesOfType(template, 'AWS::Lambda::EventInvokeConfig').find(
          ([, c]) => (c.Properties!.FunctionName as { Ref: string }).Ref === functionId,
        )!;
        const lambdaAge = config.Properties!.MaximumEventAgeInSeconds as number;
        const where = `${functionId} every ${interval} s`;
        if (timeout >= interval)
          problems.push(`${where}: timeout ${timeout} s outlives its tick (the next one is throttled)`);
        if (budget <= 0 || budget >= timeout)
          problems.push(`${where}: time budget ${budget} s is not inside the timeout ${timeout} s`);
        if (lambdaAge < interval + timeout)
          problems.push(
            `${where}: an event expires after ${lambdaAge} s, before it could wait out one run and one tick (${interval + timeout} s), so normal backlog lands in the DLQ`,
          );
        if (target.RetryPolicy.MaximumEventAgeInSeconds !== lambdaAge)
          problems.push(
            `${where}: EventBridge keeps events ${target.RetryPolicy.MaximumEventAgeInSeconds} s, Lambda ${lambdaAge} s`,
          );
        if (config.Properties!.MaximumRetryAttempts !== 0)
          problems.push(`${where}: a retry would only queue behind the next tick`);
        if (fn.ReservedConcurrentExecutions !== 1) problems.push(`${where}: more than one run at a time`);
        if (kind === 'loader' && DEFAULT_LOADER_LEASE_TTL_MS < timeout * 1000)
          problems.push(`${where}: the loader lease (${DEFAULT_LOADER_LEASE_TTL_MS} ms) ends before the run`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('lets every alarm action reach its topic: CloudWatch may publish and may use the topic key', async () => {
    const { template, matrix } = variants[name]!;
    const r = matrix.policies.resolver;
    const topics = new Map(
      resourcesOfType(template, 'AWS::SNS::Topic').map(([id, topic]) => [
        r.getAtt(id, 'Arn'),
        topic.Properties!.KmsMasterKeyId ? r.text(topic.Properties!.KmsMasterKeyId) : undefined,
      ]),
    );
    const calls: Call[] = [];
    for (const [id, alarm] of resourcesOfType(template, 'AWS::CloudWatch::Alarm')) {
      const source = { 'aws:SourceAccount': matrix.world.account, 'aws:SourceArn': r.getAtt(id, 'Arn') };
      for (const action of r.resolve(alarm.Properties!.AlarmActions) as string[]) {
        expect(topics.has(action), `${id} acts on ${action}, which is no topic of the stack`).toBe(true);
        calls.push({
          actor: 'cloudwatch',
          action: 'sns:Publish',
          resource: action,
          context: source,
          why: id,
        });
        const key = topics.get(action);
        if (key) {
          for (const kms of ['kms:GenerateDataKey', 'kms:Decrypt']) {
            calls.push({ actor: 'cloudwatch', action: kms, resource: key, context: source, why: id });
          }
        }
      }
    }
    expect(calls.length).toBeGreaterThan(10);
    const refused: string[] = [];
    for (const call of calls) {
      const decision = await evaluate(matrix, call);
      if (decision !== 'Allowed')
        refused.push(`${call.why}: ${call.action} on ${call.resource} is ${decision}`);
    }
    expect(refused).toEqual([]);
  });

  it('lets every service write to the log groups it logs to', async () => {
    const { template, matrix } = variants[name]!;
    const r = matrix.policies.resolver;
    const refused: string[] = [];
    const roleActor = new Map(Object.entries(matrix.roles).map(([actor, role]) => [role.logicalId, actor]));
    for (const [id, fn] of resourcesOfType(template, 'AWS::Lambda::Function')) {
      const logGroup = (fn.Properties!.LoggingConfig as { LogGroup?: { Ref: string } } | undefined)?.LogGroup;
      if (!logGroup) {
        refused.push(`${id} logs to a log group the stack does not create`);
        continue;
      }
      const actor = roleActor.get((fn.Properties!.Role as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0]);
      const stream = `${r.getAtt(logGroup.Ref, 'Arn').replace(/:\*$/, '')}:log-stream:2026/01/01/[$LATEST]abc`;
      for (const action of ['logs:CreateLogStream', 'logs:PutLogEvents']) {
        const decision = await evaluate(matrix, { actor: actor as never, action, resource: stream, why: id });
        if (decision !== 'Allowed') refused.push(`${id}: ${action} on ${stream} is ${decision}`);
      }
    }
    for (const [id, machine] of resourcesOfType(template, 'AWS::StepFunctions::StateMachine')) {
      const destinations = (
        machine.Properties!.LoggingConfiguration as {
          Destinations: { CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [string, string] } } }[];
        }
      ).Destinations;
      for (const destination of destinations) {
        const logGroupId = destination.CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0];
        const logGroupName = r.ref(logGroupId);
        // Vended logs: no per-log-group resource policy, so no account-wide policy size limit.
        if (!logGroupName.startsWith('/aws/vendedlogs/states/')) {
          refused.push(`${id} logs to ${logGroupName}, outside /aws/vendedlogs/states/`);
        }
      }
      for (const action of [
        'logs:CreateLogDelivery',
        'logs:PutResourcePolicy',
        'logs:DescribeResourcePolicies',
        'logs:DescribeLogGroups',
      ]) {
        const decision = await evaluate(matrix, { actor: 'stateMachine', action, resource: '*', why: id });
        if (decision !== 'Allowed') refused.push(`${id}: ${action} is ${decision}`);
      }
    }
    expect(refused).toEqual([]);
  });
});
