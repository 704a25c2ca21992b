import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '#cli/io.ts';
import { main } from '#cli/main.ts';
import { HOUR_MS } from '#shared/base/hours.ts';
import { generateSample, type SampleManifest } from '#shared/sample/generate.ts';
import { type SampleHourManifest, writeSampleHour } from '#shared/sample/hour.ts';
import { createTestDatabase } from '#test/support/postgres.ts';
import { capture, interruption, yesterday } from './local-support.ts';

/** What a person reads on stderr, and what a program reads on stdout, of `local` runs. */

const PROJECT = '616161';
const REDRAW = '\r\x1b[2K';

/** stderr without the progress line: what stays on the screen once it is erased. */
function settled(text: string): string[] {
  return text
    .split('\n')
    .map((line) => (line.includes(REDRAW) ? line.slice(line.lastIndexOf(REDRAW) + REDRAW.length) : line))
    .filter((line) => line !== '');
}

const number = (text: string | undefined) => Number((text ?? '').replaceAll(',', ''));

describe('local: what a person reads', () => {
  let dir: string;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let client: pg.Client;
  let sample: SampleManifest;
  let hour: SampleHourManifest;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-output-'));
    // As root the embedded server runs as the postgres user, who must reach --home inside it.
    await chmod(dir, 0o755);
    db = await createTestDatabase('cli_output');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const landing = join(dir, 'landing');
    sample = await generateSample(landing, {
      projectId: PROJECT,
      orgId: '61',
      start: yesterday,
      eventsPerHour: 20,
      seed: 5,
    });
    // Today's first hour: 3 lines repeated in it, one broken line, and one event of yesterday's
    // first file again, which only the loader can tell (another batch: batches are per day).
    const yesterdayFirst = gunzipSync(await readFile(join(landing, `${PROJECT}_${yesterday}_0#0.json.gz`)))
      .toString('utf8')
      .split('\n')[0]!;
    hour = await writeSampleHour(landing, {
      projectId: PROJECT,
      orgId: '61',
      hour: Math.floor(Date.now() / HOUR_MS / 24) * 24,
      part: 0,
      events: 30,
      earlierLines: [yesterdayFirst],
    });
  });

  afterAll(async () => {
    await client.end();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const once = ['local', '--once', '--landing', 'landing', '--home', 'home'];

  it('--once on a terminal: progress while it works, then a short summary; the JSON on stdout keeps its shape', async () => {
    const { io, out, text } = capture(dir);
    const code = await main([...once, '--database-url', db.url], {
      ...io,
      terminal: { isTTY: true, columns: 120 },
    });
    expect(code).toBe(0);
    const stderr = text();

    // Progress: redrawn in place, files, lines and batches while batching, then the loads.
    expect(stderr).toMatch(
      /\r\x1b\[2Kbatching events: \d+ of \d+ files, [\d,]+ lines, \d+ batch(es)? staged/,
    );
    expect(stderr).toContain(`${REDRAW}loading: `);

    // stdout: one JSON document, the same fields as before plus the new ones.
    expect(out).toHaveLength(1);
    const summary = JSON.parse(out[0]!);
    const events = summary.load.feeds.find((feed: { feed: string }) => feed.feed === 'events');
    expect(Object.keys(summary)).toEqual(['runId', 'projectId', 'batch', 'load', 'database']);
    expect(events).toMatchObject({
      duplicatesSkipped: expect.any(Number),
      freshnessSeconds: expect.any(Number),
    });
    expect(events.duplicatesAcrossBatches).toBe(1);
    expect(summary.batch.feeds.events.quarantineKeys).toHaveLength(1);

    const lines = settled(stderr);
    const batchLine = lines.find((line) => line.startsWith('batch: '));
    const loadLine = lines.find((line) => line.startsWith('load:  '));
    const files = sample.files.filter((file) => file.feed === 'events').length + 1;
    const batched = new RegExp(
      `events ${files} files, ([\\d,]+) lines -> ([\\d,]+) rows \\(([\\d,]+) duplicates, 1 quarantined\\); staged as 4 batches$`,
    ).exec(batchLine ?? '');
    expect(batched, batchLine).not.toBeNull();
    expect(number(batched?.[1])).toBe(sample.events + hour.lines);
    expect(number(batched?.[3])).toBe(sample.duplicateEvents + 3);
    expect(loadLine).toMatch(
      /^load: {2}4 batches: events [\d,]+ rows, merge_ids [\d,]+ rows inserted; 1 more duplicate \(already loaded, or in another batch\); landing to commit \d+s( to \d+s)?$/,
    );
    // Every duplicate is counted once: where the batcher found it, or where the loader did.
    expect(number(batched?.[3]) + 1).toBe(events.duplicatesSkipped);
    expect(stderr).not.toMatch(/duplicates skipped|freshness|\b1 batches\b|\b1 files\b/);

    // Where the quarantined line went: a file that is there, with the line and its reason.
    const quarantine = lines.find((line) => line.startsWith('quarantined lines are in '));
    const path = /^quarantined lines are in (\S+\.jsonl\.gz) /.exec(quarantine ?? '')?.[1];
    expect(path).toBe(join(dir, 'home', 'store', summary.batch.feeds.events.quarantineKeys[0]));
    const records = gunzipSync(await readFile(path!))
      .toString('utf8')
      .trimEnd()
      .split('\n');
    expect(records.map((record) => JSON.parse(record).reason)).toEqual(['malformed_json']);
  });

  it('--once elsewhere (a pipe, CI): no progress lines, and a rerun says what is already loaded', async () => {
    const { io, text } = capture(dir);
    expect(await main([...once, '--database-url', db.url], io)).toBe(0);
    const stderr = text();
    expect(stderr).not.toContain('\r');
    expect(stderr).not.toMatch(/batching|loading:/);
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM amplitude.events_${PROJECT}`);
    const merged = await client.query(`SELECT count(*)::int AS n FROM amplitude.merge_ids_${PROJECT}`);
    // Then how to query it (`local serve`, or the psql line of a server that outlives the run).
    expect(stderr.split('\n').slice(0, 4)).toEqual([
      `already loaded before this run: events ${rows[0].n.toLocaleString('en-US')} rows, merge_ids ${merged.rows[0].n.toLocaleString('en-US')} rows (4 batches)`,
      'batch: nothing new',
      'load:  nothing pending',
      'To query what it loaded:',
    ]);
  });

  it('--demo adds sample hours only to the sample project, never to a folder of real exports', async () => {
    const { io, text } = capture(dir);
    expect(await main([...once, '--demo', '--database-url', db.url], io)).toBe(0);
    expect(text()).toContain(
      "--demo: the landing folder holds project 616161's files, not the sample's (187520); no sample hours are added to it.",
    );
    expect((await readdir(join(dir, 'landing'))).filter((name) => name.startsWith('187520_'))).toEqual([]);
  });

  it('the demo keeps producing: every cycle loads a new hour, and a restart goes on from the last one', async () => {
    const demo = [
      'local',
      '--demo',
      '--home',
      'demo',
      '--database-url',
      db.url,
      '--batch-every',
      '1s',
      '--load-every',
      '1s',
    ];
    const session = async (cycles: number) => {
      const { interrupted, stop } = interruption();
      const chunks: string[] = [];
      const io: CliIo = {
        stdout: () => undefined,
        stderr: (chunk) => {
          chunks.push(chunk);
          if (
            chunks
              .join('')
              .split('\n')
              .filter((line) => / batch: /.test(line)).length >= cycles
          )
            stop();
        },
        env: {},
        cwd: dir,
        interrupted,
      };
      expect(await main(demo, io)).toBe(0);
      return chunks.join('').split('\n');
    };
    const hourOf = (line: string | undefined) =>
      /demo: wrote hour (\S+) part (\d+)/.exec(line ?? '')?.slice(1);

    const first = await session(3);
    expect(first[0]).toMatch(
      /^The landing folder was empty: wrote a sample day, \d{4}-\d{2}-\d{2} \(52 files: /,
    );
    const cycles = first.filter((line) => / batch: /.test(line));
    const written = first.filter((line) => line.includes('demo: wrote hour'));
    // The sample day first; then, before each cycle, one new hour with new rows.
    expect(written).toHaveLength(2);
    for (const line of cycles.slice(1)) {
      expect(line).toMatch(
        / batch: merge_ids 1 file, 8 lines -> 8 rows; events 1 file, \d+ lines -> 20[0-3] rows \(\d duplicates?, 1 quarantined\); staged as 2 batches \| load: 2 batches: events 200 rows, merge_ids 8 rows inserted; /,
      );
    }
    const { rows } = await client.query('SELECT count(*)::int AS n FROM amplitude.events_187520');

    const second = await session(1);
    const [day, hourOfDay] = hourOf(written.at(-1))![0]!.split('T');
    const next = hourOf(second.find((line) => line.includes('demo: wrote hour')));
    const expected = new Date(Date.parse(`${day}T${hourOfDay}:00:00Z`) + HOUR_MS).toISOString().slice(0, 13);
    // The next hour, or (once the demo has caught up with the clock) a late part of the last.
    expect(next?.[0] === expected || (next?.[0] === `${day}T${hourOfDay}` && next?.[1] !== '0')).toBe(true);
    expect(second.join('\n')).not.toContain('The landing folder was empty');
    const restartCycle = second.findIndex((line) => / batch: /.test(line));
    expect(second[restartCycle + 2]).toMatch(
      new RegExp(
        `^ {2}already loaded before this run: events ${rows[0].n.toLocaleString('en-US')} rows, merge_ids [\\d,]+ rows \\(\\d+ batches\\)$`,
      ),
    );
    expect(second[restartCycle]).toMatch(/load: 2 batches: events 200 rows, merge_ids 8 rows inserted/);
  });
});
