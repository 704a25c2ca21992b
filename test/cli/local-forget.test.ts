import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '#cli/main.ts';
import { eventFileName, mergeIdFileName } from '#shared/base/export-files.ts';
import { generateSample } from '#shared/sample/generate.ts';
import { createTestDatabase } from '#test/support/postgres.ts';
import { capture, yesterday } from './local-support.ts';

const PROJECT = '515151';
const ORG = '77';
// The person: two Amplitude IDs (the second merged into the first), a user id with a quote.
const PERSON = { amplitudeId: 990_000_001, mergedId: 990_000_002, userId: "erase.me's@example.com" };
const day = yesterday;

function personEvent(uuid: string, amplitudeId: number, hour: number, userId: string | null) {
  const time = `${day} ${String(hour).padStart(2, '0')}:10:00.000000`;
  return JSON.stringify({
    uuid,
    event_type: 'open_app',
    amplitude_id: amplitudeId,
    user_id: userId,
    device_id: 'device-of-the-person',
    event_time: time,
    client_event_time: time,
    server_upload_time: time,
    server_received_time: time,
  });
}

/** Landing files with the person's events and merge, in hours the sample leaves alone. */
async function writePersonFiles(landing: string, hour: number, uuidPrefix: string) {
  const events = [
    personEvent(`${uuidPrefix}-a`, PERSON.amplitudeId, hour, PERSON.userId),
    personEvent(`${uuidPrefix}-b`, PERSON.amplitudeId, hour, PERSON.userId),
    personEvent(`${uuidPrefix}-c`, PERSON.mergedId, hour, null),
  ];
  await writeFile(join(landing, eventFileName(PROJECT, day, hour, 9)), gzipSync(`${events.join('\n')}\n`));
  const mergeMs = Date.parse(`${day}T${String(hour).padStart(2, '0')}:05:00Z`);
  const merge = JSON.stringify({
    scope: Number(ORG),
    merge_time: mergeMs,
    merge_server_time: mergeMs,
    amplitude_id: PERSON.amplitudeId,
    merged_amplitude_id: PERSON.mergedId,
  });
  await writeFile(join(landing, mergeIdFileName(ORG, day, hour)), gzipSync(`${merge}\n`));
}

describe('redshift-export local forget', () => {
  let dir: string;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let client: pg.Client;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-forget-'));
    db = await createTestDatabase('cli_forget');
    await generateSample(join(dir, 'landing'), {
      projectId: PROJECT,
      orgId: ORG,
      start: day,
      days: 1,
      eventsPerHour: 20,
      seed: 3,
    });
    await writePersonFiles(join(dir, 'landing'), 23, 'person-1');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { io } = capture(dir);
    expect(
      await main(['local', '--once', '--landing', 'landing', '--home', 'home', '--database-url', db.url], io),
    ).toBe(0);
  });

  afterAll(async () => {
    await client.end();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const forget = (...flags: string[]) => {
    const captured = capture(dir);
    return main(
      ['local', 'forget', '--home', 'home', '--database-url', db.url, '--project-id', PROJECT, ...flags],
      captured.io,
    ).then((code) => ({ code, out: captured.out.join(''), err: captured.text() }));
  };

  async function personRows() {
    const ids = `${PERSON.amplitudeId}, ${PERSON.mergedId}`;
    const events = await client.query(
      `SELECT count(*)::int AS n FROM amplitude.events_${PROJECT} WHERE amplitude_id IN (${ids}) OR user_id = $1`,
      [PERSON.userId],
    );
    const merges = await client.query(
      `SELECT count(*)::int AS n FROM amplitude.merge_ids_${PROJECT} WHERE amplitude_id IN (${ids}) OR merged_amplitude_id IN (${ids})`,
    );
    return { events: events.rows[0].n as number, merges: merges.rows[0].n as number };
  }

  it('counts in a dry run what it would remove, and changes nothing', async () => {
    expect(await personRows()).toEqual({ events: 3, merges: 1 });

    const run = await forget(
      '--amplitude-id',
      String(PERSON.amplitudeId),
      '--reference',
      'DSR-100',
      '--dry-run',
    );

    expect(run.code).toBe(0);
    expect(run.out).toContain(`Dry run for amplitude_id ${PERSON.amplitudeId} (reference DSR-100)`);
    expect(run.out).toMatch(new RegExp(`events_${PROJECT} +3 rows would be removed`));
    expect(run.out).toMatch(new RegExp(`merge_ids_${PROJECT} +1 row would be removed`));
    expect(run.out).toContain('Amplitude IDs merged with it: 1');
    expect(await personRows()).toEqual({ events: 3, merges: 1 });
    const recorded = await client.query('SELECT count(*)::int AS n FROM amplitude.erasures');
    expect(recorded.rows[0].n).toBe(0);
  });

  it('erases the person from both tables, records the counts, and names no other identifier', async () => {
    const run = await forget(
      '--amplitude-id',
      String(PERSON.amplitudeId),
      '--user-id',
      PERSON.userId,
      '--reference',
      'DSR-101',
    );

    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^Erasure er-\d{8}t\d{6}-[0-9a-f]{8} recorded \(reference DSR-101\)/);
    expect(run.out).toMatch(
      new RegExp(`events_${PROJECT} +3 rows removed \\(${day} 23:10 to ${day} 23:10 UTC\\)`),
    );
    expect(run.out).toMatch(new RegExp(`merge_ids_${PROJECT} +1 row removed`));
    expect(run.out).toContain("Landing files (Amplitude's export) are not rewritten");
    expect(run.out).toContain(join(dir, 'home', 'store', 'staging', 'events', '*'));
    // The merged ID is personal data the operator did not give: counted, never printed.
    expect(run.out).not.toContain(String(PERSON.mergedId));
    expect(await personRows()).toEqual({ events: 0, merges: 0 });
    const { rows } = await client.query(
      'SELECT reference, amplitude_id::text AS a, user_id, events_removed::int AS e, merge_ids_removed::int AS m, linked_amplitude_ids::int AS l FROM amplitude.erasures',
    );
    expect(rows).toEqual([
      { reference: 'DSR-101', a: String(PERSON.amplitudeId), user_id: PERSON.userId, e: 3, m: 1, l: 1 },
    ]);
  });

  it('records an identifier that matches nothing and reports 0 rows removed', async () => {
    const run = await forget('--device-id', 'never-seen-device', '--reference', 'DSR-102');

    expect(run.code).toBe(0);
    expect(run.out).toMatch(new RegExp(`events_${PROJECT} +0 rows removed\\n`));
    expect(run.out).toContain('Staged files: no loaded batch spans these rows.');
    const { rows } = await client.query(
      "SELECT events_removed::int AS e FROM amplitude.erasures WHERE reference = 'DSR-102'",
    );
    expect(rows).toEqual([{ e: 0 }]);
  });

  // After the erasure above: nothing that loads again may bring the person back.
  const erasedInLedger = async () => {
    const { rows } = await client.query(
      'SELECT feed, source, sum(rows_erased)::int AS n FROM amplitude.export_loads WHERE rows_erased > 0 GROUP BY feed, source ORDER BY feed, source',
    );
    return rows;
  };
  const local = (...flags: string[]) =>
    main(
      ['local', ...flags, '--landing', 'landing', '--home', 'home', '--database-url', db.url],
      capture(dir).io,
    );

  it('keeps them erased when every batch is replayed', async () => {
    const store = join(dir, 'home', 'store');
    for (const feed of ['events', 'merge_ids']) {
      await cp(join(store, 'manifests', 'loaded', feed), join(store, 'manifests', 'pending', feed), {
        recursive: true,
      });
    }
    expect(await local('--once')).toBe(0);
    expect(await personRows()).toEqual({ events: 0, merges: 0 });
  });

  it('keeps them erased through a backfill over their day, and counts what it dropped in the ledger and the report', async () => {
    const captured = capture(dir);
    const code = await main(
      [
        'local',
        'backfill',
        '--start',
        day,
        '--end',
        day,
        '--landing',
        'landing',
        '--home',
        'home',
        '--database-url',
        db.url,
      ],
      captured.io,
    );
    expect(code).toBe(0);
    // The report and its summary line say what the erasure list kept out (3 events, 1 merge).
    expect(captured.text()).toContain(', 4 rows of erased people dropped.');
    const report = JSON.parse(captured.out.join('')) as { totals: { rowsErased: number } };
    expect(report.totals.rowsErased).toBe(4);

    expect(await personRows()).toEqual({ events: 0, merges: 0 });
    expect(await erasedInLedger()).toEqual([
      { feed: 'events', source: 'backfill', n: 3 },
      { feed: 'merge_ids', source: 'backfill', n: 1 },
    ]);
  });

  it('keeps them erased when the hour is exported again with new files, and counts those rows too', async () => {
    await writePersonFiles(join(dir, 'landing'), 22, 'person-2');

    expect(await local('--once')).toBe(0);

    expect(await personRows()).toEqual({ events: 0, merges: 0 });
    expect(await erasedInLedger()).toEqual([
      { feed: 'events', source: 'backfill', n: 3 },
      { feed: 'events', source: 'live', n: 3 },
      { feed: 'merge_ids', source: 'backfill', n: 1 },
      { feed: 'merge_ids', source: 'live', n: 1 },
    ]);
    // The erasure row still tells what the request itself removed.
    const { rows } = await client.query(
      "SELECT events_removed::int AS e, merge_ids_removed::int AS m FROM amplitude.erasures WHERE reference = 'DSR-101'",
    );
    expect(rows).toEqual([{ e: 3, m: 1 }]);
  });

  it.each([
    [['--amplitude-id', '12x', '--reference', 'T'], /--amplitude-id must be an Amplitude ID/],
    [['--user-id', 'someone'], /--reference is required/],
    [['--reference', 'T'], /Give the person to erase/],
  ])('is a usage error (exit 2) for %j, before opening the warehouse', async (flags, message) => {
    const run = await main(
      ['local', 'forget', '--home', 'home', '--database-url', 'postgres://nobody@127.0.0.1:1/x', ...flags],
      capture(dir).io,
    );
    expect(run).toBe(2);
    const captured = capture(dir);
    await main(
      ['local', 'forget', '--database-url', 'postgres://nobody@127.0.0.1:1/x', ...flags],
      captured.io,
    );
    expect(captured.text()).toMatch(message);
    expect(captured.text()).not.toContain('someone');
  });
});
