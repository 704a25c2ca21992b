import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareKeys } from '#shared/storage/key-order.ts';

const sign = (n: number) => Math.sign(n);

describe('compareKeys', () => {
  it('orders like the UTF-8 bytes S3 compares', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        expect(sign(compareKeys(a, b))).toBe(sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
      }),
      { numRuns: 2000 },
    );
  });

  it('puts characters above U+FFFF after U+E000..U+FFFF, unlike plain string order', () => {
    const emoji = '\u{1F600}';
    const privateUse = '\uE000';

    expect(emoji < privateUse).toBe(true);
    expect(compareKeys(emoji, privateUse)).toBeGreaterThan(0);
    expect(compareKeys('a/b', 'a-c')).toBeGreaterThan(0);
    expect(compareKeys('a', 'a/')).toBeLessThan(0);
    expect(compareKeys('same', 'same')).toBe(0);
  });
});
