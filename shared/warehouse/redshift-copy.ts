/**
 * Reads the Redshift `COPY ... FROM '<manifest>' IAM_ROLE ... MANIFEST CSV ...` statement the
 * load transaction contains, so the PostgreSQL runner can carry it out itself. Only what the
 * runner can reproduce faithfully is accepted; anything else is refused with a clear error,
 * never skipped.
 */

/** A COPY statement the local runner cannot carry out as Redshift would. */
export class CopyStatementError extends Error {
  override readonly name = 'CopyStatementError';
}

export interface RedshiftCopy {
  /** Table as written (`"schema"."table"`, `stage_x`), safe to reuse in SQL. */
  readonly table: string;
  /** Column list as written, each safe to reuse in SQL; `undefined` when the statement has none. */
  readonly columns?: readonly string[];
  /** URL of the manifest (`s3://...` or `file:///...`). */
  readonly manifestUrl: string;
  /** Role ARN(s), or `default` for the cluster's default role. Not used locally, but required as Redshift does. */
  readonly iamRole: string;
  readonly gzip: boolean;
  readonly delimiter: string;
  readonly quote: string;
  /** `NULL AS` string. */
  readonly nullAs?: string;
  readonly ignoreHeader: 0 | 1;
  readonly emptyAsNull: boolean;
}

type Token =
  | { readonly kind: 'word'; readonly upper: string; readonly text: string }
  | { readonly kind: 'ident'; readonly text: string }
  | { readonly kind: 'string'; readonly value: string; readonly text: string }
  | { readonly kind: 'number'; readonly value: number; readonly text: string }
  | { readonly kind: 'punct'; readonly text: string };

const SYNTAX =
  "COPY <table> [(<column>, ...)] FROM '<manifest url>' IAM_ROLE {'<arn>' | default} MANIFEST [FORMAT [AS]] CSV [QUOTE [AS] '<c>'] [DELIMITER [AS] '<c>'] [NULL AS '<s>'] [GZIP] [IGNOREHEADER 0|1] [EMPTYASNULL] [ENCODING UTF8]";

function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const fail = (what: string): never => {
    throw new CopyStatementError(`${what} at character ${i + 1} of the COPY statement.`);
  };
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (sql.startsWith('--', i)) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
    } else if (sql.startsWith('/*', i)) {
      const end = sql.indexOf('*/', i + 2);
      if (end === -1) fail('Unterminated comment');
      i = end + 2;
    } else if (c === "'" || c === '"') {
      // Both quote styles double the quote character to escape it; backslash is not special.
      const start = i;
      let value = '';
      i++;
      for (;;) {
        const next = sql.indexOf(c, i);
        if (next === -1) {
          i = start;
          fail(c === "'" ? 'Unterminated string literal' : 'Unterminated quoted identifier');
        }
        value += sql.slice(i, next);
        if (sql[next + 1] === c) {
          value += c;
          i = next + 2;
        } else {
          i = next + 1;
          break;
        }
      }
      const text = sql.slice(start, i);
      if (c === "'") tokens.push({ kind: 'string', value, text });
      else if (value === '') fail('Empty quoted identifier');
      else tokens.push({ kind: 'ident', text });
    } else if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(sql.slice(i))!;
      tokens.push({ kind: 'word', upper: match[0].toUpperCase(), text: match[0] });
      i += match[0].length;
    } else if (/[0-9]/.test(c)) {
      const match = /^[0-9]+/.exec(sql.slice(i))!;
      tokens.push({ kind: 'number', value: Number(match[0]), text: match[0] });
      i += match[0].length;
    } else if ('(),.;'.includes(c)) {
      tokens.push({ kind: 'punct', text: c });
      i++;
    } else {
      fail(`Unexpected character ${JSON.stringify(c)}`);
    }
  }
  return tokens;
}

/** True when the statement's first word is COPY (comments and whitespace aside). */
export function isCopyStatement(sql: string): boolean {
  return /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*copy\b/i.test(sql);
}

const IGNORED_SWITCHES = new Set(['TRUNCATECOLUMNS']);
const ON_OFF = new Set(['ON', 'OFF', 'TRUE', 'FALSE', 'PRESET']);
// Timestamps and dates are staged in ISO form, which both warehouses read without a format.
const ISO_FORMATS = new Set(['auto', 'YYYY-MM-DD HH:MI:SS', 'YYYY-MM-DD']);

class Parser {
  #at = 0;
  constructor(readonly tokens: readonly Token[]) {}

  peek(): Token | undefined {
    return this.tokens[this.#at];
  }
  next(): Token | undefined {
    return this.tokens[this.#at++];
  }
  fail(expected: string): never {
    const token = this.tokens[this.#at - 1];
    const near = token
      ? ` near ${token.kind === 'string' ? 'a string literal' : JSON.stringify(token.text)}`
      : '';
    throw new CopyStatementError(`Expected ${expected}${near} (token ${this.#at}).`);
  }
  isWord(upper: string): boolean {
    const token = this.peek();
    return token?.kind === 'word' && token.upper === upper;
  }
  isPunct(text: string): boolean {
    const token = this.peek();
    return token?.kind === 'punct' && token.text === text;
  }
  word(upper: string): void {
    const token = this.next();
    if (token?.kind !== 'word' || token.upper !== upper) this.fail(upper);
  }
  optionalAs(): void {
    if (this.isWord('AS')) this.next();
  }
  string(what: string): string {
    const token = this.next();
    if (token?.kind !== 'string') this.fail(`${what} as a string literal`);
    return token.value;
  }
  number(what: string): number {
    const token = this.next();
    if (token?.kind !== 'number') this.fail(`${what} as a whole number`);
    return token.value;
  }
  name(what: string): string {
    const token = this.next();
    if (token?.kind === 'ident') return token.text;
    if (token?.kind === 'word') return token.text;
    return this.fail(what);
  }
  done(): boolean {
    if (this.isPunct(';')) this.next();
    return this.peek() === undefined;
  }
}

function singleCharacter(value: string, what: string): string {
  if ([...value].length !== 1)
    throw new CopyStatementError(`${what} must be one character, got ${value.length}.`);
  return value;
}

/** Parses a Redshift COPY statement of the form the load SQL writes. Throws `CopyStatementError`. */
export function parseRedshiftCopy(sql: string): RedshiftCopy {
  try {
    return parse(new Parser(tokenize(sql)));
  } catch (error) {
    if (error instanceof CopyStatementError) {
      throw new CopyStatementError(
        `The local PostgreSQL runner cannot carry out this COPY statement: ${error.message} It understands ${SYNTAX}.`,
      );
    }
    throw error;
  }
}

function parse(p: Parser): RedshiftCopy {
  p.word('COPY');
  const parts = [p.name('a table name')];
  while (p.isPunct('.')) {
    p.next();
    parts.push(p.name('a table name after "."'));
  }
  if (parts.length > 3) p.fail('at most database.schema.table');
  const table = parts.join('.');

  let columns: string[] | undefined;
  if (p.isPunct('(')) {
    p.next();
    columns = [p.name('a column name')];
    while (p.isPunct(',')) {
      p.next();
      columns.push(p.name('a column name'));
    }
    if (!p.isPunct(')')) p.fail('")" after the column list');
    p.next();
  }

  p.word('FROM');
  const manifestUrl = p.string('the manifest URL after FROM');

  const seen = new Set<string>();
  let iamRole: string | undefined;
  let manifest = false;
  let csv = false;
  let gzip = false;
  let quote = '"';
  let delimiter = ',';
  let nullAs: string | undefined;
  let ignoreHeader: 0 | 1 = 0;
  let emptyAsNull = false;

  while (!p.done()) {
    const token = p.next()!;
    if (token.kind !== 'word') p.fail('a COPY option');
    const option = token.upper;
    const key = option === 'FORMAT' ? 'CSV' : option;
    if (seen.has(key)) throw new CopyStatementError(`COPY option ${option} is given twice.`);
    seen.add(key);
    switch (option) {
      case 'IAM_ROLE': {
        if (p.isWord('DEFAULT')) {
          p.next();
          iamRole = 'default';
        } else {
          iamRole = p.string('the role ARN after IAM_ROLE (or the word default)');
        }
        break;
      }
      case 'MANIFEST':
        manifest = true;
        break;
      case 'FORMAT': {
        p.optionalAs();
        const format = p.next();
        if (format?.kind !== 'word' || format.upper !== 'CSV') {
          throw new CopyStatementError(
            `Only FORMAT CSV is supported locally, got ${JSON.stringify(format?.text ?? 'nothing')}.`,
          );
        }
        csv = true;
        break;
      }
      case 'CSV':
        csv = true;
        break;
      case 'QUOTE':
        p.optionalAs();
        quote = singleCharacter(p.string('the QUOTE character'), 'QUOTE');
        break;
      case 'DELIMITER':
        p.optionalAs();
        delimiter = singleCharacter(p.string('the DELIMITER character'), 'DELIMITER');
        break;
      case 'NULL':
        p.optionalAs();
        nullAs = p.string('the NULL AS string');
        break;
      case 'GZIP':
        gzip = true;
        break;
      case 'IGNOREHEADER': {
        p.optionalAs();
        const lines = p.number('the IGNOREHEADER line count');
        if (lines !== 0 && lines !== 1) {
          throw new CopyStatementError(`IGNOREHEADER ${lines} is not supported locally (only 0 or 1).`);
        }
        ignoreHeader = lines;
        break;
      }
      case 'EMPTYASNULL':
        emptyAsNull = true;
        break;
      case 'ENCODING': {
        p.optionalAs();
        const encoding = p.next();
        if (encoding?.kind !== 'word' || encoding.upper !== 'UTF8') {
          throw new CopyStatementError('Only ENCODING UTF8 is supported locally.');
        }
        break;
      }
      case 'TIMEFORMAT':
      case 'DATEFORMAT': {
        p.optionalAs();
        const format = p.string(`the ${option} string`);
        if (!ISO_FORMATS.has(format)) {
          throw new CopyStatementError(
            `${option} ${JSON.stringify(format)} is not supported locally; stage ISO values and use 'auto'.`,
          );
        }
        break;
      }
      case 'ACCEPTINVCHARS':
        // Staged text is valid UTF-8 already; PostgreSQL would reject anything else, which is stricter.
        if (p.isWord('AS')) {
          p.next();
          p.string('the ACCEPTINVCHARS replacement character');
        } else if (p.peek()?.kind === 'string') {
          p.next();
        }
        break;
      case 'COMPUPDATE':
      case 'STATUPDATE': {
        const value = p.peek();
        if (value?.kind === 'word' && ON_OFF.has(value.upper)) p.next();
        break;
      }
      case 'REGION':
        p.optionalAs();
        p.string('the REGION name');
        break;
      case 'MAXERROR': {
        p.optionalAs();
        const errors = p.number('the MAXERROR count');
        if (errors !== 0) {
          throw new CopyStatementError(`MAXERROR ${errors} is not supported locally: every row must load.`);
        }
        break;
      }
      default:
        if (IGNORED_SWITCHES.has(option)) break;
        throw new CopyStatementError(`COPY option ${option} is not supported locally.`);
    }
  }

  if (!iamRole)
    throw new CopyStatementError('The statement has no IAM_ROLE clause, which Redshift requires.');
  if (!manifest)
    throw new CopyStatementError('The statement has no MANIFEST option; only manifest loads are supported.');
  if (!csv) throw new CopyStatementError('The statement has no CSV / FORMAT AS CSV option.');
  if (quote === delimiter) throw new CopyStatementError('QUOTE and DELIMITER must differ.');
  if (emptyAsNull && nullAs !== undefined) {
    throw new CopyStatementError('EMPTYASNULL together with NULL AS is not supported locally.');
  }
  if (emptyAsNull && !columns) {
    throw new CopyStatementError('EMPTYASNULL needs an explicit column list locally.');
  }
  return {
    table,
    ...(columns ? { columns } : {}),
    manifestUrl,
    iamRole,
    gzip,
    delimiter,
    quote,
    ...(nullAs !== undefined ? { nullAs } : {}),
    ignoreHeader,
    emptyAsNull,
  };
}

/** A PostgreSQL string literal (standard_conforming_strings, the default since 9.1). */
function pgLiteral(value: string): string {
  if (value.includes('\u0000')) throw new CopyStatementError('COPY options cannot contain NUL characters.');
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * PostgreSQL `COPY ... FROM STDIN` options that read the staged CSV as the Redshift options
 * say: same delimiter and quote, same NULL marker, header line skipped per file.
 */
export function postgresCopyOptions(copy: RedshiftCopy): string[] {
  const options = ['FORMAT csv', `DELIMITER ${pgLiteral(copy.delimiter)}`, `QUOTE ${pgLiteral(copy.quote)}`];
  if (copy.nullAs !== undefined) options.push(`NULL ${pgLiteral(copy.nullAs)}`);
  options.push("ENCODING 'UTF8'");
  if (copy.ignoreHeader === 1) options.push('HEADER true');
  // PostgreSQL already reads an unquoted empty field as NULL; EMPTYASNULL also covers `""`.
  if (copy.emptyAsNull && copy.columns) options.push(`FORCE_NULL (${copy.columns.join(', ')})`);
  return options;
}

/** The `COPY ... FROM STDIN` statement that one staged file is streamed into. */
export function postgresCopyFromStdin(copy: RedshiftCopy): string {
  const columns = copy.columns ? ` (${copy.columns.join(', ')})` : '';
  return `COPY ${copy.table}${columns} FROM STDIN (${postgresCopyOptions(copy).join(', ')})`;
}
