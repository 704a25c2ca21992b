import { describe, expect, it } from 'vitest';
import { backfillExecutionName } from '#cli/aws/backfill-execution.ts';
import { executionArnFor, executionConsoleUrl } from '#cli/aws/console-links.ts';
import { explainAwsFailure } from '#cli/aws/errors.ts';
import { formatAge, parseUtc, renderTable } from '#cli/aws/format.ts';
import { UsageError } from '#cli/io.ts';
import { parseBackfillRequest } from '#shared/pipeline/backfill/plan.ts';
import { awsError } from './aws-support.ts';

describe('explainAwsFailure', () => {
  it('tells the operator to pass --region when no region is configured', () => {
    const error = explainAwsFailure(new Error('Region is missing'), 'find the AWS region', undefined);
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toContain('Pass --region');
  });

  it('treats expired or unknown credentials like missing ones', () => {
    for (const name of ['ExpiredToken', 'InvalidClientTokenId', 'UnrecognizedClientException']) {
      const error = explainAwsFailure(
        awsError(name, 'The security token included in the request is expired'),
        'x',
        'eu-west-1',
      );
      expect(error).toBeInstanceOf(UsageError);
      expect(error.message).toContain('aws sts get-caller-identity');
    }
  });

  it('keeps any other error as a failure with the action in its message', () => {
    const error = explainAwsFailure(
      awsError('InternalFailure', "boom near 'secret-ish'"),
      'start the backfill',
      'eu-west-1',
    );
    expect(error).not.toBeInstanceOf(UsageError);
    expect(error.message).toBe("Could not start the backfill: InternalFailure: boom near '…'");
  });
});

describe('backfill execution names', () => {
  it('stay within Step Functions limits for the longest request, and differ by attempt', () => {
    const request = parseBackfillRequest(
      { start: '2025-01-01T00', end: '2025-12-31T23', feeds: ['events', 'merge_ids'], chunkHours: 168 },
      ['events', 'merge_ids'],
    );
    const name = backfillExecutionName(request, 99);
    expect(name).toBe('bf-2025010100-2025123123-events-merge_ids-c168-a99');
    expect(name.length).toBeLessThanOrEqual(80);
    expect(name).toMatch(/^[a-z0-9_-]+$/);
    expect(backfillExecutionName(request)).not.toBe(backfillExecutionName(request, 2));
  });
});

describe('console links', () => {
  it('derive the execution ARN from the state machine ARN and link the right console', () => {
    const arn = executionArnFor('arn:aws-cn:states:cn-north-1:123456789012:stateMachine:Backfill', 'bf-1');
    expect(arn).toBe('arn:aws-cn:states:cn-north-1:123456789012:execution:Backfill:bf-1');
    expect(executionConsoleUrl(arn)).toBe(
      `https://cn-north-1.console.amazonaws.cn/states/home?region=cn-north-1#/v2/executions/details/${arn}`,
    );
    expect(() => executionArnFor('arn:aws:lambda:eu-west-1:123456789012:function:x', 'bf-1')).toThrow(
      /state machine ARN/,
    );
  });
});

describe('formatting', () => {
  it('formats ages, parses warehouse timestamps as UTC and aligns numbers right', () => {
    expect([
      formatAge(42),
      formatAge(600),
      formatAge(3 * 3600 + 300),
      formatAge(2 * 86_400 + 4 * 3600),
    ]).toEqual(['42s', '10m', '3h 05m', '2d 04h']);
    expect(parseUtc('2026-03-02 05:50:12.123456')?.toISOString()).toBe('2026-03-02T05:50:12.123Z');
    expect(parseUtc('not a time')).toBeUndefined();
    expect(
      renderTable(
        ['feed', 'rows'],
        [
          ['events', 5],
          ['merge_ids', 1200],
        ],
      ),
    ).toBe(['  feed       rows', '  events        5', '  merge_ids  1200'].join('\n'));
  });
});
