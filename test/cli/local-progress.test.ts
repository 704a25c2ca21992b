import { describe, expect, it } from 'vitest';
import { PROGRESS_INTERVAL_MS, ProgressLine } from '#cli/local/progress.ts';
import {
  count,
  describeAlreadyLoaded,
  describeBatch,
  describeBatcherProgress,
  describeLoad,
  formatDelay,
} from '#cli/local/report.ts';
import { type BatcherSummary, emptyFeedSummary } from '#shared/pipeline/batcher/batcher.ts';
import { emptyFeedLoadSummary, type LoaderSummary } from '#shared/pipeline/loader/summary.ts';

/** A terminal as the progress line sees it, with a clock the test moves. */
function fakeTerminal(isTTY: boolean, columns = 40) {
  const writes: string[] = [];
  let now = 1_000;
  const line = new ProgressLine({ isTTY, columns, write: (text) => writes.push(text) }, () => now);
  return {
    line,
    writes,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('the progress line', () => {
  it('redraws one line in place on a terminal, cut to its width', () => {
    const { line, writes } = fakeTerminal(true, 40);
    line.update('batching events: 3 of 25 files, 60,000 lines, 0 batches staged');
    expect(writes).toEqual(['\r\x1b[2Kbatching events: 3 of 25 files, 60,0...']);
    // 39 characters: writing the last column makes some terminals wrap.
    expect(writes[0]!.slice('\r\x1b[2K'.length)).toHaveLength(39);
  });

  it(`draws at most once per ${PROGRESS_INTERVAL_MS} ms, however often it is told`, () => {
    const { line, writes, advance } = fakeTerminal(true);
    for (let i = 0; i < 100; i++) {
      line.update(`${i} lines`);
      advance(10);
    }
    // 1000 ms of updates every 10 ms: drawn at 0, 250, 500 and 750 ms.
    expect(writes.map((text) => text.slice('\r\x1b[2K'.length))).toEqual([
      '0 lines',
      '25 lines',
      '50 lines',
      '75 lines',
    ]);
    line.update('loading: looking for pending batches', true);
    expect(writes.at(-1)).toBe('\r\x1b[2Kloading: looking for pending batches');
  });

  it('erases itself before the summary is printed, and only if it drew something', () => {
    const { line, writes } = fakeTerminal(true);
    line.clear();
    expect(writes).toEqual([]);
    line.update('loading: 1 batch done, 200 rows inserted');
    line.clear();
    expect(writes.at(-1)).toBe('\r\x1b[2K');
    line.clear();
    expect(writes).toHaveLength(2);
  });

  it('writes nothing when stderr is not a terminal (a file, a pipe, CI)', () => {
    const { line, writes } = fakeTerminal(false);
    line.update('batching events: 1 of 1 file', true);
    line.clear();
    expect(writes).toEqual([]);
    expect(new ProgressLine(undefined).enabled).toBe(false);
  });

  it('says files, lines and batches while batching', () => {
    expect(
      describeBatcherProgress({ feed: 'events', files: 1, filesFound: 1, lines: 240_000, batches: 1 }),
    ).toBe('batching events: 1 of 1 file, 240,000 lines, 1 batch staged');
  });
});

describe('the human summary of a local run', () => {
  it('says 1 batch, 2 batches, 1 duplicate', () => {
    expect(count(1, 'batch', 'batches')).toBe('1 batch');
    expect(count(2, 'batch', 'batches')).toBe('2 batches');
    expect(count(1, 'duplicate')).toBe('1 duplicate');
    expect(count(490_459, 'row')).toBe('490,459 rows');
  });

  it('gives delays in human units', () => {
    expect(formatDelay(42)).toBe('42s');
    expect(formatDelay(252)).toBe('4m 12s');
    expect(formatDelay(42_725)).toBe('11h 52m');
    expect(formatDelay(2 * 86_400 + 3 * 3600)).toBe('2d 03h');
  });

  const batch: BatcherSummary = {
    runId: 'r',
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 1,
    budgetMs: 1,
    stoppedForBudget: false,
    feeds: {
      events: {
        ...emptyFeedSummary(),
        files: 28,
        lines: 4960,
        rows: 4868,
        duplicatesInBatch: 91,
        quarantined: { malformed_json: 1 },
        batches: ['ev-20260101-0000000000000000'],
      },
    },
  };
  const load: LoaderSummary = {
    runId: 'r',
    feeds: [
      {
        ...emptyFeedLoadSummary('events'),
        rowsLoaded: 4865,
        // The batch's own 91 plus 3 whose first copy was loaded before.
        duplicatesSkipped: 94,
        duplicatesAcrossBatches: 3,
        quarantined: 1,
        batchesLoaded: 1,
        landingToCommitSeconds: [252],
        freshnessSeconds: 42_725,
      },
    ],
    errors: [],
    needsAttention: false,
    freshnessSeconds: 42_725,
    durationMs: 1,
  };

  it('counts each duplicate once, where it was found, with singular batches and a readable delay', () => {
    const text = `${describeBatch(batch)} | ${describeLoad(load)}`;
    expect(text).toBe(
      'events 28 files, 4,960 lines -> 4,868 rows (91 duplicates, 1 quarantined); staged as 1 batch | ' +
        '1 batch: events 4,865 rows inserted; 3 more duplicates (already loaded, or in another batch); landing to commit 4m 12s',
    );
    // The loader's total (94) would count the batch's 91 a second time.
    expect(text).not.toContain('94');
    expect(text).not.toMatch(/freshness|42725|1 batches/);
  });

  it('says what was loaded before the run, and nothing when nothing was', () => {
    expect(
      describeAlreadyLoaded({
        feeds: [
          { feed: 'events', batches: 3, rows: 5469 },
          { feed: 'merge_ids', batches: 1, rows: 178 },
        ],
      }),
    ).toBe('already loaded before this run: events 5,469 rows, merge_ids 178 rows (4 batches)');
    expect(describeAlreadyLoaded({ feeds: [{ feed: 'events', batches: 0, rows: 0 }] })).toBeUndefined();
  });
});
