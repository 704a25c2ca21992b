import { describe, expect, it } from 'vitest';
import {
  classifyKey,
  MAX_LOGGED_TEXT,
  redact,
  sanitizedErrorFor,
  sanitizeError,
  sanitizeText,
  WITHHELD,
} from '#shared/observability/redact.ts';
import { PermanentWarehouseError } from '#shared/warehouse/sql-runner.ts';

const MARKER = 'MARKER-7d1e';
const PASSWORD = 'PW-5f3a-never-log';

describe('sanitizeText', () => {
  it('cuts single-quoted SQL literals but keeps apostrophes inside words', () => {
    expect(sanitizeText(`Invalid digit, Value '${MARKER}', Pos 0`)).toBe(
      `Invalid digit, Value ${WITHHELD.literal}, Pos 0`,
    );
    expect(sanitizeText("the Lambda's role can't read it")).toBe("the Lambda's role can't read it");
    expect(sanitizeText(`x = 'it''s ${MARKER}' and y`)).not.toContain(MARKER);
  });

  it('cuts the value PostgreSQL quotes in a data error', () => {
    const text = sanitizeText(`invalid input syntax for type bigint: "${MARKER}"`);
    expect(text).toBe(`invalid input syntax for type bigint: ${WITHHELD.value}`);
    expect(
      sanitizeText(
        `duplicate key value violates unique constraint "k" Key (uuid)=(${MARKER}) already exists`,
      ),
    ).not.toContain(MARKER);
  });

  it('cuts the text V8 quotes from a line that is not JSON, whole or shortened', () => {
    for (const line of [`{"n": ${MARKER}}`, `{"event_properties": {"note": ${MARKER}, "more": "padding"}}`]) {
      let message = '';
      try {
        JSON.parse(line);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toContain('MARKER');
      expect(sanitizeText(message)).not.toContain('MARKER');
    }
  });

  it('withholds SQL text whole', () => {
    expect(sanitizeText(`INSERT INTO amplitude.events_1 VALUES ('${MARKER}')`)).toBe(WITHHELD.sql);
    expect(sanitizeText(`select * from t where x = 1`)).toBe(WITHHELD.sql);
    expect(sanitizeText('Select the stack output and run it')).toBe('Select the stack output and run it');
    expect(sanitizeText('Set exactly one of A and B.')).toBe('Set exactly one of A and B.');
  });

  it('cuts the credentials of a connection URL', () => {
    const text = sanitizeText(`could not connect to postgres://export:${PASSWORD}@db.internal:5439/dev`);
    expect(text).toBe('could not connect to postgres://[credentials withheld]@db.internal:5439/dev');
  });

  it('caps long text', () => {
    expect(sanitizeText('x'.repeat(MAX_LOGGED_TEXT + 500))).toHaveLength(MAX_LOGGED_TEXT + 1);
  });
});

describe('classifyKey', () => {
  it('knows secrets, SQL and event content by name, whatever the case or separators', () => {
    expect(classifyKey('password')).toBe('secret');
    expect(classifyKey('dbPassword')).toBe('secret');
    expect(classifyKey('SecretString')).toBe('secret');
    expect(classifyKey('secretArn')).toBe('plain');
    expect(classifyKey('Sqls')).toBe('sql');
    expect(classifyKey('statements')).toBe('sql');
    expect(classifyKey('statementId')).toBe('plain');
    expect(classifyKey('event_properties')).toBe('data');
    expect(classifyKey('batchId')).toBe('plain');
  });
});

describe('redact', () => {
  it('withholds by key at any depth and keeps figures under data-like names', () => {
    const value = redact({
      secret: { username: 'export', password: PASSWORD },
      nested: [{ statements: [`COPY x FROM '${MARKER}'`, 'COMMIT'] }],
      event: { event_properties: { note: MARKER }, line: `{"note":"${MARKER}"}` },
      summary: { lines: 12, rows: 10 },
    }) as Record<string, unknown>;
    const text = JSON.stringify(value);
    expect(text).not.toContain(MARKER);
    expect(text).not.toContain(PASSWORD);
    expect(value.summary).toEqual({ lines: 12, rows: 10 });
    expect((value.nested as { statements: unknown }[])[0]?.statements).toBe('[2 SQL statements withheld]');
  });
});

describe('sanitizeError and sanitizedErrorFor', () => {
  it('keeps name, code and stack frames, and drops fields drivers hang row data on', () => {
    const cause = Object.assign(new Error(`duplicate value '${MARKER}'`), { detail: MARKER, where: MARKER });
    const error = new PermanentWarehouseError(`load failed near '${MARKER}'`, 'StatementFailed', { cause });
    const facts = sanitizeError(error);
    expect(facts.name).toBe('PermanentWarehouseError');
    expect(facts.code).toBe('StatementFailed');
    expect(facts.stack).toMatch(/^\s+at /);
    expect(JSON.stringify(facts)).not.toContain(MARKER);
    expect((facts.cause as { message: string }).message).toBe(`duplicate value ${WITHHELD.literal}`);
  });

  it('rethrows with the same name and code, so Step Functions Retry and Catch still match', () => {
    const clean = sanitizedErrorFor(
      Object.assign(new Error(`secret was ${JSON.stringify({ password: PASSWORD })} '${MARKER}'`), {
        name: 'RetryableWarehouseError',
        code: 'ThrottlingException',
      }),
    );
    expect(clean.name).toBe('RetryableWarehouseError');
    expect((clean as { code?: string }).code).toBe('ThrottlingException');
    expect(clean.message).not.toContain(MARKER);
    expect(String(clean.stack)).not.toContain(MARKER);
  });
});
