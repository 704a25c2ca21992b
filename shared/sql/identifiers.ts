import { IDENTIFIER_PATTERN } from '../config/validate.ts';

/** A name this project may put into SQL is not acceptable; the message says which and why. */
export class SqlIdentifierError extends Error {
  override readonly name = 'SqlIdentifierError';
}

/**
 * Checks a name we create or refer to (schema, table, column, user). Only lower-case
 * unquoted-style names are accepted, so a name means the same thing quoted or unquoted
 * in both Redshift and PostgreSQL, and nothing a user types can close the quotes.
 */
export function assertIdentifier(name: string, what = 'identifier'): string {
  if (!IDENTIFIER_PATTERN.test(name)) {
    throw new SqlIdentifierError(
      `Invalid ${what} ${JSON.stringify(name)}: expected lower-case letters, digits and underscores, not starting with a digit, at most 127 characters (${IDENTIFIER_PATTERN}). Choose a name of that form.`,
    );
  }
  return name;
}

/**
 * `"name"` for a checked name. Always quoted, so a schema or column that happens to be a
 * reserved word (`user`, `data`, `plan`) still works.
 */
export function quoteIdent(name: string, what?: string): string {
  return `"${assertIdentifier(name, what)}"`;
}

/** `"schema"."table"` */
export function qualifiedName(schema: string, table: string): string {
  return `${quoteIdent(schema, 'schema')}.${quoteIdent(table, 'table')}`;
}

/**
 * A SQL string literal. Quotes are doubled. NUL cannot be stored by either warehouse, and a
 * backslash is an escape character in Redshift literals but not in PostgreSQL ones, so the
 * same literal would mean two different things: both are refused rather than guessed at.
 * The values we quote (batch ids, load ids, URLs, role ARNs) never contain either.
 */
export function quoteLiteral(value: string, what = 'value'): string {
  if (value.includes('\u0000')) {
    throw new SqlIdentifierError(
      `Invalid ${what}: it contains a NUL character, which SQL text cannot carry.`,
    );
  }
  if (value.includes('\\')) {
    throw new SqlIdentifierError(
      `Invalid ${what} ${JSON.stringify(value)}: backslashes are not accepted in SQL literals (Redshift and PostgreSQL read them differently).`,
    );
  }
  return `'${value.replaceAll("'", "''")}'`;
}

/** A whole number for SQL text; refuses anything that is not a safe integer. */
export function integerLiteral(value: number, what = 'number'): string {
  if (!Number.isSafeInteger(value)) {
    throw new SqlIdentifierError(`Invalid ${what} ${String(value)}: expected a whole number.`);
  }
  return String(value);
}
