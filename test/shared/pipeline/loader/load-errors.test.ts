import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { manifestKey } from '#shared/base/staging-keys.ts';
import { SERVICES } from '#shared/observability/metric-names.ts';
import { createLogger } from '#shared/observability/powertools.ts';
import { loaderRunSummary, logRunSummary } from '#shared/observability/run-summary.ts';
import { runLoader } from '#shared/pipeline/loader/loader.ts';
import { attemptsKey, failureReportKey } from '#shared/pipeline/loader/state.ts';
import { captureOutput } from '#test/shared/observability/capture.ts';
import { eventRow, eventUuids, stageBatch, useWorlds } from './fixtures.ts';

/**
 * A batch whose staged part holds a value COPY rejects: the failure report next to the batch
 * says which file, line and column, with PostgreSQL's code and reason, and never the value.
 */

const database = useWorlds('loader_load_errors');

const clock = () => new Date('2024-03-02T12:00:00.000Z');
/** The malformed value: an event payload that must appear in no report and no log line. */
const BAD_VALUE = 'amp-7f3a-payload-secret';

async function readJson(store: { getBytes(key: string): Promise<Buffer> }, key: string) {
  return JSON.parse((await store.getBytes(key)).toString('utf8'));
}

describe('load error details on PostgreSQL', () => {
  it('names the file, line and column COPY rejected, with code and reason, without the value', async () => {
    const w = await database.world({ feeds: ['events'], maxLoadAttempts: 3 });
    await stageBatch(w.store, { batchId: 'ev-good', feed: 'events', rows: [eventRow('u-good')] });
    // Several small parts, the bad value in a later line of one of them.
    const rows = Array.from({ length: 12 }, (_, index) =>
      eventRow(`u-${index}`, index === 8 ? { amplitude_id: BAD_VALUE } : {}),
    );
    const bad = await stageBatch(w.store, { batchId: 'ev-bad', feed: 'events', rows, partTargetBytes: 300 });
    expect(bad.entries.length).toBeGreaterThan(1);

    // Where the value really is: the part, and the line within that part.
    let where: { file: string; line: number } | undefined;
    for (const entry of bad.entries) {
      const lines = gunzipSync(await w.store.getBytes(w.store.keyOf(entry.url)))
        .toString('utf8')
        .split('\n');
      const index = lines.findIndex((line) => line.includes(BAD_VALUE));
      if (index >= 0) where = { file: entry.url, line: index + 1 };
    }
    expect(where).toBeDefined();
    expect(where!.file).not.toBe(bad.entries[0]!.url);
    const expected = {
      file: where!.file,
      line: where!.line,
      column: 'amplitude_id',
      code: '22P02',
      reason: 'invalid input syntax for type bigint: (value withheld)',
    };

    const first = await runLoader({ store: w.store, runner: w.runner, settings: w.settings, clock });
    expect(await eventUuids(database.url, w.schema)).toEqual(['u-good']);
    // The shared transaction, then the batch alone: both errors carry the rejected row.
    expect(first.errors.map((error) => [error.batchIds, error.kind, error.loadErrors])).toEqual([
      [['ev-bad', 'ev-good'], 'batch', { source: 'postgresql', details: [expected] }],
      [['ev-bad'], 'batch', { source: 'postgresql', details: [expected] }],
    ]);
    const attempts = await readJson(w.store, attemptsKey('events', 'ev-bad'));
    expect(attempts.lastError.loadErrors).toEqual({ source: 'postgresql', details: [expected] });

    const second = await runLoader({ store: w.store, runner: w.runner, settings: w.settings, clock });
    expect(second.feeds[0]!.failedBatchIds).toEqual(['ev-bad']);
    expect(await w.store.head(manifestKey('failed', 'events', 'ev-bad'))).toBeDefined();
    const report = await readJson(w.store, failureReportKey('events', 'ev-bad'));
    expect(report.attempts.lastError.loadErrors).toEqual({ source: 'postgresql', details: [expected] });
    expect(report.nextStep).toContain('attempts.lastError.loadErrors');

    // What the loader Lambda logs for these runs.
    const output = captureOutput();
    try {
      const logger = createLogger({ service: SERVICES.loader, component: 'loader' });
      logRunSummary(logger, loaderRunSummary(first));
      logRunSummary(logger, loaderRunSummary(second));
    } finally {
      output.restore();
    }
    const logged = output.json();
    expect(logged).toHaveLength(2);
    expect((logged[0]!.run as { errors: { loadErrors: unknown }[] }).errors[1]!.loadErrors).toEqual([
      expected,
    ]);

    for (const text of [
      JSON.stringify(first),
      JSON.stringify(second),
      JSON.stringify(attempts),
      JSON.stringify(report),
      ...output.lines,
    ]) {
      expect(text).not.toContain(BAD_VALUE);
    }
  });
});
