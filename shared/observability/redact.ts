/**
 * What may reach a log line, a trace or an error message a Lambda throws. Three things never
 * may: secret values (passwords, keys, tokens), SQL text (the load SQL carries ids only, but
 * a query built from data could carry values), and event data (raw lines, property dicts,
 * values the warehouse quotes back in its errors).
 *
 * Two layers: by key (a field named `password`, `statements`, `event_properties` is withheld
 * whatever it holds) and by text (quoted literals are cut from every string, since database
 * and JSON errors quote the offending value).
 */

/** Longest string kept in a log field; error texts are long enough at this length. */
export const MAX_LOGGED_TEXT = 2000;
const MAX_CAUSE_DEPTH = 3;

export const WITHHELD = {
  secret: '[secret withheld]',
  sql: '[SQL withheld]',
  data: '[event data withheld]',
  literal: "'…'",
  value: '(value withheld)',
} as const;

/** Keys compared lower case with everything but letters and digits removed. */
function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

const SECRET_KEYS = new Set([
  'password',
  'passwd',
  'pwd',
  'secret',
  'secretstring',
  'secretvalue',
  'secretbinary',
  'secretaccesskey',
  'sessiontoken',
  'credentials',
  'authorization',
  'apikey',
  'privatekey',
]);
const SECRET_SUFFIXES = ['password', 'passwd', 'secretkey', 'privatekey', 'apikey', 'sessiontoken'];

const SQL_KEYS = new Set(['sql', 'sqls', 'statement', 'statements', 'querystring', 'sqltext']);

/** Fields that hold an event's own content (Amplitude export keys and our names for a raw line). */
const DATA_KEYS = new Set([
  'line',
  'rawline',
  'record',
  'payload',
  'body',
  'row',
  'eventproperties',
  'userproperties',
  'groupproperties',
  'globaluserproperties',
  'groups',
  'data',
]);

export type KeyClass = 'secret' | 'sql' | 'data' | 'plain';

export function classifyKey(key: string): KeyClass {
  const normal = normalizeKey(key);
  if (SECRET_KEYS.has(normal) || SECRET_SUFFIXES.some((suffix) => normal.endsWith(suffix))) return 'secret';
  if (SQL_KEYS.has(normal)) return 'sql';
  if (DATA_KEYS.has(normal)) return 'data';
  return 'plain';
}

// A literal starts after a non-word character, so apostrophes inside words ("Lambda's") are not taken for one.
const SINGLE_QUOTED = /(^|[^\p{L}\p{N}_'])'(?:[^']|'')*'(?=$|[^\p{L}\p{N}_'])/gu;
// PostgreSQL and Redshift quote a rejected value in double quotes after these phrases.
const QUOTED_VALUE_AFTER =
  /((?:invalid input syntax for (?:type )?[a-z0-9 ()]+|out of range[^:]*|invalid input value[^:]*|value too long[^:]*|invalid byte sequence[^:]*|Key \([^)]*\)|Value|value)\s*[:=]\s*)(?:"(?:[^"]|"")*"|\([^)]*\))/gi;
// V8's JSON.parse errors quote the start of the text: `Unexpected token 'x', "{"a":..." is not valid JSON`.
const JSON_SNIPPET = /"[\s\S]*?"(?:\.\.\.)?(?= is not valid JSON)/g;
// `scheme://user:password@host`: connection strings in driver errors.
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi;
const SQL_TEXT =
  /^\s*(?:select\b[\s\S]*\bfrom\b|insert\s+into\b|update\s+\S+\s+set\b|delete\s+from\b|copy\s+\S+[\s\S]*\bfrom\b|begin\s*(?:;|transaction\b)|create\s+(?:temp|temporary|table|schema|user|view)\b|alter\s+(?:table|user|default)\b|drop\s+(?:table|schema|user)\b|grant\s+\w+[\s\S]*\bto\b|with\s+\w+\s+as\s*\(|merge\s+into\b|unload\s*\(|lock\s+\S+)/i;

/**
 * A string safe to log: SQL text is withheld whole; quoted literals, quoted values and the
 * credentials of connection URLs are cut; the text is capped at `MAX_LOGGED_TEXT`.
 */
export function sanitizeText(text: string): string {
  if (SQL_TEXT.test(text)) return WITHHELD.sql;
  const cut = text
    .replace(URL_CREDENTIALS, '$1[credentials withheld]@')
    .replace(JSON_SNIPPET, '(text withheld)')
    .replace(QUOTED_VALUE_AFTER, `$1${WITHHELD.value}`)
    .replace(SINGLE_QUOTED, `$1${WITHHELD.literal}`);
  return cut.length > MAX_LOGGED_TEXT ? `${cut.slice(0, MAX_LOGGED_TEXT)}…` : cut;
}

/** An error as it may be logged: name, code, sanitized message, stack frames, cause chain. */
export interface SanitizedErrorFacts {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly httpStatusCode?: number;
  readonly requestId?: string;
  /** The stack's frames only: its first line repeats the message. */
  readonly stack?: string;
  readonly cause?: SanitizedErrorFacts | string;
}

/**
 * Only the fields listed in `SanitizedErrorFacts` are kept: database drivers hang row data on
 * errors (`detail`, `where`, `parameters`), and SDK errors their whole response.
 */
export function sanitizeError(error: unknown, depth = 0): SanitizedErrorFacts {
  if (!(error instanceof Error)) {
    return {
      name: 'Error',
      message: sanitizeText(typeof error === 'string' ? error : safeDescription(error)),
    };
  }
  const code = (error as { code?: unknown }).code;
  const metadata = (error as { $metadata?: { httpStatusCode?: unknown; requestId?: unknown } }).$metadata;
  const frames = typeof error.stack === 'string' ? stackFrames(error.stack) : undefined;
  const cause = (error as { cause?: unknown }).cause;
  return {
    name: error.name,
    message: sanitizeText(error.message),
    ...(typeof code === 'string' ? { code } : {}),
    ...(typeof metadata?.httpStatusCode === 'number' ? { httpStatusCode: metadata.httpStatusCode } : {}),
    ...(typeof metadata?.requestId === 'string' ? { requestId: metadata.requestId } : {}),
    ...(frames ? { stack: frames } : {}),
    ...(cause !== undefined
      ? { cause: depth >= MAX_CAUSE_DEPTH ? '(further causes omitted)' : sanitizeError(cause, depth + 1) }
      : {}),
  };
}

function stackFrames(stack: string): string | undefined {
  const frames = stack
    .split('\n')
    .filter((line) => /^\s+at\s/.test(line))
    .join('\n');
  return frames === '' ? undefined : frames;
}

function safeDescription(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'object') return `a thrown ${Array.isArray(value) ? 'array' : 'object'}`;
  return String(value);
}

/**
 * An error to throw in place of `error`: the same name and code (Step Functions Retry/Catch
 * and the loader's error kinds match on them) with the sanitized message, and no cause. The
 * Lambda runtime logs a thrown error by itself, and Step Functions keeps its message in the
 * execution history, so what is thrown must be as clean as what is logged.
 */
export function sanitizedErrorFor(error: unknown): Error {
  const facts = sanitizeError(error);
  const clean = new Error(facts.message);
  Object.defineProperty(clean, 'name', {
    value: facts.name,
    enumerable: false,
    configurable: true,
    writable: true,
  });
  if (facts.code !== undefined) Object.assign(clean, { code: facts.code });
  if (error instanceof Error && typeof error.stack === 'string') {
    clean.stack = `${facts.name}: ${facts.message}\n${stackFrames(error.stack) ?? ''}`.trimEnd();
  }
  return clean;
}

function withheldFor(kind: Exclude<KeyClass, 'plain'>, value: unknown): unknown {
  if (kind === 'sql')
    return Array.isArray(value) ? `[${value.length} SQL statements withheld]` : WITHHELD.sql;
  return kind === 'secret' ? WITHHELD.secret : WITHHELD.data;
}

/**
 * `JSON.stringify` replacer of every log line (Powertools Logger's `jsonReplacerFn`): it is
 * called for every key at every depth, before Powertools' own handling of errors.
 */
export function redactingReplacer(key: string, value: unknown): unknown {
  if (value === null || value === undefined) return value;
  if (key !== '') {
    const kind = classifyKey(key);
    // Counts under data-like names (`lines`, `rows`) are figures, not content.
    if (kind === 'secret' || kind === 'sql') return withheldFor(kind, value);
    if (kind === 'data' && typeof value !== 'number' && typeof value !== 'boolean')
      return withheldFor(kind, value);
  }
  if (value instanceof Error) return sanitizeError(value);
  if (typeof value === 'string') return sanitizeText(value);
  return value;
}

/** A deep copy of `value` with the same redaction the logger applies (for payloads logged elsewhere). */
export function redact<T>(value: T): unknown {
  const text = JSON.stringify(value, redactingReplacer);
  return text === undefined ? undefined : JSON.parse(text);
}
