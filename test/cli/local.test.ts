import { cpSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '#cli/io.ts';
import { main } from '#cli/main.ts';
import { generateSample, type SampleManifest } from '#shared/sample/generate.ts';
import { createTestDatabase } from '#test/support/postgres.ts';
import { capture, interruption, yesterday } from './local-support.ts';

describe('redshift-export local --once', () => {
  let dir: string;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let client: pg.Client;
  let sample: SampleManifest;
  const projectId = '424242';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-local-'));
    db = await createTestDatabase('cli_local');
    sample = await generateSample(join(dir, 'landing'), {
      projectId,
      orgId: '77',
      start: yesterday,
      days: 1,
      eventsPerHour: 40,
      seed: 11,
    });
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });

  afterAll(async () => {
    await client.end();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const args = () => ['local', '--once', '--landing', 'landing', '--home', 'home', '--database-url', db.url];

  async function tableCounts() {
    const events = await client.query(
      `SELECT count(*)::int AS n, count(DISTINCT uuid)::int AS u FROM amplitude.events_${projectId}`,
    );
    const merges = await client.query(`SELECT count(*)::int AS n FROM amplitude.merge_ids_${projectId}`);
    const ledger = await client.query('SELECT count(*)::int AS n FROM amplitude.export_loads');
    return {
      events: events.rows[0].n,
      distinct: events.rows[0].u,
      merges: merges.rows[0].n,
      ledger: ledger.rows[0].n,
    };
  }

  it('loads a landing folder exactly once, infers the project ID, and prints one JSON summary', async () => {
    const { io, out } = capture(dir);
    expect(await main(args(), io)).toBe(0);
    expect(out).toHaveLength(1);
    const summary = JSON.parse(out[0]!);
    expect(summary.projectId).toBe(projectId);
    expect(summary.database).not.toContain('local-only');
    expect(summary.batch.feeds.events.lines).toBe(sample.events);
    const events = summary.load.feeds.find((feed: { feed: string }) => feed.feed === 'events');
    expect(events.rowsLoaded).toBe(sample.uniqueEvents);

    const counts = await tableCounts();
    expect(counts).toMatchObject({ events: sample.uniqueEvents, distinct: sample.uniqueEvents });
    expect(counts.merges).toBe(sample.uniqueMergePairs);
  });

  it('changes nothing on a second identical run', async () => {
    const before = await tableCounts();
    const { io, out } = capture(dir);
    expect(await main(args(), io)).toBe(0);
    const summary = JSON.parse(out[0]!);
    expect(summary.batch.feeds.events.files).toBe(0);
    expect(await tableCounts()).toEqual(before);
  });

  it('changes nothing after the local pipeline state is deleted (the ledger remembers)', async () => {
    const before = await tableCounts();
    await rm(join(dir, 'home'), { recursive: true, force: true });
    const { io, out } = capture(dir);
    expect(await main(args(), io)).toBe(0);
    const summary = JSON.parse(out[0]!);
    // Everything is batched again, and every batch is recognised as loaded.
    expect(summary.batch.feeds.events.lines).toBe(sample.events);
    const loaded = summary.load.feeds.reduce(
      (sum: number, feed: { rowsLoaded: number }) => sum + feed.rowsLoaded,
      0,
    );
    expect(loaded).toBe(0);
    expect(await tableCounts()).toEqual(before);
  });

  it('fails with a clear message, not a stack, on an unknown option', async () => {
    const { io, err } = capture(dir);
    expect(await main(['local', '--once', '--bogus'], io)).toBe(2);
    expect(err.join('')).toContain("Unknown option '--bogus'");
  });

  it('exits non-zero and says what to check when the database is unreachable', async () => {
    const { io, err } = capture(dir);
    const code = await main(
      [
        'local',
        '--once',
        '--landing',
        'landing',
        '--home',
        'home2',
        '--database-url',
        'postgres://u:secret-pw@127.0.0.1:1/db',
      ],
      io,
    );
    expect(code).toBe(1);
    const message = err.join('');
    expect(message).toContain('Could not prepare the warehouse');
    expect(message).not.toContain('secret-pw');
  });

  it('asks for --project-id when the landing folder mixes projects', async () => {
    await generateSample(join(dir, 'mixed'), {
      projectId: '1',
      start: yesterday,
      eventsPerHour: 1,
      seed: 1,
    });
    await generateSample(join(dir, 'mixed'), {
      projectId: '2',
      start: yesterday,
      eventsPerHour: 1,
      seed: 2,
    });
    const { io, err } = capture(dir);
    expect(
      await main(['local', '--once', '--landing', 'mixed', '--home', 'home3', '--database-url', db.url], io),
    ).toBe(2);
    expect(err.join('')).toMatch(/several projects \((1, 2|2, 1)\): pass --project-id/);
  });

  it('runs on its schedule, reports each cycle, says once how to connect, and stops cleanly when interrupted', async () => {
    const { interrupted, stop } = interruption();
    const err: string[] = [];
    const io: CliIo = {
      stdout: () => undefined,
      stderr: (text) => {
        err.push(text);
        if (text.includes('connect: psql')) stop();
      },
      env: {},
      cwd: dir,
      interrupted,
    };
    const code = await main(
      [
        'local',
        '--landing',
        'landing',
        '--home',
        'home4',
        '--database-url',
        db.url,
        '--batch-every',
        '1s',
        '--load-every',
        '2s',
      ],
      io,
    );
    expect(code).toBe(0);
    const text = err.join('');
    // The first tests loaded this landing folder already: this home's batches are found in the ledger.
    expect(text).toMatch(
      /batch: .*events \d+ files, [\d,]+ lines -> [\d,]+ rows.* \| load: (2 batches: events [\d,]+ rows, merge_ids [\d,]+ rows inserted|2 batches found loaded already \(no rows added\))/,
    );
    expect(text).toContain(`FROM amplitude.events_${projectId}`);
    expect(text).toContain('Stopped.');
  });

  it('starts a load cycle as soon as a batch cycle staged batches, without waiting for the load interval', async () => {
    const { interrupted, stop } = interruption();
    const landing = join(dir, 'landing-trigger');
    const later = join(dir, 'landing-trigger-later');
    await generateSample(landing, {
      projectId: '515151',
      orgId: '78',
      start: yesterday,
      days: 1,
      eventsPerHour: 5,
      seed: 3,
    });
    const today = new Date().toISOString().slice(0, 10);
    await generateSample(later, {
      projectId: '515151',
      orgId: '78',
      start: today,
      days: 1,
      eventsPerHour: 5,
      seed: 4,
    });
    const lines: string[] = [];
    let wroteMore = false;
    let connectLines = 0;
    const io: CliIo = {
      stdout: () => undefined,
      stderr: (text) => {
        if (text.startsWith('[')) lines.push(text);
        // After the first cycle (batch + load), new files land; the batch cycle that stages them
        // must be followed by a load cycle at once, although the next scheduled load is an hour away.
        if (text.includes('connect: psql')) connectLines++;
        if (text.includes('connect: psql') && !wroteMore) {
          wroteMore = true;
          // Synchronous, so no batch cycle sees a half-written file.
          cpSync(later, landing, { recursive: true });
        }
        const loads = lines.filter((line) => line.includes('load: ')).length;
        const batchesOnly = lines.filter(
          (line) => line.includes('batch: ') && !line.includes('load: '),
        ).length;
        if (loads >= 2 || batchesOnly >= 4) stop();
      },
      env: {},
      cwd: dir,
      interrupted,
    };
    const code = await main(
      [
        'local',
        '--landing',
        'landing-trigger',
        '--home',
        'home5',
        '--database-url',
        db.url,
        '--batch-every',
        '1s',
        '--load-every',
        '1h',
      ],
      io,
    );
    expect(code).toBe(0);
    const loadsAfterFirst = lines.slice(1).filter((line) => /load: .*events [1-9][\d,]* rows/.test(line));
    expect(loadsAfterFirst).toHaveLength(1);
    // The address to query is said once, not after every cycle.
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(connectLines).toBe(1);
  });
});
