import { describe, expect, it } from 'vitest';
import { manifestKey, PREFIXES } from '#shared/base/staging-keys.ts';
import { runLoader } from '#shared/pipeline/loader/loader.ts';
import { attemptsKey, failureReportKey } from '#shared/pipeline/loader/state.ts';
import {
  PermanentWarehouseError,
  RetryableWarehouseError,
  type SqlRunner,
} from '#shared/warehouse/sql-runner.ts';
import {
  eventRow,
  eventUuids,
  instrumentRunner,
  keysUnder,
  ledgerFigures,
  type makeWorld,
  Steps,
  stageBatch,
  useWorlds,
} from './fixtures.ts';

const database = useWorlds('loader_failures');

function world(overrides: Parameters<typeof makeWorld>[1] = {}) {
  return database.world({ feeds: ['events'], ...overrides });
}

const clock = () => new Date('2024-03-02T12:00:00.000Z');
const SECRET_VALUE = 'do-not-log-this-value';

async function readJson(store: { getBytes(key: string): Promise<Buffer> }, key: string) {
  return JSON.parse((await store.getBytes(key)).toString('utf8'));
}

/** A runner whose transactions fail with `error` and that counts what it is asked. */
function failingRunner(runner: SqlRunner, error: Error, steps: Steps): SqlRunner {
  return {
    ...instrumentRunner(runner, steps),
    transaction: () => steps.step('runner.transaction', () => Promise.reject(error)),
  };
}

describe('loader failure handling', () => {
  it('isolates a batch COPY cannot read: the others load, it moves to failed after maxLoadAttempts', async () => {
    const w = await world({ maxLoadAttempts: 3 });
    await stageBatch(w.store, { batchId: 'ev-1', feed: 'events', rows: [eventRow('u-1')] });
    await stageBatch(w.store, {
      batchId: 'ev-2',
      feed: 'events',
      rows: [eventRow('u-2')],
      corruptCsv: `"only","${SECRET_VALUE}"\n`,
    });
    await stageBatch(w.store, { batchId: 'ev-3', feed: 'events', rows: [eventRow('u-3')] });

    const first = await runLoader({ store: w.store, runner: w.runner, settings: w.settings, clock });
    // The shared transaction failed, then each batch went alone: the good ones loaded.
    expect(first.feeds[0]!.loads.map((load) => load.batchIds)).toEqual([['ev-1'], ['ev-3']]);
    expect(first.feeds[0]).toMatchObject({ batchesLoaded: 2, batchesFailed: 0, batchesPending: 1 });
    expect(first.errors.map((error) => [error.batchIds, error.kind])).toEqual([
      [['ev-1', 'ev-2', 'ev-3'], 'batch'],
      [['ev-2'], 'batch'],
    ]);
    expect(first.needsAttention).toBe(false);
    expect(await eventUuids(database.url, w.schema)).toEqual(['u-1', 'u-3']);
    expect(await readJson(w.store, attemptsKey('events', 'ev-2'))).toMatchObject({
      batchId: 'ev-2',
      attempts: 2,
      lastError: { name: 'PermanentWarehouseError', alone: true },
    });
    expect(await keysUnder(w.store, PREFIXES.attempts)).toEqual([attemptsKey('events', 'ev-2')]);

    // A new batch is not held up by the one that keeps failing.
    await stageBatch(w.store, { batchId: 'ev-4', feed: 'events', rows: [eventRow('u-4')] });
    const second = await runLoader({ store: w.store, runner: w.runner, settings: w.settings, clock });
    expect(second.feeds[0]!.loads.map((load) => load.batchIds)).toEqual([['ev-4']]);
    expect(second.feeds[0]).toMatchObject({
      batchesLoaded: 1,
      batchesFailed: 1,
      batchesPending: 0,
      failedBatchIds: ['ev-2'],
    });
    expect(second.needsAttention).toBe(true);

    expect(await eventUuids(database.url, w.schema)).toEqual(['u-1', 'u-3', 'u-4']);
    expect((await ledgerFigures(database.url, w.schema)).map((row) => row.batch_id)).toEqual([
      'ev-1',
      'ev-3',
      'ev-4',
    ]);
    expect(await keysUnder(w.store, PREFIXES.pending)).toEqual([]);
    expect(await keysUnder(w.store, PREFIXES.attempts)).toEqual([]);
    expect(await keysUnder(w.store, PREFIXES.failed)).toEqual([
      failureReportKey('events', 'ev-2'),
      manifestKey('failed', 'events', 'ev-2'),
    ]);
    const report = await readJson(w.store, failureReportKey('events', 'ev-2'));
    expect(report).toMatchObject({
      batchId: 'ev-2',
      reason: 'max-load-attempts',
      attempts: { attempts: 3, lastError: { alone: true } },
      nextStep: expect.stringContaining(manifestKey('pending', 'events', 'ev-2')),
    });

    // Errors describe what failed without the data that made it fail.
    const everything = JSON.stringify([first, second, report]);
    expect(everything).not.toContain(SECRET_VALUE);
  });

  it('keeps batches pending without counting an attempt on a retryable error', async () => {
    const w = await world();
    await stageBatch(w.store, { batchId: 'ev-1', feed: 'events', rows: [eventRow('u-1')] });
    await stageBatch(w.store, { batchId: 'mi-1', feed: 'merge_ids', rows: [] });
    const steps = new Steps();
    const summary = await runLoader({
      store: w.store,
      runner: failingRunner(
        w.runner,
        new RetryableWarehouseError('Throttled, try later', 'ThrottlingException'),
        steps,
      ),
      settings: { ...w.settings, feeds: ['events', 'merge_ids'] },
      clock,
    });
    expect(steps.count('runner.transaction')).toBe(1);
    expect(summary).toMatchObject({ stoppedEarly: 'retryable-error', needsAttention: false });
    expect(summary.errors).toEqual([
      {
        feed: 'events',
        batchIds: ['ev-1'],
        loadId: expect.any(String),
        kind: 'retryable',
        name: 'RetryableWarehouseError',
        code: 'ThrottlingException',
        message: 'Throttled, try later',
      },
    ]);
    expect(summary.feeds.map((feed) => feed.batchesPending)).toEqual([1, 1]);
    expect(await keysUnder(w.store, PREFIXES.attempts)).toEqual([]);
    expect(await keysUnder(w.store, PREFIXES.pending)).toHaveLength(2);
  });

  it('stops without blaming any batch when the setup is wrong, and asks for attention', async () => {
    const w = await world({ maxLoadAttempts: 1 });
    await stageBatch(w.store, { batchId: 'ev-1', feed: 'events', rows: [eventRow('u-1')] });
    await stageBatch(w.store, { batchId: 'ev-2', feed: 'events', rows: [eventRow('u-2')] });
    const steps = new Steps();
    const denied = new PermanentWarehouseError('permission denied for table events_777', '42501');
    for (let run = 0; run < 2; run++) {
      const summary = await runLoader({
        store: w.store,
        runner: failingRunner(w.runner, denied, steps),
        settings: w.settings,
        clock,
      });
      expect(summary).toMatchObject({ stoppedEarly: 'systemic-error', needsAttention: true });
      expect(summary.errors.map((error) => [error.kind, error.code])).toEqual([['systemic', '42501']]);
      expect(summary.feeds[0]).toMatchObject({ batchesFailed: 0, batchesPending: 2 });
    }
    expect(steps.count('runner.transaction')).toBe(2);
    expect(await keysUnder(w.store, PREFIXES.attempts)).toEqual([]);
    expect(await keysUnder(w.store, PREFIXES.failed)).toEqual([]);
  });

  it('moves an unreadable manifest to failed with the reason and loads the rest', async () => {
    const w = await world();
    await stageBatch(w.store, { batchId: 'ev-1', feed: 'events', rows: [eventRow('u-1')] });
    await w.store.put(
      manifestKey('pending', 'events', 'ev-bad'),
      '{"entries": [], "batch": {"batchId": "ev-bad"}}',
    );
    const summary = await runLoader({ store: w.store, runner: w.runner, settings: w.settings, clock });
    expect(summary.needsAttention).toBe(true);
    expect(summary.feeds[0]).toMatchObject({
      batchesLoaded: 1,
      batchesFailed: 1,
      failedBatchIds: ['ev-bad'],
      batchesPending: 0,
    });
    expect(summary.errors).toEqual([
      expect.objectContaining({ kind: 'manifest', batchIds: ['ev-bad'], name: 'ManifestValidationError' }),
    ]);
    expect(await readJson(w.store, failureReportKey('events', 'ev-bad'))).toMatchObject({
      reason: 'invalid-manifest',
      error: { name: 'ManifestValidationError' },
    });
    expect(await eventUuids(database.url, w.schema)).toEqual(['u-1']);
  });

  it('does not repeat a value the warehouse rejected in errors or state files', async () => {
    const w = await world({ maxLoadAttempts: 1 });
    await stageBatch(w.store, {
      batchId: 'ev-1',
      feed: 'events',
      rows: [eventRow('u-1', { amplitude_id: SECRET_VALUE })],
    });
    const summary = await runLoader({ store: w.store, runner: w.runner, settings: w.settings, clock });
    expect(summary.feeds[0]).toMatchObject({ batchesFailed: 1, failedBatchIds: ['ev-1'] });
    expect(summary.errors[0]!.message).toContain('invalid input syntax for type bigint: (value withheld)');
    const report = (await w.store.getBytes(failureReportKey('events', 'ev-1'))).toString('utf8');
    expect(JSON.stringify(summary) + report).not.toContain(SECRET_VALUE);
  });

  it('starts no transaction once its time budget is spent', async () => {
    const w = await world();
    await stageBatch(w.store, { batchId: 'ev-1', feed: 'events', rows: [eventRow('u-1')] });
    const steps = new Steps();
    const summary = await runLoader({
      store: w.store,
      runner: instrumentRunner(w.runner, steps),
      settings: w.settings,
      clock,
      budgetMs: 0,
    });
    expect(summary).toMatchObject({ stoppedEarly: 'budget', needsAttention: false, errors: [] });
    expect(summary.feeds[0]!.batchesPending).toBe(1);
    expect(steps.count('runner.transaction')).toBe(0);
  });
});
