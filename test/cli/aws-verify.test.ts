import { InvokeCommand } from '@aws-sdk/client-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { verifyCommand } from '#cli/commands/aws-verify.ts';
import { UsageError } from '#cli/io.ts';
import type { VerifyReport } from '#shared/verify/verify.ts';
import {
  awsError,
  FULL_OUTPUTS,
  failureOf,
  givenStack,
  mocks,
  REGION,
  resetMocks,
  STACK,
  testDeps,
  testIo,
} from './aws-support.ts';

const ARGS = ['--stack', STACK, '--region', REGION];
const FUNCTION = FULL_OUTPUTS.VerifyFunctionName;

function payload(value: unknown) {
  return new TextEncoder().encode(JSON.stringify(value)) as never;
}

const PASSING: VerifyReport = {
  ok: true,
  checks: [
    { name: 'secret', ok: true, detail: 'The secret has username and password.' },
    { name: 'connection', ok: true, detail: 'Connected to dev as amplitude_export.' },
  ],
};

const FAILING: VerifyReport = {
  ok: false,
  checks: [
    { name: 'secret', ok: true, detail: 'The secret has username and password.' },
    {
      name: 'privileges',
      ok: false,
      detail: 'amplitude_export may not INSERT into amplitude.events_187520.',
      fix: 'Run the grants printed by `redshift-export setup-sql` as a superuser.',
    },
  ],
};

beforeEach(() => {
  resetMocks();
  givenStack();
});

describe('verify', () => {
  it("invokes the stack's verify function and prints each check", async () => {
    mocks.lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload(PASSING) });
    const io = testIo();

    expect(await verifyCommand(testDeps())(ARGS, io)).toBe(0);

    expect(mocks.lambda.commandCalls(InvokeCommand)[0]?.args[0].input.FunctionName).toBe(FUNCTION);
    expect(io.out()).toContain(`Verify ${STACK}`);
    expect(io.out()).toMatch(/ok\s+connection\s+Connected to dev/);
    expect(io.out()).toContain('All 2 checks passed.');
  });

  it('exits 1 and shows the fix of a failing check', async () => {
    mocks.lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload(FAILING) });
    const io = testIo();
    expect(await verifyCommand(testDeps())(ARGS, io)).toBe(1);
    expect(io.out()).toMatch(/FAIL\s+privileges\s+amplitude_export may not INSERT/);
    expect(io.out()).toContain('fix: Run the grants printed by `redshift-export setup-sql`');
  });

  it('prints the report as JSON with --json', async () => {
    mocks.lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload(FAILING) });
    const io = testIo();
    await verifyCommand(testDeps())([...ARGS, '--json'], io);
    expect(JSON.parse(io.out())).toEqual(FAILING);
  });

  it('retries a throttled invoke', async () => {
    mocks.lambda
      .on(InvokeCommand)
      .rejectsOnce(awsError('TooManyRequestsException', 'Rate Exceeded.'))
      .resolves({ StatusCode: 200, Payload: payload(PASSING) });
    const deps = testDeps();
    expect(await verifyCommand(deps)(ARGS, testIo())).toBe(0);
    expect(mocks.lambda.commandCalls(InvokeCommand)).toHaveLength(2);
    expect(deps.slept).toEqual([1000]);
  });

  it('reports a function that threw, without the quoted values of its message', async () => {
    mocks.lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: payload({
        errorType: 'ConfigError',
        errorMessage: "REDSHIFT_DATABASE must be set, got 'PW-5f3a-never-log'",
      }),
    });
    const error = await failureOf(verifyCommand(testDeps())(ARGS, testIo()));
    expect(error.message).toContain(
      'The verify function failed before it could report (ConfigError: REDSHIFT_DATABASE must be set',
    );
    expect(error.message).not.toContain('PW-5f3a-never-log');
  });

  it('says what to do when the function or its output is missing', async () => {
    mocks.lambda.on(InvokeCommand).rejects(awsError('ResourceNotFoundException', 'Function not found'));
    await expect(verifyCommand(testDeps())(ARGS, testIo())).rejects.toThrow(
      /does not exist in eu-west-1. Deploy the stack again/,
    );

    resetMocks();
    const { VerifyFunctionName: _dropped, ...older } = FULL_OUTPUTS;
    givenStack(older);
    const error = await failureOf(verifyCommand(testDeps())(ARGS, testIo()));
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toContain('has no output VerifyFunctionName');
    expect(mocks.lambda.calls()).toHaveLength(0);
  });

  it('explains access denied with the permission to ask for', async () => {
    mocks.lambda
      .on(InvokeCommand)
      .rejects(awsError('AccessDeniedException', 'User is not authorized to perform: lambda:InvokeFunction'));
    const error = await failureOf(verifyCommand(testDeps())(ARGS, testIo()));
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toContain('lambda:InvokeFunction');
    expect(error.message).toContain('access denied');
  });
});
