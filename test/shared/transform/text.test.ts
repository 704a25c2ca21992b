import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AdjustmentKind } from '#shared/transform/outcome.ts';
import {
  cleanJsonValue,
  cleanString,
  escapeHazards,
  fitsUtf8,
  NUL_ESCAPE,
  SURROGATE_ESCAPE,
  truncateUtf8,
} from '#shared/transform/text.ts';

function recorder() {
  const seen: AdjustmentKind[] = [];
  return { seen, adjust: (kind: AdjustmentKind) => seen.push(kind) };
}

const byteLength = (text: string) => Buffer.byteLength(text, 'utf8');

describe('truncateUtf8', () => {
  it('keeps text that fits', () => {
    expect(truncateUtf8('hello', 5)).toBe('hello');
    expect(truncateUtf8('', 0)).toBe('');
  });

  it('cuts at a character boundary, never inside a multi-byte character', () => {
    // é is 2 bytes, € 3, 😀 4 (a surrogate pair in UTF-16).
    expect(truncateUtf8('abé', 3)).toBe('ab');
    expect(truncateUtf8('abé', 4)).toBe('abé');
    expect(truncateUtf8('a€', 3)).toBe('a');
    expect(truncateUtf8('a€b', 4)).toBe('a€');
    expect(truncateUtf8('ab😀c', 5)).toBe('ab');
    expect(truncateUtf8('ab😀c', 6)).toBe('ab😀');
    expect(truncateUtf8('😀😀', 7)).toBe('😀');
    expect(truncateUtf8('😀', 3)).toBe('');
  });

  it('never exceeds the limit, stays valid UTF-8, keeps a prefix and drops no more than one character (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 60 }),
        fc.integer({ min: 0, max: 200 }),
        (text, limit) => {
          const cut = truncateUtf8(text, limit);
          const bytes = Buffer.from(cut, 'utf8');
          expect(bytes.length).toBeLessThanOrEqual(limit);
          expect(isUtf8(bytes)).toBe(true);
          expect(text.startsWith(cut)).toBe(true);
          if (byteLength(text) <= limit) {
            expect(cut).toBe(text);
          } else {
            // The next code point would not have fitted: the cut is as long as it can be.
            const next = String.fromCodePoint(text.codePointAt(cut.length)!);
            expect(bytes.length + byteLength(next)).toBeGreaterThan(limit);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('fitsUtf8', () => {
  it('agrees with the encoded length, lone surrogates included (property)', () => {
    const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.oneof(anyCodeUnit, fc.string({ unit: 'binary', maxLength: 1 })),
          maxLength: 40,
        }),
        fc.integer({ min: 0, max: 160 }),
        (text, limit) => {
          expect(fitsUtf8(text, limit)).toBe(byteLength(text) <= limit);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('escapeHazards', () => {
  it('finds \\u0000 and surrogate escapes in any letter case', () => {
    expect(escapeHazards(String.raw`{"a":"x\u0000y"}`)).toBe(NUL_ESCAPE);
    expect(escapeHazards(String.raw`{"a":"\uD83D"}`)).toBe(SURROGATE_ESCAPE);
    expect(escapeHazards(String.raw`{"a":"\udfff","b":"\u0000"}`)).toBe(NUL_ESCAPE | SURROGATE_ESCAPE);
  });

  it('ignores other escapes and plain text', () => {
    expect(escapeHazards(String.raw`{"a":"\u00e9\u20ac\n"}`)).toBe(0);
    expect(escapeHazards('{"a":"😀 u0000 ud800"}')).toBe(0);
  });

  it('notices raw lone surrogates in a line given as a JS string', () => {
    expect(escapeHazards('{"a":"\ud800"}')).toBe(SURROGATE_ESCAPE);
  });
});

describe('cleanString and cleanJsonValue', () => {
  it('removes NULs and replaces lone surrogates, counting each changed string once', () => {
    const sink = recorder();
    expect(cleanString('a\u0000b\u0000', sink)).toBe('ab');
    expect(cleanString('x\ud800y', sink)).toBe('x\ufffdy');
    expect(cleanString('fine 😀', sink)).toBe('fine 😀');
    expect(sink.seen).toEqual(['nul_removed', 'unpaired_surrogate']);
  });

  it('cleans nested strings and keys, keeping key order', () => {
    const sink = recorder();
    const value = JSON.parse(String.raw`{"first":1,"k\u0000ey":["a\u0000",{"deep":"\udc00"}],"last":true}`);
    const cleaned = cleanJsonValue(value, sink);
    expect(JSON.stringify(cleaned)).toBe('{"first":1,"key":["a",{"deep":"\ufffd"}],"last":true}');
    expect(sink.seen.sort()).toEqual(['nul_removed', 'nul_removed', 'unpaired_surrogate']);
  });

  it('keeps a __proto__ key as data when rebuilding an object', () => {
    const value = JSON.parse(String.raw`{"__proto__":{"polluted":true},"a\u0000":1}`);
    const cleaned = cleanJsonValue(value, recorder()) as Record<string, unknown>;
    expect(JSON.stringify(cleaned)).toBe('{"__proto__":{"polluted":true},"a":1}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
