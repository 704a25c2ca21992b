import { describe, expect, it } from 'vitest';
import {
  assertTransactionFits,
  MAX_STATEMENT_BYTES,
  statementBytes,
} from '#shared/warehouse/data-api-limits.ts';
import { MAX_TRANSACTION_STATEMENTS, PermanentWarehouseError } from '#shared/warehouse/sql-runner.ts';

/** A statement of exactly `bytes` bytes of UTF-8, made of `unit` repeated after a SELECT. */
function statementOf(bytes: number, unit = 'x'): string {
  const head = "SELECT '";
  const tail = "'";
  const room = bytes - head.length - tail.length;
  const unitBytes = Buffer.byteLength(unit);
  return `${head}${unit.repeat(Math.floor(room / unitBytes))}${'y'.repeat(room % unitBytes)}${tail}`;
}

describe('Data API limits', () => {
  it('measures statements in bytes of UTF-8, not characters', () => {
    expect(statementBytes('é')).toBe(2);
    expect(statementBytes('€')).toBe(3);
    expect(statementBytes(statementOf(1000, 'é'))).toBe(1000);
  });

  it(`accepts a statement of ${MAX_STATEMENT_BYTES} bytes and refuses one byte more`, () => {
    expect(() => assertTransactionFits(['LOCK t', statementOf(MAX_STATEMENT_BYTES)])).not.toThrow();
    const refused = (() => {
      try {
        assertTransactionFits(['LOCK t', statementOf(MAX_STATEMENT_BYTES + 1)]);
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(refused).toBeInstanceOf(PermanentWarehouseError);
    expect(refused).toMatchObject({ code: 'StatementTooLarge', blame: 'setup' });
    expect((refused as Error).message).toMatch(/Statement 2 of 2 is 100001 bytes/);
  });

  it('counts multi-byte characters: fewer than 100,000 characters can be too large', () => {
    const sql = statementOf(MAX_STATEMENT_BYTES + 2, 'é');
    expect(sql.length).toBeLessThan(MAX_STATEMENT_BYTES);
    expect(() => assertTransactionFits([sql])).toThrow(/100 kB/);
  });

  it(`accepts ${MAX_TRANSACTION_STATEMENTS} statements and refuses ${MAX_TRANSACTION_STATEMENTS + 1} or none`, () => {
    const many = (count: number) => Array.from({ length: count }, (_, index) => `SELECT ${index}`);
    expect(() => assertTransactionFits(many(MAX_TRANSACTION_STATEMENTS))).not.toThrow();
    expect(() => assertTransactionFits(many(MAX_TRANSACTION_STATEMENTS + 1))).toThrow(
      expect.objectContaining({ code: 'TooManyStatements' }),
    );
    expect(() => assertTransactionFits([])).toThrow(/at least one/);
  });
});
