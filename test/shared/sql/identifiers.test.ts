import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assertIdentifier,
  integerLiteral,
  qualifiedName,
  quoteIdent,
  quoteLiteral,
  SqlIdentifierError,
} from '#shared/sql/identifiers.ts';

describe('quoteIdent', () => {
  it('quotes lower-case names, including reserved words', () => {
    expect(quoteIdent('amplitude')).toBe('"amplitude"');
    expect(quoteIdent('user')).toBe('"user"');
    expect(quoteIdent('_batch_id')).toBe('"_batch_id"');
    expect(qualifiedName('amplitude', 'events_123')).toBe('"amplitude"."events_123"');
  });

  it('rejects an injection attempt with an error that names the value and the rule', () => {
    const attempt = 'a"; drop table x;--';
    expect(() => quoteIdent(attempt, 'schema')).toThrow(SqlIdentifierError);
    expect(() => quoteIdent(attempt, 'schema')).toThrow(
      /Invalid schema "a\\"; drop table x;--": expected lower-case letters, digits and underscores/,
    );
  });

  it.each([
    ['', 'empty'],
    ['Amplitude', 'upper case'],
    ['1abc', 'leading digit'],
    ['a-b', 'hyphen'],
    ['a b', 'space'],
    ['a.b', 'dot'],
    ['é', 'non-ASCII'],
    ['a'.repeat(128), 'too long'],
  ])('rejects %j (%s)', (name) => {
    expect(() => assertIdentifier(name)).toThrow(SqlIdentifierError);
  });

  it('accepts the longest allowed name', () => {
    expect(assertIdentifier('a'.repeat(127))).toBe('a'.repeat(127));
  });

  it('never lets an accepted name contain a quote', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (name) => {
        let quoted: string;
        try {
          quoted = quoteIdent(name);
        } catch (error) {
          expect(error).toBeInstanceOf(SqlIdentifierError);
          return;
        }
        expect(quoted.slice(1, -1)).not.toMatch(/["'\\;\s]/);
      }),
    );
  });
});

describe('quoteLiteral', () => {
  it('doubles single quotes', () => {
    expect(quoteLiteral("it's")).toBe("'it''s'");
    expect(quoteLiteral("'; drop table x;--")).toBe("'''; drop table x;--'");
    expect(quoteLiteral('')).toBe("''");
  });

  it('rejects NUL and backslash, which the two dialects cannot read the same way', () => {
    expect(() => quoteLiteral('a\u0000b', 'batch id')).toThrow(
      /Invalid batch id: it contains a NUL character/,
    );
    expect(() => quoteLiteral('a\\b')).toThrow(/backslashes are not accepted/);
  });

  it('round-trips any other string through the quoting rule', () => {
    fc.assert(
      fc.property(
        fc.string().filter((value) => !value.includes('\u0000') && !value.includes('\\')),
        (value) => {
          const literal = quoteLiteral(value);
          expect(literal.startsWith("'") && literal.endsWith("'")).toBe(true);
          const body = literal.slice(1, -1);
          expect(body.replaceAll("''", '')).not.toContain("'");
          expect(body.replaceAll("''", "'")).toBe(value);
        },
      ),
    );
  });
});

describe('integerLiteral', () => {
  it('writes safe integers and refuses anything else', () => {
    expect(integerLiteral(42)).toBe('42');
    expect(integerLiteral(-1)).toBe('-1');
    expect(() => integerLiteral(1.5, 'quarantined')).toThrow(/Invalid quarantined 1.5/);
    expect(() => integerLiteral(Number.NaN)).toThrow(SqlIdentifierError);
    expect(() => integerLiteral(2 ** 60)).toThrow(SqlIdentifierError);
  });
});
