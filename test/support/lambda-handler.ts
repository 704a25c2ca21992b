import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, vi } from 'vitest';

/**
 * Set-up for a Lambda handler's test file. Before each test: fresh modules (the handler's module
 * scope reads the environment again), `environment()` over the real environment, and
 * stdout/stderr captured (Powertools writes its logs and EMF there). After each: all restored.
 * Register it after any `beforeEach` that `environment()` depends on.
 */
export function useHandlerHarness(environment: () => Record<string, string | undefined>) {
  const saved = { ...process.env };
  const output: string[] = [];
  beforeEach(() => {
    vi.resetModules();
    process.env = { ...saved, ...environment() };
    output.length = 0;
    const capture = (chunk: string | Uint8Array) => {
      output.push(String(chunk));
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.env = saved;
  });
  return {
    /** Every chunk written to stdout and stderr in the current test. */
    output,
    /** The JSON lines written in the current test that contain `marker`, parsed. */
    jsonLines(marker: string): Record<string, unknown>[] {
      return output
        .flatMap((chunk) => chunk.split('\n'))
        .filter((line) => line.includes(marker))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    },
  };
}

/** The context Lambda passes `functionName` (request id `request-1`), with `remainingMs` left. */
export function lambdaContext(functionName: string, memoryLimitInMB: string, remainingMs: number): Context {
  return {
    functionName,
    functionVersion: '1',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
    memoryLimitInMB,
    awsRequestId: 'request-1',
    getRemainingTimeInMillis: () => remainingMs,
  } as unknown as Context;
}

/** What the S3 client throws for an object that does not exist. */
export function s3NotFound(): Error {
  return Object.assign(new Error('Not Found'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
}
