import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, runLocalBackfill } from '#cli/commands/local-backfill.ts';
import { type CliIo, UsageError } from '#cli/io.ts';
import type { PipelineSettings } from '#shared/config/pipeline.ts';
import type { BackfillReport } from '#shared/pipeline/backfill/summarize.ts';
import { generateSample, type SampleManifest } from '#shared/sample/generate.ts';
import type { SqlRunner } from '#shared/warehouse/sql-runner.ts';
import { count, failingReads, warehouseFor } from '../shared/pipeline/backfill/support.ts';
import { PROJECT_ID, settingsFor, type TempStores, tempStores } from '../shared/pipeline/batcher/support.ts';

function capture(cwd = process.cwd()): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (text) => out.push(text), stderr: (text) => err.push(text), env: {}, cwd };
}

let stores: TempStores;
let sample: SampleManifest;
let settings: PipelineSettings;
let warehouse: Awaited<ReturnType<typeof warehouseFor>>;

beforeAll(async () => {
  stores = await tempStores('cli-backfill');
  sample = await generateSample(stores.landing, { start: '2024-05-01', days: 1, eventsPerHour: 6, seed: 5 });
  settings = settingsFor();
  warehouse = await warehouseFor('cli_backfill', stores.staging, settings);
});

afterAll(async () => {
  await warehouse.close();
  await stores.remove();
});

describe('runLocalBackfill', () => {
  it('shows progress per chunk on stderr, prints the report on stdout and exits 0', async () => {
    const io = capture();
    const code = await runLocalBackfill(
      {
        store: stores.staging,
        landing: stores.landing,
        runner: warehouse.runner,
        settings,
        start: '2024-05-01T00',
        end: '2024-05-01T23',
        chunkHours: 12,
      },
      io,
    );

    expect(code).toBe(0);
    const report = JSON.parse(io.out.join('')) as BackfillReport;
    expect(report.totals).toMatchObject({ chunks: 4, loaded: 4, failed: 0 });
    expect(report.totals.rowsLoaded).toBe(sample.uniqueEvents + sample.uniqueMergePairs);
    const progress = io.err.filter((line) => line.startsWith('['));
    expect(progress).toHaveLength(4);
    expect(progress).toContainEqual(
      expect.stringMatching(
        /^\[\d\/4\] events 2024-05-01T00\.\.2024-05-01T11: loaded \d+ rows, 0 duplicates skipped, \d+ quarantined, from \d+ files \(/,
      ),
    );
    expect(io.err.at(-1)).toMatch(/^Loaded \d+ rows from 4 of 4 chunks/);
    expect(await count(warehouse.runner, `events_${PROJECT_ID}`)).toBe(sample.uniqueEvents);
  });

  it('exits 1 when a chunk failed, still printing the report that names it', async () => {
    const broken = await warehouseFor(
      'cli_backfill_broken',
      failingReads(stores.staging, 'staging/merge_ids/'),
      settings,
    );
    try {
      const io = capture();
      const code = await runLocalBackfill(
        {
          store: stores.staging,
          landing: stores.landing,
          runner: broken.runner,
          settings,
          start: '2024-05-01',
          end: '2024-05-01',
        },
        io,
      );

      expect(code).toBe(1);
      const report = JSON.parse(io.out.join('')) as BackfillReport;
      expect(report.chunks.map((chunk) => [chunk.chunkId, chunk.status])).toEqual([
        ['events-2024050100-2024050123', 'loaded'],
        ['merge_ids-2024050100-2024050123', 'failed'],
      ]);
      expect(io.err.join('')).toContain('FAILED LoadFailed');
      expect(io.err.at(-1)).toMatch(
        /^Backfill local-\S+ failed \(BackfillChunksFailed\): 1 of 2 chunks failed: merge_ids-2024050100-2024050123/,
      );
    } finally {
      await broken.close();
    }
  });

  it('exits 2 with the reason when the input is wrong, printing no report', async () => {
    const io = capture();
    const code = await runLocalBackfill(
      {
        store: stores.staging,
        landing: stores.landing,
        runner: warehouse.runner,
        settings,
        start: '2024-05-02',
        end: '2024-05-01',
      },
      io,
    );

    expect(code).toBe(2);
    expect(io.out).toEqual([]);
    expect(io.err.join('')).toMatch(
      /^redshift-export local backfill: end 2024-05-01T23 is before start 2024-05-02T00/,
    );
  });
});

describe('redshift-export local backfill', () => {
  it('runs against a landing folder and a database URL, exiting 0 when every chunk loaded', async () => {
    const io = capture(stores.dir);
    const code = await run(
      [
        '--start',
        '2024-05-01',
        '--end',
        '2024-05-01',
        '--home',
        join(stores.dir, 'home'),
        '--landing',
        join(stores.dir, 'landing'),
        '--database-url',
        warehouse.url,
        '--feeds',
        'events',
      ],
      io,
    );

    expect(code).toBe(0);
    const report = JSON.parse(io.out.join('')) as BackfillReport;
    expect(report.feeds).toEqual(['events']);
    // The first test loaded these files already (with another chunking, so as new batches).
    expect(report.totals).toMatchObject({ chunks: 1, failed: 0, rowsLoaded: 0 });
    expect(report.totals.duplicatesSkipped).toBe(sample.events);
  });

  it('asks for --start and --end, and prints its help', async () => {
    await expect(run(['--start', '2024-05-01'], capture())).rejects.toThrow(UsageError);
    await expect(
      run(['--start', '2024-05-01', '--end', '2024-05-01', '--chunk-hours', '0'], capture()),
    ).rejects.toThrow(/--chunk-hours must be a whole number from 1 to 168, got "0"/);
    const io = capture();
    expect(await run(['--help'], io)).toBe(0);
    expect(io.out.join('')).toContain('Usage: redshift-export local backfill --start DATE --end DATE');
  });
});

describe('local backfill run twice: chunk lines in chunk order, agreeing with the summary', () => {
  let twice: TempStores;
  let db: Awaited<ReturnType<typeof warehouseFor>>;
  beforeAll(async () => {
    twice = await tempStores('cli-backfill-twice');
    await generateSample(twice.landing, { start: '2024-05-01', days: 2, eventsPerHour: 4, seed: 9 });
    db = await warehouseFor('cli_backfill_twice', twice.staging, settings);
  });
  afterAll(async () => {
    await db.close();
    await twice.remove();
  });

  /**
   * The warehouse with the first chunk's load transaction held back, so the second chunk
   * finishes first: chunk lines printed as chunks finish come out of order.
   */
  function firstChunkLast(runner: SqlRunner): SqlRunner {
    return {
      dialect: runner.dialect,
      transaction: (statements, options) => runner.transaction(statements, options),
      startTransaction: async (statements, options) => {
        if (statements.some((sql) => sql.includes('bf-ev-2024050100'))) {
          await new Promise((done) => setTimeout(done, 1500));
        }
        return await runner.startTransaction(statements, options);
      },
      describe: (id) => runner.describe(id),
      loadErrorDetails: (failed) => runner.loadErrorDetails(failed),
      query: (sql) => runner.query(sql),
      close: () => runner.close(),
    };
  }

  async function backfillBothDays() {
    const io = capture();
    const code = await runLocalBackfill(
      {
        store: twice.staging,
        landing: twice.landing,
        runner: firstChunkLast(db.runner),
        settings,
        start: '2024-05-01',
        end: '2024-05-02',
        chunkHours: 12,
      },
      io,
    );
    expect(code).toBe(0);
    const report = JSON.parse(io.out.join('')) as BackfillReport;
    const lines = io.err
      .join('')
      .split('\n')
      .filter((line) => line.startsWith('['));
    return { report, lines, message: io.err.at(-1) ?? '' };
  }

  /** `[i/N] feed first..last` of each chunk of the report, in its order. */
  const chunkHeads = (report: BackfillReport) =>
    report.chunks.map(
      (chunk, index) =>
        `[${index + 1}/${report.chunks.length}] ${chunk.feed} ${chunk.startHour}..${chunk.endHour}: `,
    );
  const figure = (line: string, pattern: RegExp) => Number(pattern.exec(line)?.[1] ?? Number.NaN);

  it('the first run says loaded per chunk, in order, with the rows the summary adds up', async () => {
    const { report, lines, message } = await backfillBothDays();
    expect(report.totals).toMatchObject({ chunks: 8, loaded: 8, alreadyLoaded: 0, failed: 0 });
    expect(lines.map((line) => line.slice(0, line.indexOf(': ') + 2))).toEqual(chunkHeads(report));
    for (const line of lines)
      expect(line).toMatch(/: loaded \d+ rows, \d+ duplicates skipped, \d+ quarantined/);
    const rows = lines.reduce((total, line) => total + figure(line, /: loaded (\d+) rows/), 0);
    expect(rows).toBe(report.totals.rowsLoaded);
    expect(message).toMatch(new RegExp(`^Loaded ${rows} rows from 8 of 8 chunks \\(0 already loaded`));
  });

  it('the rerun says already loaded per chunk, in order, with the earlier counts from the ledger', async () => {
    const first = await count(db.runner, `events_${PROJECT_ID}`);
    const { report, lines, message } = await backfillBothDays();
    expect(report.totals).toMatchObject({ chunks: 8, loaded: 0, alreadyLoaded: 8, rowsLoaded: 0 });
    expect(lines.map((line) => line.slice(0, line.indexOf(': ') + 2))).toEqual(chunkHeads(report));
    for (const line of lines)
      expect(line).toMatch(/: already loaded \(\d+ rows by load bf-\S+\), nothing added/);
    const earlier = lines.reduce((total, line) => total + figure(line, /already loaded \((\d+) rows/), 0);
    const [ledger] = await db.runner.query<{ rows: number }>(
      `SELECT sum(rows_loaded) AS rows FROM amplitude.export_loads`,
    );
    expect(earlier).toBe(Number(ledger?.rows));
    expect(message).toMatch(/^Loaded 0 rows from 0 of 8 chunks \(8 already loaded, 0 without files\)/);
    expect(await count(db.runner, `events_${PROJECT_ID}`)).toBe(first);
  });
});
