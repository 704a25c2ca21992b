import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '#cli/io.ts';
import { EMBEDDED_PORT } from '#cli/local/context.ts';
import { portIsFree } from '#cli/local/embedded-postgres.ts';
import { main } from '#cli/main.ts';
import { generateSample, type SampleManifest } from '#shared/sample/generate.ts';
import { capture, interruption, yesterday } from './local-support.ts';

/** A CLI io whose Ctrl-C the test presses, and that tells when a text has been printed. */
function stoppable(cwd: string) {
  let all = '';
  const waiting: { text: string; seen: () => void }[] = [];
  const print = (text: string) => {
    all += text;
    for (const wait of waiting) if (all.includes(wait.text)) wait.seen();
  };
  const { interrupted, stop } = interruption();
  const io: CliIo = { stdout: print, stderr: print, env: {}, cwd, interrupted };
  return {
    io,
    stop,
    text: () => all,
    printed: (text: string) =>
      new Promise<void>((seen) => {
        waiting.push({ text, seen });
        if (all.includes(text)) seen();
      }),
  };
}

/**
 * `local --once` stops its embedded PostgreSQL when it ends; `local serve` keeps the server
 * of the same --home running and prints the psql line that reaches it. With another program
 * on the default port (as when `npm start` runs), every printed line names the port the
 * server really listens on.
 */
describe('local serve: querying what local --once loaded', () => {
  let dir: string;
  let home: string;
  let sample: SampleManifest;
  let holder: Server | undefined;
  let oncePort: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-serve-'));
    // As root the embedded server runs as the postgres user, who must reach --home inside it.
    await chmod(dir, 0o755);
    home = join(dir, 'home');
    sample = await generateSample(join(dir, 'landing'), {
      projectId: '5150',
      start: yesterday,
      eventsPerHour: 5,
      seed: 6,
    });
    // Another program on the default port, like the demo of `npm start` (unless one already is).
    if (await portIsFree(EMBEDDED_PORT)) {
      const server = createServer();
      await new Promise<void>((listening) => server.listen(EMBEDDED_PORT, '127.0.0.1', listening));
      holder = server;
    }
  });

  afterAll(async () => {
    await new Promise((closed) => (holder ? holder.close(closed) : closed(undefined)));
    await rm(dir, { recursive: true, force: true });
  });

  it('--once names the port its server used and ends with the command to query what it loaded', async () => {
    const { io, out, text } = capture(dir);
    expect(await main(['local', '--once', '--home', 'home', '--landing', 'landing'], io)).toBe(0);
    const summary = JSON.parse(out.join(''));
    oncePort = Number(new URL(summary.database).port);
    expect(oncePort).not.toBe(EMBEDDED_PORT);
    expect(text()).toContain(`the embedded PostgreSQL listens on port ${oncePort} instead`);
    expect(text()).toContain(`To query what it loaded: npx redshift-export local serve --home ${home}\n`);
    expect(text()).toContain(`this run's PostgreSQL, on port ${oncePort}, stops when the run ends`);
    // What it named is true: the server has stopped.
    expect(await portIsFree(oncePort)).toBe(true);
  });

  it("keeps that --home's server up: its psql line reaches the loaded rows, a --once meanwhile names it, Ctrl-C stops it (130)", async () => {
    const child = spawn(process.execPath, ['bin/redshift-export.mjs', 'local', 'serve', '--home', home], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((done) => child.once('exit', done));
    try {
      await new Promise<void>((ready, failed) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes('  tables:')) ready();
        });
        void exited.then((code) => failed(new Error(`serve exited with ${code}: ${stderr}`)));
      });

      // The printed line, taken apart the way libpq reads it.
      const line = /connect: psql '([^']+)'/.exec(stdout)?.[1];
      expect(line).toBeDefined();
      const url = new URL(line!);
      expect(url.password).toBe('');
      const port = Number(url.port);
      expect(port).not.toBe(EMBEDDED_PORT);
      expect(stdout).toContain(`running on 127.0.0.1 port ${port}`);
      const passfile = url.searchParams.get('passfile')!;
      expect(passfile).toBe(join(home, 'pgpass'));
      const [host, filePort, database, user, password] = (await readFile(passfile, 'utf8')).trim().split(':');
      expect([host, filePort, database, user]).toEqual(['127.0.0.1', '*', '*', url.username]);
      expect(stdout).not.toContain(password);

      const client = new pg.Client({
        host: url.hostname,
        port,
        user: url.username,
        database: url.pathname.slice(1),
        password,
      });
      await client.connect();
      try {
        const { rows } = await client.query('SELECT count(*)::int AS n FROM amplitude.events_5150');
        expect(rows[0].n).toBe(sample.uniqueEvents);
      } finally {
        await client.end();
      }
      expect(stdout).toContain(`amplitude.events_5150 (${sample.uniqueEvents} rows)`);

      // A --once while serve runs shares its server and names it directly.
      const { io, text } = capture(dir);
      expect(await main(['local', '--once', '--home', 'home', '--landing', 'landing'], io)).toBe(0);
      expect(text()).toContain(
        `To query what it loaded (the PostgreSQL on port ${port} keeps running):\n  connect: psql '${line}'`,
      );
      expect(await portIsFree(port)).toBe(false);

      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(stderr).toContain(`Stopped the PostgreSQL of ${home}.`);
      expect(await portIsFree(port)).toBe(true);
      expect(existsSync(join(home, 'postgres', 'postmaster.pid'))).toBe(false);
      expect(existsSync(join(home, 'postgres', 'redshift-export-owner.json'))).toBe(false);
    } finally {
      // On a failure above: stop it the same way, so its server does not outlive the test.
      if (child.exitCode === null && child.kill('SIGINT')) await exited;
    }
  });

  it('shares the server a running scheduled local keeps up, and ends when that run stops it', async () => {
    const scheduled = stoppable(dir);
    const running = main(
      ['local', '--home', 'home2', '--landing', 'landing', '--batch-every', '1h', '--load-every', '1h'],
      scheduled.io,
    );
    await scheduled.printed('connect: psql');
    const port = Number(/127\.0\.0\.1:(\d+)\//.exec(scheduled.text())?.[1]);

    const serve = stoppable(dir);
    const serving = main(['local', 'serve', '--home', 'home2'], serve.io);
    await serve.printed('  tables:');
    expect(serve.text()).toContain(`running on 127.0.0.1 port ${port}; another run keeps it running.`);
    expect(serve.text()).toContain(`amplitude.events_5150 (${sample.uniqueEvents} rows)`);

    scheduled.stop();
    expect(await running).toBe(0);
    expect(await serving).toBe(1);
    expect(serve.text()).toContain(
      `The PostgreSQL on port ${port} has stopped (the run that kept it running ended). Run \`local serve\` again to start it.`,
    );
  });

  it('refuses a --home with no embedded PostgreSQL, creating nothing', async () => {
    const { io, text } = capture(dir);
    expect(await main(['local', 'serve', '--home', 'nothing-here'], io)).toBe(2);
    expect(text()).toMatch(
      /nothing-here has no embedded PostgreSQL: nothing was loaded with this --home yet/,
    );
    expect(existsSync(join(dir, 'nothing-here'))).toBe(false);
  });
});
