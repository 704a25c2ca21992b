import { spawnSync } from 'node:child_process';
import { type LocalContext, withoutPassword } from './context.ts';

/**
 * The lines that tell a person how to query a local run's database: the exact `psql` command
 * for the server actually used (its real port), never the password. For the embedded server
 * the command names a password file in --home, so it connects without asking; for
 * --database-url, psql asks.
 */

/** Where a local run's database is. */
export interface LocalConnection {
  readonly databaseUrl: string;
  /** libpq password file of the embedded server (absent for --database-url). */
  readonly passfile?: string | undefined;
}

/** `psql '<url without password>[?passfile=...]'`, quoted for a POSIX shell. */
function psqlCommand({ databaseUrl, passfile }: LocalConnection): string {
  const url = withoutPassword(databaseUrl, '');
  // libpq reads connection parameters from the URI's query, percent-decoded
  // (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS).
  const query = passfile
    ? `?passfile=${encodeURIComponent(passfile).replaceAll('%2F', '/').replaceAll("'", '%27')}`
    : '';
  return `psql '${url}${query}'`;
}

/** The connect line, a query to try on `table` when given, and what to do without psql. */
export function connectLines(connection: LocalConnection, table?: string): string {
  const asks = connection.passfile ? '' : '  (psql asks for the password)';
  const lines = [`  connect: ${psqlCommand(connection)}${asks}`];
  if (table)
    lines.push(`  try:     SELECT event_type, count(*) FROM ${table} GROUP BY 1 ORDER BY 2 DESC LIMIT 10;`);
  if (!psqlInstalled()) {
    const url = new URL(withoutPassword(connection.databaseUrl, ''));
    lines.push(
      `  psql is not installed here (Debian/Ubuntu: apt-get install postgresql-client). Any PostgreSQL client connects with host ${url.hostname}, port ${url.port || '5432'}, user ${decodeURIComponent(url.username)}, database ${decodeURIComponent(url.pathname.slice(1))}${connection.passfile ? `, and the password in ${connection.passfile}` : ''}.`,
    );
  }
  return `${lines.join('\n')}\n`;
}

let installed: boolean | undefined;

function psqlInstalled(): boolean {
  installed ??= spawnSync('psql', ['--version'], { stdio: 'ignore' }).error === undefined;
  return installed;
}

/** The connection of a local run, and its events table to try a query on. */
export function connectHint(context: LocalContext): string {
  return connectLines(
    { databaseUrl: context.databaseUrl, passfile: context.embedded?.passfile },
    `${context.settings.schema}.events_${context.settings.projectId}`,
  );
}

/**
 * What `local --once` ends with: how to query what it loaded. Its own embedded server stops
 * with it, so that is `local serve` on the same --home (the port it will use is printed
 * then); a server that outlives the run (shared, or --database-url) is named directly.
 */
export function queryHint(context: LocalContext): string {
  const { embedded } = context;
  if (embedded && !embedded.shared) {
    return `To query what it loaded: npx redshift-export local serve --home ${shellWord(context.home)}
  (this run's PostgreSQL, on port ${embedded.port}, stops when the run ends; \`local serve\` keeps it running and prints its psql line)
`;
  }
  return `To query what it loaded${embedded ? ` (the PostgreSQL on port ${embedded.port} keeps running)` : ''}:
${connectHint(context)}`;
}

/** A path as one word of a POSIX shell command. */
function shellWord(text: string): string {
  return /^[\w./@%+=:,-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}
