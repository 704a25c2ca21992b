import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { RUN_STATUS_COUNTS_QUERY, RUN_STATUS_QUERY } from '#shared/observability/insights.ts';
import { PIPELINE_LOG_NAME } from '#shared/observability/powertools.ts';
import {
  backfillPrepareRunSummary,
  listIds,
  loaderRunSummary,
  RUN_SUMMARY_MESSAGE,
  type RunSummaryLine,
} from '#shared/observability/run-summary.ts';
import { emptyFeedLoadSummary, type LoaderSummary } from '#shared/pipeline/loader/summary.ts';

const RUN: LoaderSummary = {
  runId: 'load-1',
  feeds: [
    {
      ...emptyFeedLoadSummary('events'),
      rowsLoaded: 10,
      duplicatesSkipped: 1,
      batchesLoaded: 1,
      batchesPending: 3,
      loads: [
        { loadId: 'load-1-e1', statementId: 'stmt-1', batchIds: ['b-1'], rowsLoaded: 10, durationMs: 900 },
      ],
    },
  ],
  errors: [],
  needsAttention: false,
  durationMs: 1000,
};

describe('loaderRunSummary', () => {
  it('says what needs doing through its status', () => {
    expect(loaderRunSummary(RUN).status).toBe('ok');
    expect(
      loaderRunSummary({
        ...RUN,
        errors: [
          {
            feed: 'events',
            batchIds: ['b-2'],
            kind: 'retryable',
            name: 'RetryableWarehouseError',
            message: 'busy',
          },
        ],
        stoppedEarly: 'retryable-error',
      }).status,
    ).toBe('retrying');
    expect(loaderRunSummary({ ...RUN, needsAttention: true }).status).toBe('needs_attention');
    expect(
      loaderRunSummary({ ...RUN, skipped: { reason: 'lease-held', heldBy: 'loader:x', expiresAt: 'later' } })
        .status,
    ).toBe('skipped');
  });

  it('carries the ids to follow the run and prefers the listed backlog', () => {
    const line = loaderRunSummary(RUN, { events: { count: 5, oldestAgeSeconds: 700 } });
    expect(line).toMatchObject({
      statementIds: 'stmt-1',
      loadIds: 'load-1-e1',
      batchIds: 'b-1',
      batchesPending: 5,
      oldestPendingSeconds: 700,
    });
  });

  it('shows the slowest landing-to-commit delay and the widest read, in total and per feed', () => {
    const events = RUN.feeds[0]!;
    const line = loaderRunSummary({
      ...RUN,
      feeds: [
        {
          ...events,
          landingToCommitSeconds: [300, 840, 410],
          loads: [
            { ...events.loads[0]!, hoursRead: 3, hoursSpan: 3, secondsRead: 2400 },
            { ...events.loads[0]!, loadId: 'load-1-e2', hoursRead: 4, hoursSpan: 241, secondsRead: 1900 },
          ],
        },
      ],
    });
    const widest = { landingToCommitSeconds: 840, hoursRead: 4, hoursSpan: 241, secondsRead: 2400 };
    expect(line).toMatchObject(widest);
    expect(line.feeds?.events).toMatchObject(widest);
    // A run that committed nothing has none of them.
    expect(loaderRunSummary(RUN)).not.toHaveProperty('hoursRead');
    expect(loaderRunSummary(RUN)).not.toHaveProperty('landingToCommitSeconds');
  });

  it('cuts quoted values out of error messages', () => {
    const line = loaderRunSummary({
      ...RUN,
      errors: [
        { feed: 'events', batchIds: ['b-2'], kind: 'batch', name: 'E', message: "bad value 'MARKER-7d1e'" },
      ],
    });
    expect(JSON.stringify(line)).not.toContain('MARKER-7d1e');
  });
});

describe('backfillPrepareRunSummary', () => {
  it('never includes the load statements', () => {
    const line = backfillPrepareRunSummary(
      { runId: 'bf-run', chunkId: 'events-2026010100-2026010123', feed: 'events' },
      {
        chunkId: 'events-2026010100-2026010123',
        empty: false,
        files: 2,
        batchIds: ['bf-ev-1'],
        loadId: 'bf-1-ev-2026010100-a1',
        statements: ["INSERT INTO t VALUES ('MARKER-7d1e')"],
        rowsStaged: 20,
        quarantined: 1,
        reused: false,
      },
      1,
    );
    expect(JSON.stringify(line)).not.toContain('INSERT');
    expect(line).toMatchObject({ files: 2, rowsBatched: 20, loadIds: 'bf-1-ev-2026010100-a1' });
  });
});

describe('listIds', () => {
  it('lists at most 50 ids and says how many more there were', () => {
    const ids = Array.from({ length: 53 }, (_, index) => `b-${index}`);
    const listed = listIds(ids) ?? '';
    expect(listed.split(',')).toHaveLength(51);
    expect(listed.endsWith(',+3 more')).toBe(true);
    expect(listIds([])).toBeUndefined();
  });
});

describe('the Logs Insights queries', () => {
  it('filter on the summary message and the pipeline key the logger writes', () => {
    for (const query of [RUN_STATUS_QUERY, RUN_STATUS_COUNTS_QUERY]) {
      expect(query).toContain(`message = "${RUN_SUMMARY_MESSAGE}"`);
      expect(query).toContain(`pipeline = "${PIPELINE_LOG_NAME}"`);
    }
  });

  it('only read fields a summary line has', () => {
    const known: ReadonlyArray<keyof RunSummaryLine> = [
      'kind',
      'runId',
      'status',
      'durationMs',
      'files',
      'rowsBatched',
      'rowsLoaded',
      'duplicates',
      'quarantined',
      'batchesPending',
      'oldestPendingSeconds',
      'freshnessSeconds',
      'landingToCommitSeconds',
      'hoursRead',
      'hoursSpan',
      'secondsRead',
      'chunks',
      'chunksFailed',
      'note',
      'errors',
    ];
    const used = [...`${RUN_STATUS_QUERY}\n${RUN_STATUS_COUNTS_QUERY}`.matchAll(/\brun\.([A-Za-z]+)/g)].map(
      (m) => m[1],
    );
    expect(used.length).toBeGreaterThan(10);
    for (const field of used) expect(known).toContain(field);
  });

  it('are the ones the README tells operators to paste', async () => {
    const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
    for (const query of [RUN_STATUS_QUERY, RUN_STATUS_COUNTS_QUERY]) {
      expect(readme).toContain(`\`\`\`\n${query}\n\`\`\``);
    }
  });
});
