import { describe, expect, it } from 'vitest';
import { UsageError } from '#cli/io.ts';
import { wholeNumber } from '#cli/options.ts';

describe('wholeNumber, the one parser of whole-number flags', () => {
  it('reads digits within the range, and the fallback (or nothing) when the flag is absent', () => {
    expect(wholeNumber('7', '--days', { min: 1, max: 10 })).toBe(7);
    expect(wholeNumber(' 10 ', '--days', { min: 1, max: 10 })).toBe(10);
    expect(wholeNumber(undefined, '--days', { min: 1, max: 10 })).toBeUndefined();
    expect(wholeNumber(undefined, '--days', { min: 1, max: 10, fallback: 3 })).toBe(3);
  });

  it.each(['0', '11', '1.5', '-1', '1e1', '', 'ten', '0x5'])(
    'refuses %j, naming the flag and the range',
    (text) => {
      expect(() => wholeNumber(text, '--days', { min: 1, max: 10 })).toThrow(UsageError);
      expect(() => wholeNumber(text, '--days', { min: 1, max: 10 })).toThrow(
        `--days must be a whole number from 1 to 10, got ${JSON.stringify(text)}.`,
      );
    },
  );
});
