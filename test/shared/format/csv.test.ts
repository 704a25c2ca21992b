import { describe, expect, it } from 'vitest';
import {
  CSV_NULL_MARKER,
  CsvEncodingError,
  encodeCsvRow,
  POSTGRES_COPY_OPTIONS,
  REDSHIFT_COPY_FORMAT_OPTIONS,
  REDSHIFT_MAX_ROW_BYTES,
} from '#shared/format/csv.ts';
import { BATCH_ID_COLUMN, type Column, EVENT_COLUMNS, MERGE_ID_COLUMNS } from '#shared/schema/columns.ts';

describe('encodeCsvRow', () => {
  it.each([
    ['plain text', 'abc', '"abc"'],
    ['empty string', '', '""'],
    ['double quotes', 'A "quoted" word', '"A ""quoted"" word"'],
    ['only quotes', '""', '""""""'],
    ['comma', 'a,b', '"a,b"'],
    ['LF', 'line1\nline2', '"line1\nline2"'],
    ['CRLF', 'line1\r\nline2', '"line1\r\nline2"'],
    ['lone CR', 'line1\rline2', '"line1\rline2"'],
    ['backslashes', 'C:\\dir\\', '"C:\\dir\\"'],
    ['literal \\N', '\\N', '"\\N"'],
    ['end-of-data marker \\.', '\\.', '"\\."'],
    ['literal NULL', 'NULL', '"NULL"'],
    ['literal null', 'null', '"null"'],
    ['emoji and astral characters', '😀 𝄞 👩‍👩‍👧', '"😀 𝄞 👩‍👩‍👧"'],
    ['surrounding spaces', '  x  ', '"  x  "'],
    ['JSON text', '{"a":"b,c","n":[1,null]}', '"{""a"":""b,c"",""n"":[1,null]}"'],
    ['JSON string with escapes', '"line\\n\\"q\\""', '"""line\\n\\""q\\"""""'],
  ])('quotes %s', (_name, value, field) => {
    expect(encodeCsvRow([value])).toBe(`${field}\n`);
  });

  it('writes NULL as the bare marker and keeps it apart from the empty string', () => {
    expect(encodeCsvRow([null, '', null])).toBe(`${CSV_NULL_MARKER},"",${CSV_NULL_MARKER}\n`);
  });

  it('joins several values with commas and ends the line with one LF', () => {
    const line = encodeCsvRow(['1', 'two', null, '{"x":1}']);
    expect(line).toBe(`"1","two",${CSV_NULL_MARKER},"{""x"":1}"\n`);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.indexOf('\n')).toBe(line.length - 1);
  });

  it('refuses U+0000 and names the column without echoing the value', () => {
    const secret = 'card-4111\u0000tail';
    let error: unknown;
    try {
      encodeCsvRow(['ok', secret]);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(CsvEncodingError);
    expect((error as CsvEncodingError).column).toBe(1);
    expect((error as Error).message).toMatch(/U\+0000/);
    expect((error as Error).message).not.toContain('card-4111');
  });

  it('refuses a text value equal to the NULL marker, which Redshift would read as NULL', () => {
    expect(() => encodeCsvRow(['a', CSV_NULL_MARKER])).toThrow(CsvEncodingError);
    expect(() => encodeCsvRow(['a', CSV_NULL_MARKER])).toThrow(/column 1: the value equals the NULL marker/);
    expect(encodeCsvRow([`${CSV_NULL_MARKER} `])).toBe(`"${CSV_NULL_MARKER} "\n`);
  });

  it('refuses an empty row and values that are not strings', () => {
    expect(() => encodeCsvRow([])).toThrow(/at least one value/);
    expect(() => encodeCsvRow([42 as unknown as string])).toThrow(/expected a string or null, got number/);
    expect(() => encodeCsvRow([undefined as unknown as string])).toThrow(/got undefined/);
  });
});

describe('COPY options', () => {
  it('declare the same NULL marker, quote and delimiter to both warehouses', () => {
    expect(REDSHIFT_COPY_FORMAT_OPTIONS).toBe(
      `FORMAT AS CSV QUOTE AS '"' DELIMITER AS ',' NULL AS '~NULL~' TIMEFORMAT 'YYYY-MM-DD HH:MI:SS' ENCODING AS UTF8 GZIP`,
    );
    expect(POSTGRES_COPY_OPTIONS).toBe(
      `(FORMAT csv, DELIMITER ',', QUOTE '"', NULL '~NULL~', ENCODING 'UTF8')`,
    );
    expect(CSV_NULL_MARKER).toBe('~NULL~');
  });

  it('use a marker that needs no escaping in a SQL literal or a CSV field', () => {
    expect(CSV_NULL_MARKER).toMatch(/^[\x21-\x7e]+$/);
    expect(CSV_NULL_MARKER).not.toMatch(/[\\'",]/);
  });

  it.each([
    ['events', EVENT_COLUMNS],
    ['merge_ids', MERGE_ID_COLUMNS],
  ])('keep the largest possible %s row under Redshift COPY row limit', (_feed, columns) => {
    // Every byte-limited value full of quotes (doubled when encoded); other kinds are short.
    const fixedWidth: Record<Column['kind'], number> = {
      string: 0,
      json: 0,
      bigint: 20,
      double: 24,
      boolean: 5,
      timestamp: 26,
      epoch_ms: 26,
    };
    const worst = [...columns, { name: BATCH_ID_COLUMN, kind: 'string', byteLimit: 128 } as Column].reduce(
      (sum, column) => sum + 2 * (column.byteLimit ?? fixedWidth[column.kind]) + 3,
      1,
    );
    expect(worst).toBeLessThan(REDSHIFT_MAX_ROW_BYTES);
  });
});
