import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '#cli/io.ts';
import { main } from '#cli/main.ts';
import { generateSample } from '#shared/sample/generate.ts';
import { createTestDatabase } from '#test/support/postgres.ts';
import { interruption, yesterday } from './local-support.ts';

/**
 * Every line every local mode prints, on stdout and stderr, for a database URL with a
 * password: none may hold it. The test server's password and the embedded server's are the
 * same `local-only`, so one needle covers --database-url and the embedded server.
 */
const PASSWORD = 'local-only';

function linesOf(chunks: string[]): string[] {
  return chunks.join('').split('\n');
}

function ioFor(cwd: string, stopWhen?: (text: string) => boolean) {
  const chunks: string[] = [];
  const { interrupted, stop } = interruption();
  const print = (text: string) => {
    chunks.push(text);
    if (stopWhen?.(text)) stop();
  };
  const io: CliIo = {
    stdout: print,
    stderr: print,
    env: {},
    cwd,
    interrupted,
    // A terminal, so the progress lines are among the lines checked.
    terminal: { isTTY: true, columns: 200 },
  };
  return { io, chunks };
}

describe('no output line of a local mode holds the database password', () => {
  let dir: string;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const day = yesterday;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-secrets-'));
    // As root the embedded server runs as the postgres user, who must reach --home inside it.
    await chmod(dir, 0o755);
    db = await createTestDatabase('cli_secrets');
    expect(db.url).toContain(`:${PASSWORD}@`);
    await generateSample(join(dir, 'landing'), { projectId: '5150', start: day, eventsPerHour: 5, seed: 3 });
  });

  afterAll(async () => {
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const common = () => ['--landing', 'landing', '--database-url', db.url];

  it.each([
    ['--once', ['local', '--once', '--home', 'h1']],
    ['scheduled', ['local', '--home', 'h2', '--batch-every', '1s', '--load-every', '1s']],
    ['backfill', ['local', 'backfill', '--home', 'h3', '--start', day, '--end', day]],
  ])('%s with --database-url', async (_mode, argv) => {
    const { io, chunks } = ioFor(dir, (text) => text.includes('connect:'));
    const code = await main([...argv, ...common()], io);
    expect(code).toBe(0);
    const lines = linesOf(chunks);
    expect(lines.length).toBeGreaterThan(1);
    for (const line of lines) expect(line).not.toContain(PASSWORD);
  });

  it.each([
    ['unreachable', 'postgres://postgres:local-only@127.0.0.1:1/postgres'],
    ['malformed', 'postgres://postgres:local-only@[::1/postgres'],
  ])('--once with an %s database', async (_kind, url) => {
    const { io, chunks } = ioFor(dir);
    const code = await main(
      ['local', '--once', '--home', 'h4', '--landing', 'landing', '--database-url', url],
      io,
    );
    expect(code).not.toBe(0);
    const lines = linesOf(chunks);
    expect(lines.join('\n')).toMatch(/database|URL/i);
    for (const line of lines) expect(line).not.toContain(PASSWORD);
  });

  it('scheduled with the embedded server (npm start), including its connect line', async () => {
    const { io, chunks } = ioFor(dir, (text) => text.includes('connect:'));
    const code = await main(['local', '--home', 'h5', '--landing', 'landing', '--batch-every', '1s'], io);
    expect(code).toBe(0);
    const lines = linesOf(chunks);
    expect(
      lines.some((line) =>
        /connect: psql 'postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres\?passfile=[^']+'/.test(line),
      ),
    ).toBe(true);
    for (const line of lines) expect(line).not.toContain(PASSWORD);
  });

  it('--once with the embedded server, then local serve on its --home', async () => {
    const once = ioFor(dir);
    expect(await main(['local', '--once', '--home', 'h6', '--landing', 'landing'], once.io)).toBe(0);
    const serve = ioFor(dir, (text) => text.includes('tables:'));
    expect(await main(['local', 'serve', '--home', 'h6'], serve.io)).toBe(130);
    const lines = [...linesOf(once.chunks), ...linesOf(serve.chunks)];
    expect(lines.some((line) => line.includes('local serve --home'))).toBe(true);
    expect(lines.some((line) => /connect: psql 'postgres:\/\/postgres@127\.0\.0\.1:\d+\//.test(line))).toBe(
      true,
    );
    for (const line of lines) expect(line).not.toContain(PASSWORD);
  });
});
