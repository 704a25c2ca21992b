import type { FailureClass } from './failure-class.ts';
import { withholdQuoted } from './load-errors.ts';
import { PermanentWarehouseError, RetryableWarehouseError } from './sql-runner.ts';
import { UNRECOGNIZED_RULE } from './statement-rules.ts';

export type WarehouseError = RetryableWarehouseError | PermanentWarehouseError;

interface SqlStateRule {
  readonly test: (code: string) => boolean;
  readonly failureClass: FailureClass;
  readonly advice: string;
}

// SQLSTATEs: https://www.postgresql.org/docs/current/errcodes-appendix.html. The first match wins.
const RULES: readonly SqlStateRule[] = [
  {
    test: (code) => code === '40001',
    failureClass: 'transient',
    advice: 'A concurrent transaction changed the same rows (serialization failure); the work is retried.',
  },
  {
    test: (code) => code === '40P01',
    failureClass: 'transient',
    advice: 'Two transactions waited on each other (deadlock); the work is retried.',
  },
  {
    test: (code) => code === '55P03',
    failureClass: 'transient',
    advice: 'A lock was not available in time; the work is retried.',
  },
  {
    test: (code) => code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03',
    failureClass: 'transient',
    advice: 'The connection to PostgreSQL was lost or refused; the work is retried.',
  },
  {
    test: (code) => code === '53100',
    failureClass: 'systemic',
    advice:
      'PostgreSQL ran out of disk space. Free space on its data directory, then retry; no batch was blamed.',
  },
  {
    test: (code) => code.startsWith('53'),
    failureClass: 'transient',
    advice: 'PostgreSQL ran out of a resource (connections or memory); the work is retried.',
  },
  {
    test: (code) => code === '57014',
    failureClass: 'transient',
    advice: 'The statement was cancelled (statement timeout or an operator); the work is retried.',
  },
  {
    test: (code) => code === '28P01' || code === '28000',
    failureClass: 'systemic',
    advice:
      'PostgreSQL refused the user or password of the database URL. Fix the credentials in --database-url.',
  },
  {
    test: (code) => code === '42501',
    failureClass: 'systemic',
    advice:
      'The database user lacks a privilege. Run the grants printed by `redshift-export setup-sql` (PostgreSQL dialect) as a superuser.',
  },
  {
    test: (code) => code === '42P01' || code === '3F000' || code === '42703',
    failureClass: 'systemic',
    advice:
      'A schema, table or column the export needs is missing. Run the SQL printed by `redshift-export setup-sql` (PostgreSQL dialect).',
  },
  {
    test: (code) => code === '3D000',
    failureClass: 'systemic',
    advice: 'The database in the database URL is missing. Create it or fix the URL.',
  },
  {
    test: (code) => code.startsWith('42') || code.startsWith('0A'),
    failureClass: 'systemic',
    advice: 'PostgreSQL refused the SQL text: a bug in the export. Please report it with this message.',
  },
  {
    test: (code) => code.startsWith('22'),
    failureClass: 'batch',
    advice: 'PostgreSQL rejected a value (data exception); the staged data does not fit the table.',
  },
  {
    test: (code) => code.startsWith('23'),
    failureClass: 'batch',
    advice: 'A constraint of the table rejected a row.',
  },
];

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EAI_AGAIN',
]);

interface PgLikeError {
  readonly code?: unknown;
  readonly message?: unknown;
  readonly where?: unknown;
}

/** The SQLSTATE of a `pg` error, when it has one. */
export function sqlStateOf(error: unknown): string | undefined {
  const code = (error as PgLikeError | undefined)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * Maps an error from `pg` to a typed warehouse error. `context` says which statement it was
 * (never the SQL text, which may carry literal values).
 */
export function warehouseErrorFromPg(error: unknown, context: string): WarehouseError {
  if (error instanceof RetryableWarehouseError || error instanceof PermanentWarehouseError) {
    return error instanceof RetryableWarehouseError
      ? new RetryableWarehouseError(`${context}: ${error.message}`, error.code, { cause: error })
      : new PermanentWarehouseError(`${context}: ${error.message}`, error.code, {
          cause: error,
          blame: error.blame,
        });
  }
  const raw = error instanceof Error ? error.message : String(error);
  const state = sqlStateOf(error);
  if (state) {
    // A data exception quotes the rejected value (`invalid input syntax for type bigint: "..."`);
    // Redshift's error text names no value, and neither does this one (nor what describe() says).
    const text = state.startsWith('22') || state.startsWith('23') ? withholdQuoted(raw) : raw;
    const rule = RULES.find((candidate) => candidate.test(state));
    const line = copyLineOf(error);
    const message = `${context} failed in PostgreSQL [SQLSTATE ${state}]: ${text}${line}. ${
      rule?.advice ?? UNRECOGNIZED_RULE.advice
    }`;
    const failureClass = rule?.failureClass ?? UNRECOGNIZED_RULE.failureClass;
    return failureClass === 'transient'
      ? new RetryableWarehouseError(message, state, { cause: error })
      : new PermanentWarehouseError(message, state, {
          cause: error,
          blame: failureClass === 'batch' ? 'batch' : 'setup',
        });
  }
  const text = raw;
  const code = (error as PgLikeError | undefined)?.code;
  if ((typeof code === 'string' && NETWORK_CODES.has(code)) || /Connection terminated/i.test(text)) {
    return new RetryableWarehouseError(
      `${context} could not reach PostgreSQL (${text}). Check that the server is running; the work is retried.`,
      typeof code === 'string' ? code : 'ConnectionLost',
      { cause: error },
    );
  }
  // Never seen before: the safe default, which blames nothing and retries later.
  return new RetryableWarehouseError(
    `${context} failed: ${text}. ${UNRECOGNIZED_RULE.advice}`,
    UNRECOGNIZED_RULE.code,
    { cause: error },
  );
}

// `where` reads `COPY t, line 3, column c: "<value>"`: keep the position, drop the value.
function copyLineOf(error: unknown): string {
  const where = (error as PgLikeError | undefined)?.where;
  if (typeof where !== 'string') return '';
  const match = /COPY [^,]+, line (\d+)(?:, column ([^:]+))?/.exec(where);
  if (!match) return '';
  return ` (line ${match[1]}${match[2] ? `, column ${match[2]}` : ''})`;
}
