import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '#cli/main.ts';
import { generateSample, type SampleManifest } from '#shared/sample/generate.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import { acquireLease, readLease } from '#shared/storage/lease.ts';
import { createTestDatabase } from '#test/support/postgres.ts';
import { capture, yesterday } from './local-support.ts';

const day = yesterday;

describe('local: a lease left by an interrupted run', () => {
  let dir: string;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let sample: SampleManifest;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-lease-'));
    db = await createTestDatabase('cli_lease');
    sample = await generateSample(join(dir, 'landing'), {
      projectId: '5150',
      start: day,
      eventsPerHour: 3,
      seed: 4,
    });
  });
  afterAll(async () => {
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  /** A lease far from expiry, recorded by a process on this host. */
  async function leaveLease(name: string, pid: number, home = 'home') {
    const store = new FileSystemObjectStore(join(dir, home, 'store'));
    await acquireLease(store, name, {
      owner: `${name}:earlier-run`,
      ttlMs: 15 * 60_000,
      clock: () => new Date(),
      holder: { self: { host: hostname(), pid }, isGone: () => false },
    });
    return store;
  }

  const once = (home = 'home') => [
    'local',
    '--once',
    '--landing',
    'landing',
    '--home',
    home,
    '--database-url',
    db.url,
  ];

  it('exits 3 and says who holds it while that process still runs, and counts the batches it left pending', async () => {
    const holder = spawn('sleep', ['60']);
    try {
      await leaveLease('loader', holder.pid!);
      const { io, out, text } = capture(dir);
      expect(await main(once(), io)).toBe(3);
      expect(text()).toContain(
        `Nothing was loaded: the loader lease is held by loader:earlier-run (process ${holder.pid} on this machine)`,
      );
      const summary = JSON.parse(out.join(''));
      expect(summary.batch.feeds.events.lines).toBe(sample.events);
      expect(summary.load.skipped).toMatchObject({ reason: 'lease-held', heldBy: 'loader:earlier-run' });
      // The batches this run staged are pending, and the summary says so rather than 0.
      const pending = Object.fromEntries(
        summary.load.feeds.map((feed: { feed: string; batchesPending: number }) => [
          feed.feed,
          feed.batchesPending,
        ]),
      );
      expect(pending).toEqual({ events: 1, merge_ids: 1 });
    } finally {
      holder.kill();
    }
  });

  it('takes over the lease of a process that is gone (Ctrl-C or SIGKILL) and does the work', async () => {
    const gone = spawn('true');
    await new Promise((done) => gone.once('exit', done));
    const store = await leaveLease('batcher', gone.pid!, 'home2');
    await leaveLease('loader', gone.pid!, 'home2');
    const { io, out } = capture(dir);
    expect(await main(once('home2'), io)).toBe(0);
    const summary = JSON.parse(out.join(''));
    expect(summary.batch.skipped).toBeUndefined();
    expect(summary.batch.feeds.events.lines).toBe(sample.events);
    expect(await readLease(store, 'batcher')).toBeUndefined();
    expect(await readLease(store, 'loader')).toBeUndefined();
  });

  it('releases its leases when stopped with SIGINT in the middle of a cycle, and exits 130', async () => {
    // A landing folder big enough that the cycle is still running when the signal comes.
    await generateSample(join(dir, 'big'), { projectId: '5150', start: day, eventsPerHour: 1500, seed: 8 });
    const child = spawn(
      process.execPath,
      [
        'bin/redshift-export.mjs',
        'local',
        '--once',
        '--landing',
        join(dir, 'big'),
        '--home',
        join(dir, 'home-big'),
        '--database-url',
        db.url,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const store = new FileSystemObjectStore(join(dir, 'home-big', 'store'));
    const deadline = Date.now() + 30_000;
    while (!(await readLease(store, 'batcher')) && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 50));
    }
    expect(await readLease(store, 'batcher')).toBeDefined();
    const code = new Promise<number | null>((done) => child.once('exit', done));
    child.kill('SIGINT');
    expect(await code).toBe(130);
    expect(stderr).toMatch(/Interrupted: released the batcher lease/);
    expect(await readLease(store, 'batcher')).toBeUndefined();
    // Nothing is lost: the next run finishes the work.
    const { io, out } = capture(dir);
    expect(
      await main(['local', '--once', '--landing', 'big', '--home', 'home-big', '--database-url', db.url], io),
    ).toBe(0);
    expect(JSON.parse(out.join('')).batch.skipped).toBeUndefined();
  });
});
