import { beforeAll, describe, expect, it } from 'vitest';
import { type Call, expectedCalls, mustDeny, type RoleActor } from './iam/catalogue.ts';
import { describe as describeCall, evaluate, type Matrix, matrixOf, unusedGrants } from './iam/matrix.ts';
import type { CfnTemplate } from './iam/resolve.ts';
import { DEPLOYMENT_VARIANTS, synthesize } from './synth.ts';

/**
 * The permission matrix: every call of the catalogue (test/infra/iam/catalogue.ts) evaluated by
 * an independent IAM evaluator over the real synthesized template, identity and resource
 * policies together. A role that loses a permission it needs fails "makes every call", one that
 * gains a permission no call uses fails "grants nothing", and least privilege is "denies".
 */
const VARIANTS = DEPLOYMENT_VARIANTS;

const matrices: Record<string, Matrix> = {};

beforeAll(() => {
  for (const [name, context] of Object.entries(VARIANTS)) {
    const { stack, template } = synthesize(context);
    matrices[name] = matrixOf(stack, template.toJSON() as CfnTemplate);
  }
});

async function decisions(matrix: Matrix, calls: readonly Call[]) {
  return Promise.all(calls.map(async (call) => ({ call, decision: await evaluate(matrix, call) })));
}

describe.each(Object.keys(VARIANTS))('%s deployment: permission matrix', (name) => {
  it('makes every call of the catalogue (identity, resource, trust and key policies together)', async () => {
    const matrix = matrices[name]!;
    const calls = expectedCalls(matrix.world);
    expect(calls.length).toBeGreaterThan(100);
    const refused = (await decisions(matrix, calls))
      .filter(({ decision }) => decision !== 'Allowed')
      .map(({ call, decision }) => `${decision}: ${describeCall(call)} (${call.why})`);
    expect(refused, 'calls the deployed stack must be able to make').toEqual([]);
  });

  it('denies every call of the must-deny list', async () => {
    const matrix = matrices[name]!;
    const calls = mustDeny(matrix.world);
    expect(calls.length).toBeGreaterThan(15);
    const allowed = (await decisions(matrix, calls))
      .filter(({ decision }) => decision === 'Allowed')
      .map(({ call }) => `Allowed: ${describeCall(call)} (${call.why})`);
    expect(allowed, 'calls that must be denied').toEqual([]);
  });

  it('grants no role anything the catalogue does not use', () => {
    const matrix = matrices[name]!;
    const calls = expectedCalls(matrix.world);
    const unused = (Object.keys(matrix.roles) as RoleActor[]).flatMap((actor) =>
      unusedGrants(matrix, actor, calls).map(
        (grant) =>
          `${actor} is granted ${grant}, but no call in test/infra/iam/catalogue.ts uses it: add the call the code makes, or remove the grant`,
      ),
    );
    expect(unused).toEqual([]);
  });

  it('knows every role of the template as an actor', () => {
    const matrix = matrices[name]!;
    const known = new Set(Object.values(matrix.roles).map((role) => role.logicalId));
    const unknown = [...matrix.policies.roles.keys()].filter((id) => !known.has(id));
    expect(unknown, 'roles that no catalogue actor runs as: add the actor and its calls').toEqual([]);
    for (const role of matrix.policies.roles.values())
      expect(role.managedPolicyArns, role.logicalId).toEqual([]);
  });
});
