import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '#cli/main.ts';
import { generateSample, type SampleManifest } from '#shared/sample/generate.ts';
import { createTestDatabase } from '#test/support/postgres.ts';
import { capture, yesterday } from './local-support.ts';

const day = yesterday;

describe('local: mistakes are refused before anything is created', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-validate-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    [['local', '--once', '--batch-every', '5'], /--batch-every needs a unit: 5s, 5m or 5h/],
    [['local', '--once', '--project-id', 'abc'], /--project-id must be the numeric Amplitude project ID/],
    [['local', '--once', '--feeds', 'events,users'], /--feeds must be a comma-separated list/],
    [['local', '--once', '--landing', 'nowhere'], /The landing folder .*nowhere does not exist/],
    [
      ['local', 'backfill', '--start', '2024-05-02', '--end', '2024-05-01'],
      /--end 2024-05-01T23 is before start 2024-05-02T00/,
    ],
    [
      ['local', 'backfill', '--start', '2024-5-1', '--end', '2024-05-01'],
      /--start "2024-5-1" is not a valid date/,
    ],
  ])('%j exits 2 with the reason and leaves no folder behind', async (argv, message) => {
    const home = join(dir, 'home');
    const { io, text } = capture(dir);
    expect(await main([...argv, '--home', home, '--database-url', 'postgres://u@127.0.0.1:1/db'], io)).toBe(
      2,
    );
    expect(text()).toMatch(message);
    expect(text()).not.toContain('--project-id.'); // the missing folder is the problem, not the id
    expect(existsSync(home)).toBe(false);
    expect(existsSync(join(dir, 'nowhere'))).toBe(false);
  });
});

describe('local: landing folders that hold nothing loadable say so', () => {
  let dir: string;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let sample: SampleManifest;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-landing-'));
    db = await createTestDatabase('cli_landing');
    sample = await generateSample(join(dir, 'nested', 'exports', '5150'), {
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

  it('names the subfolder the export files are in and the --landing-prefix that reaches them', async () => {
    const { io, text } = capture(dir);
    const code = await main(
      ['local', '--once', '--landing', 'nested', '--home', 'h1', '--database-url', db.url],
      io,
    );
    expect(code).toBe(2);
    expect(text()).toContain('pass --landing-prefix exports/5150/');
  });

  it('loads them with --landing-prefix', async () => {
    const { io, out } = capture(dir);
    const code = await main(
      [
        'local',
        '--once',
        '--landing',
        'nested',
        '--landing-prefix',
        'exports/5150/',
        '--home',
        'h1',
        '--database-url',
        db.url,
      ],
      io,
    );
    expect(code).toBe(0);
    const summary = JSON.parse(out.join(''));
    expect(summary.batch.feeds.events.lines).toBe(sample.events);
  });

  it('says which files were ignored for their names', async () => {
    await mkdir(join(dir, 'odd'), { recursive: true });
    await generateSample(join(dir, 'odd'), { projectId: '5150', start: day, eventsPerHour: 1, seed: 9 });
    await writeFile(join(dir, 'odd', 'notes.txt'), 'not an export\n');
    await writeFile(join(dir, 'odd', '5150_2024-05-01_3.json.gz'), ''); // no #<n>
    const { io, text } = capture(dir);
    const code = await main(
      ['local', '--once', '--landing', 'odd', '--home', 'h2', '--database-url', db.url],
      io,
    );
    expect(code).toBe(0);
    expect(text()).toMatch(/2 files in the landing folder are not named like Amplitude exports .* ignored: /);
    expect(text()).toContain('notes.txt');
  });

  it('infers no project ID from a name discovery would never batch (month 13)', async () => {
    await mkdir(join(dir, 'bad-day'), { recursive: true });
    await writeFile(join(dir, 'bad-day', '5150_2024-13-01_3#0.json.gz'), '');
    const { io, text } = capture(dir);
    const code = await main(
      ['local', '--once', '--landing', 'bad-day', '--home', 'h4', '--database-url', db.url],
      io,
    );
    expect(code).toBe(2);
    expect(text()).toContain('No Amplitude event files (<projectId>_<yyyy-MM-dd>_<H>#<n>.json.gz)');
  });

  it('exits 1 when a backfill range holds no landing files, naming the days that do', async () => {
    const { io, out, text } = capture(dir);
    const code = await main(
      [
        'local',
        'backfill',
        '--start',
        '2020-01-01',
        '--end',
        '2020-03-02',
        '--landing',
        'nested',
        '--landing-prefix',
        'exports/5150/',
        '--home',
        'h3',
        '--database-url',
        db.url,
      ],
      io,
    );
    expect(code).toBe(1);
    expect(text()).toContain(`No landing files between 2020-01-01 and 2020-03-02`);
    expect(text()).toContain(`The landing folder has files for ${day}.`);
    expect(out.join('')).toBe('');
  });
});
