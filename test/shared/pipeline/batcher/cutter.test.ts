import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkCutter } from '#shared/pipeline/batcher/cutter.ts';

function cut(input: Buffer, pieceSizes: readonly number[], chunkBytes: number): string[] {
  const cutter = new ChunkCutter(chunkBytes);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (let i = 0; offset < input.length; i++) {
    const size = Math.max(1, pieceSizes[i % pieceSizes.length] ?? 1);
    chunks.push(...cutter.push(input.subarray(offset, offset + size)));
    offset += size;
  }
  const last = cutter.end();
  if (last) chunks.push(last);
  return chunks.map((chunk) => Buffer.from(chunk).toString('latin1'));
}

describe('ChunkCutter', () => {
  it('ends each chunk at the first newline at or after the chunk size', () => {
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
        (lines, trailingNewline, pieceSizes, chunkBytes) => {
          const input = Buffer.from(lines.join('\n') + (trailingNewline ? '\n' : ''));
          const text = input.toString('latin1');
          const whole = cut(input, [input.length + 1], chunkBytes);
          expect(cut(input, pieceSizes, chunkBytes)).toEqual(whole);
          expect(whole.join('')).toBe(text);
          for (const chunk of whole.slice(0, -1)) expect(chunk.endsWith('\n')).toBe(true);
        },
      ),
    );
  });

  it('gives every chunk its own memory, so it can be transferred', () => {
    const cutter = new ChunkCutter(2);
    const [chunk] = cutter.push(Buffer.from('ab\ncd\n'));
    expect(chunk!.byteOffset).toBe(0);
    expect(chunk!.buffer.byteLength).toBe(chunk!.byteLength);
  });
});
