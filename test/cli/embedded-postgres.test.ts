import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive, blockedFolder, installedBinaries, startLocalPostgres } from '#cli/local/embedded-postgres.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/hold-postgres.ts', import.meta.url));
const isRoot = process.getuid?.() === 0;

async function answers(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('SELECT 1 AS one')).rows[0].one;
  } finally {
    await client.end();
  }
}

/** Runs the fixture in its own process and waits until its server is up. */
async function holdServer(dataDir: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, dataDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolveLine, reject) => {
    let seen = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('\n')) resolveLine(seen.split('\n')[0]!);
    });
    child.once('exit', (code) => reject(new Error(`fixture exited with ${code}`)));
  });
  return { child, port: (JSON.parse(line) as { port: number }).port };
}

async function serverPid(dataDir: string): Promise<number> {
  return Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
}

describe('startLocalPostgres after an earlier run', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pg-leftover-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('shares the server of a live run, and stops and restarts the one a killed run left behind', async () => {
    const dataDir = join(dir, 'postgres');
    const holder = await holdServer(dataDir);
    const leftover = await serverPid(dataDir);

    // The holder is alive: its server is shared, and stopping our handle leaves it running.
    const notices: string[] = [];
    const shared = await startLocalPostgres({ dataDir, onNotice: (text) => notices.push(text) });
    expect(shared.shared).toBe(true);
    expect(shared.port).toBe(holder.port);
    expect(await answers(shared.url)).toBe(1);
    expect(notices.join('\n')).toMatch(/another run \(process \d+\) keeps running/);
    await shared.stop();
    expect(alive(leftover)).toBe(true);

    // SIGKILL: the holder cannot stop its server, which keeps postmaster.pid locked.
    const gone = new Promise((done) => holder.child.once('exit', done));
    holder.child.kill('SIGKILL');
    await gone;
    expect(alive(leftover)).toBe(true);

    notices.length = 0;
    const server = await startLocalPostgres({ dataDir, onNotice: (text) => notices.push(text) });
    try {
      expect(server.shared).toBe(false);
      expect(notices.join('\n')).toContain(`still running (process ${leftover}, port ${holder.port})`);
      expect(notices.join('\n')).toContain('left by a run that was killed');
      expect(alive(leftover)).toBe(false);
      expect(await answers(server.url)).toBe(1);
    } finally {
      await server.stop();
    }
  });
});

describe('startLocalPostgres as root in a folder only root may enter', () => {
  let closed: string;
  beforeAll(async () => {
    closed = await mkdtemp(join(tmpdir(), 'pg-closed-')); // mode 0700, like `mktemp -d`
  });
  afterAll(async () => {
    await rm(closed, { recursive: true, force: true });
  });

  it('names the folder that blocks a user, judged by owner, group and other bits', async () => {
    const inner = join(closed, 'a', 'b');
    await mkdir(inner, { recursive: true });
    const stranger = { uid: 54_321, gid: 54_321 };
    expect(blockedFolder(inner, stranger)).toEqual({ path: closed, mode: '0700' });
    await chmod(closed, 0o711);
    expect(blockedFolder(inner, stranger)).toBeUndefined();
    await chmod(closed, 0o700);
    expect(blockedFolder(inner, { uid: process.getuid?.() ?? 0, gid: 0 })).toBeUndefined();
  });

  // Only root hands the server to another user; as any other user the server runs as that
  // user, who reaches whatever it can reach, so the problem does not exist there.
  it.runIf(isRoot)('runs binaries that lie under it (a clone in `mktemp -d`)', async () => {
    // The installed binaries, copied to where the postgres user cannot reach them.
    const installed = dirname(dirname((await installedBinaries()).postgres));
    const native = join(closed, 'clone', 'node_modules', 'pg', 'native');
    await cp(installed, native, { recursive: true, verbatimSymlinks: true });
    const dataParent = await mkdtemp(join(tmpdir(), 'pg-data-'));
    const server = await startLocalPostgres({
      dataDir: join(dataParent, 'data'),
      persistent: false,
      fast: true,
      binaries: { initdb: join(native, 'bin', 'initdb'), postgres: join(native, 'bin', 'postgres') },
    });
    try {
      expect(await answers(server.url)).toBe(1);
    } finally {
      await server.stop();
      await rm(dataParent, { recursive: true, force: true });
    }
  });

  it.runIf(isRoot)('refuses a data folder under it with the exact fix, creating no server', async () => {
    const home = join(closed, 'clone', '.local');
    await expect(startLocalPostgres({ dataDir: join(home, 'postgres') })).rejects.toThrow(
      `cannot enter ${closed} (mode 0700), above its data folder ${join(home, 'postgres')}. Either let it pass through: chmod o+x ${closed}`,
    );
  });
});
