import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { qualifiedName } from '#shared/sql/identifiers.ts';
import { type CliIo, type Command, UsageError } from '../io.ts';
import { connectLines } from '../local/connect.ts';
import { embeddedServer, startEmbedded } from '../local/context.ts';
import { portIsFree } from '../local/embedded-postgres.ts';
import { parseCommandLine } from '../options.ts';

const HELP = `Usage: redshift-export local serve [--home DIR]

Keeps the embedded PostgreSQL of --home running until Ctrl-C, so you can query what
\`local --once\` or \`local backfill\` loaded into it, and prints the psql line that reaches it
(on the port it actually listens on: 54329 unless another program holds that port). A server
that a running \`local\` (npm start) already keeps up for this --home is used as it is.

Options:
  --home DIR             local state of the runs to query (default .local)
  -h, --help             show this help
`;

const OPTIONS = {
  home: { type: 'string' },
} as const;

/** `redshift-export local serve`: exit 130 when stopped with Ctrl-C, like the other local modes. */
export const run: Command = async (argv, io) => {
  const values = parseCommandLine(argv, OPTIONS, HELP, io);
  if (!values) return 0;
  const home = resolve(io.cwd, values.home ?? '.local');
  const dataDir = join(home, 'postgres');
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    throw new UsageError(
      `${home} has no embedded PostgreSQL: nothing was loaded with this --home yet (or it was loaded with --database-url, which you query directly). Load something first, e.g. npx redshift-export local --once --home ${home} --landing DIR, or pass the --home you loaded with.`,
    );
  }
  const server = await startEmbedded(dataDir, io);
  try {
    const { passfile } = await embeddedServer(home, server);
    const tables = await exportTables(server.url);
    const owner = server.shared ? 'another run keeps it running' : 'Ctrl-C stops it';
    io.stdout(
      `The PostgreSQL of ${home} is running on 127.0.0.1 port ${server.port}; ${owner}.\n` +
        connectLines(
          { databaseUrl: server.url, passfile },
          tables.find((table) => table.name.includes('.events_'))?.name,
        ) +
        `  tables:  ${tables.map((table) => `${table.name} (${table.rows} rows)`).join(', ') || 'none yet'}\n`,
    );
    if ((await untilStopped(io, server.port)) === 'gone') {
      io.stderr(
        `The PostgreSQL on port ${server.port} has stopped (${server.shared ? 'the run that kept it running ended' : 'it exited'}). Run \`local serve\` again to start it.\n`,
      );
      return 1;
    }
  } finally {
    await server.stop();
  }
  io.stderr(
    server.shared
      ? 'Stopped serving; the PostgreSQL keeps running for the run that started it.\n'
      : `Stopped the PostgreSQL of ${home}.\n`,
  );
  return 130;
};

/**
 * Until Ctrl-C, or until the server is gone (a shared one stops with the run that started
 * it). The check also keeps the process alive: signal handlers alone do not, and the server
 * process is not waited on.
 */
async function untilStopped(io: CliIo, port: number): Promise<'interrupted' | 'gone'> {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const gone = new Promise<'gone'>((done) => {
    const check = async () => {
      if (await portIsFree(port)) done('gone');
      else if (!stopped) timer = setTimeout(check, 2000);
    };
    timer = setTimeout(check, 2000);
  });
  const interrupted = (io.interrupted ?? new Promise<void>(() => undefined)).then(
    () => 'interrupted' as const,
  );
  try {
    return await Promise.race([interrupted, gone]);
  } finally {
    stopped = true;
    clearTimeout(timer);
  }
}

/** The export's tables in the server's `postgres` database, with their row counts. */
async function exportTables(url: string): Promise<{ name: string; rows: number }[]> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ schema: string; name: string }>(
      `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
        WHERE table_name ~ '^(events|merge_ids)_[0-9]+$' AND table_schema ~ '^[a-z_][a-z0-9_]*$'
        ORDER BY 1, 2`,
    );
    const counted: { name: string; rows: number }[] = [];
    for (const table of rows) {
      const [found] = (
        await client.query<{ n: string }>(
          `SELECT count(*) AS n FROM ${qualifiedName(table.schema, table.name)}`,
        )
      ).rows;
      counted.push({ name: `${table.schema}.${table.name}`, rows: Number(found?.n ?? 0) });
    }
    return counted;
  } finally {
    await client.end();
  }
}
