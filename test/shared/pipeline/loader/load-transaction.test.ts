import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backfillManifestKey } from '#shared/base/staging-keys.ts';
import { prepareChunk } from '#shared/pipeline/backfill/prepare.ts';
import { groupsThatFit, prepareLoadTransaction } from '#shared/pipeline/loader/load-transaction.ts';
import { runLoader } from '#shared/pipeline/loader/loader.ts';
import { generateSample } from '#shared/sample/generate.ts';
import type { Dialect } from '#shared/sql/dialect.ts';
import { MAX_STATEMENT_BYTES, statementBytes } from '#shared/warehouse/data-api-limits.ts';
import type { SqlRunner } from '#shared/warehouse/sql-runner.ts';
import { manualClock, settingsFor, type TempStores, tempStores } from '../batcher/support.ts';
import { eventRow, settingsFor as loaderSettings, stageBatch } from './fixtures.ts';

const LOCK: Record<Dialect, RegExp> = {
  redshift: /^LOCK "amplitude"\."export_loads"$/,
  postgres: /^LOCK TABLE "amplitude"\."export_loads" IN SHARE ROW EXCLUSIVE MODE$/,
};

/** A warehouse that accepts every transaction and records what it was asked to run. */
function recordingRunner(dialect: Dialect, transactions: string[][]): SqlRunner {
  let next = 0;
  return {
    dialect,
    transaction: async (statements) => {
      transactions.push([...statements]);
      return { statementId: `stmt-${++next}`, rowCounts: [] };
    },
    startTransaction: async (statements) => {
      transactions.push([...statements]);
      return { statementId: `stmt-${++next}` };
    },
    describe: async (statementId) => ({ statementId, status: 'FINISHED' }),
    loadErrorDetails: async () => ({ source: 'postgresql', details: [] }),
    query: async () => [],
    close: async () => undefined,
  };
}

/** The longest batch id the layout allows (128 characters), unique per index. */
const longBatchId = (index: number) => `${'b'.repeat(121)}-${String(index).padStart(6, '0')}`;

let stores: TempStores;
beforeEach(async () => {
  stores = await tempStores('load-transaction');
});
afterEach(async () => {
  await stores.remove();
});

describe('one load transaction for the live loader and the backfill', () => {
  it.each(['redshift', 'postgres'] as const)(
    'starts every load transaction with the ledger LOCK, live and backfill (%s)',
    async (dialect) => {
      // Live: several loads (a batch that failed alone before is loaded on its own).
      await stageBatch(stores.staging, { batchId: 'ev-1', feed: 'events', rows: [eventRow('u-1')] });
      await stageBatch(stores.staging, { batchId: 'ev-2', feed: 'events', rows: [] });
      const live: string[][] = [];
      await runLoader({
        store: stores.staging,
        runner: recordingRunner(dialect, live),
        settings: loaderSettings('amplitude', { feeds: ['events'], maxBatchesPerLoad: 1 }),
        clock: manualClock('2024-03-02T12:00:00Z'),
      });
      expect(live).toHaveLength(2);

      // Backfill: the prepare step's statements, which the state machine submits as they are.
      await generateSample(stores.landing, { start: '2024-05-01', days: 1, eventsPerHour: 4, seed: 5 });
      const prepared = [];
      for (const feed of ['events', 'merge_ids'] as const) {
        prepared.push(
          await prepareChunk(
            {
              landing: stores.landing,
              staging: stores.staging,
              settings: settingsFor(),
              dialect,
              clock: manualClock('2026-01-01T00:00:00Z'),
            },
            {
              chunk: {
                runId: 'run-1',
                chunkId: `${feed}-2024050100-2024050123`,
                feed,
                startHour: '2024-05-01T00',
                endHour: '2024-05-01T23',
              },
              attempt: 1,
            },
          ),
        );
      }
      const transactions = [...live, ...prepared.map((chunk) => [...chunk.statements])];
      expect(transactions).toHaveLength(4);
      for (const statements of transactions) {
        expect(statements[0]).toMatch(LOCK[dialect]);
        expect(statements.slice(1).some((sql) => /^LOCK/.test(sql))).toBe(false);
      }
    },
  );

  it('splits the largest allowed batch set with the longest batch ids so that no statement passes 100 KB', async () => {
    const MAX_BATCHES_PER_LOAD = 500; // the largest value the configuration accepts
    for (let index = 0; index < MAX_BATCHES_PER_LOAD; index++) {
      await stageBatch(stores.staging, {
        batchId: longBatchId(index),
        feed: 'events',
        rows: index % 50 === 0 ? [eventRow(`u-${index}`)] : [],
        duplicatesInBatch: 123_456_789,
        quarantined: { invalid_json: 987_654_321 },
      });
    }
    const transactions: string[][] = [];
    const summary = await runLoader({
      store: stores.staging,
      runner: recordingRunner('redshift', transactions),
      settings: loaderSettings('amplitude', {
        feeds: ['events'],
        maxBatchesPerLoad: MAX_BATCHES_PER_LOAD,
        copyRoleArn: `arn:aws:iam::123456789012:role/${'r'.repeat(60)}`,
      }),
      clock: manualClock('2024-03-02T12:00:00Z'),
    });

    expect(summary.errors).toEqual([]);
    expect(transactions.length).toBeGreaterThan(1);
    const largest = Math.max(...transactions.flat().map(statementBytes));
    expect(largest).toBeLessThanOrEqual(MAX_STATEMENT_BYTES);
    // Every batch went into exactly one transaction, in order.
    const submitted = summary.feeds[0]!.loads.flatMap((load) => load.batchIds);
    expect(submitted).toEqual(Array.from({ length: MAX_BATCHES_PER_LOAD }, (_, index) => longBatchId(index)));
  });

  it('keeps a set that fits in one transaction', async () => {
    const manifests = [];
    for (let index = 0; index < 30; index++) {
      manifests.push(await stageBatch(stores.staging, { batchId: `ev-${index}`, feed: 'events', rows: [] }));
    }
    const target = { schema: 'amplitude', projectId: '777', feed: 'events' as const };
    expect(groupsThatFit('redshift', target, manifests)).toEqual([manifests]);
  });

  it('writes the COPY manifest only for a transaction that can be built, and refuses a file listed twice', async () => {
    const one = await stageBatch(stores.staging, {
      batchId: 'ev-1',
      feed: 'events',
      rows: [eventRow('u-1')],
    });
    const twin = { ...one, batch: { ...one.batch, batchId: 'ev-2' } };
    await expect(
      prepareLoadTransaction(stores.staging, {
        dialect: 'redshift',
        target: { schema: 'amplitude', projectId: '777', feed: 'events' },
        manifests: [one, twin],
        loadId: 'load-1',
      }),
    ).rejects.toThrow(/listed twice/);
    const prepared = await prepareLoadTransaction(stores.staging, {
      dialect: 'postgres',
      target: { schema: 'amplitude', projectId: '777', feed: 'events' },
      manifests: [one],
      loadId: 'load-2',
    });
    expect(prepared.copyManifestKey).toBe('manifests/copy/load-2.json');
    expect(await stores.staging.head('manifests/copy/load-1.json')).toBeUndefined();
  });

  it("checks the backfill's own batch manifest like the loader does, staging the batch again when it is not valid", async () => {
    await generateSample(stores.landing, { start: '2024-05-01', days: 1, eventsPerHour: 4, seed: 5 });
    const deps = {
      landing: stores.landing,
      staging: stores.staging,
      settings: settingsFor(),
      dialect: 'postgres' as const,
      clock: manualClock('2026-01-01T00:00:00Z'),
    };
    const chunk = {
      runId: 'run-1',
      chunkId: 'events-2024050100-2024050123',
      feed: 'events' as const,
      startHour: '2024-05-01T00',
      endHour: '2024-05-01T23',
    };
    const first = await prepareChunk(deps, { chunk, attempt: 1 });
    const key = backfillManifestKey('events', first.batchIds[0]!);
    // Someone else's manifest at the key: another project, same parts.
    const manifest = JSON.parse((await stores.staging.getBytes(key)).toString('utf8'));
    await stores.staging.put(
      key,
      JSON.stringify({ ...manifest, batch: { ...manifest.batch, projectId: '999' } }),
    );

    const again = await prepareChunk(deps, { chunk, attempt: 2 });

    expect(again.reused).toBe(false);
    expect(JSON.parse((await stores.staging.getBytes(key)).toString('utf8')).batch.projectId).toBe(
      settingsFor().projectId,
    );
  });
});
