import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SliceCutter } from '#shared/pipeline/batcher/slice-cutter.ts';

function cut(input: Buffer, pieceSizes: readonly number[], sliceBytes: number): string[] {
  const cutter = new SliceCutter(sliceBytes);
  const slices: Uint8Array[] = [];
  let offset = 0;
  for (let i = 0; offset < input.length; i++) {
    const size = Math.max(1, pieceSizes[i % pieceSizes.length] ?? 1);
    slices.push(...cutter.push(input.subarray(offset, offset + size)));
    offset += size;
  }
  const last = cutter.end();
  if (last) slices.push(last);
  return slices.map((slice) => Buffer.from(slice).toString('latin1'));
}

describe('SliceCutter', () => {
  it('ends each slice at the first newline at or after the slice size', () => {
    const input = Buffer.from('aa\nbbbb\ncc\nd\neeeeeeee\nf');
    expect(cut(input, [100], 4)).toEqual(['aa\nbbbb\n', 'cc\nd\n', 'eeeeeeee\n', 'f']);
    expect(cut(input, [1], 4)).toEqual(['aa\nbbbb\n', 'cc\nd\n', 'eeeeeeee\n', 'f']);
  });

  it('cuts the same content at the same places whatever the pieces it arrives in', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: fc.constantFrom('a', 'b', 'é', '😀', ' '), maxLength: 40 }), {
          maxLength: 60,
        }),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 64 }),
        (lines, trailingNewline, pieceSizes, sliceBytes) => {
          const input = Buffer.from(lines.join('\n') + (trailingNewline ? '\n' : ''));
          const text = input.toString('latin1');
          const whole = cut(input, [input.length + 1], sliceBytes);
          expect(cut(input, pieceSizes, sliceBytes)).toEqual(whole);
          expect(whole.join('')).toBe(text);
          for (const slice of whole.slice(0, -1)) expect(slice.endsWith('\n')).toBe(true);
        },
      ),
    );
  });

  it('gives every slice its own memory, so it can be transferred', () => {
    const cutter = new SliceCutter(2);
    const [slice] = cutter.push(Buffer.from('ab\ncd\n'));
    expect(slice!.byteOffset).toBe(0);
    expect(slice!.buffer.byteLength).toBe(slice!.byteLength);
  });
});
