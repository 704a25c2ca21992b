import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREFIXES } from '#shared/base/staging-keys.ts';
import { runLoader } from '#shared/pipeline/loader/loader.ts';
import type { ObjectStore } from '#shared/storage/object-store.ts';
import { createTestDatabase } from '#test/support/postgres.ts';
import {
  eventRow,
  eventUuids,
  InjectedCrash,
  instrumentRunner,
  instrumentStore,
  keysUnder,
  ledgerFigures,
  makeWorld,
  mergePairs,
  mergeRow,
  Steps,
  stageBatch,
} from './fixtures.ts';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  db = await createTestDatabase('loader_crash');
});
afterAll(async () => {
  await db.drop();
});

const start = new Date('2024-03-02T12:00:00.000Z');
// Past the lease's 15 minutes: the run after a crash takes over the dead run's lease.
const later = new Date(start.getTime() + 16 * 60_000);

async function stageScenario(store: ObjectStore): Promise<void> {
  await stageBatch(store, {
    batchId: 'ev-a',
    feed: 'events',
    rows: [eventRow('u-1'), eventRow('u-2')],
    duplicatesInBatch: 1,
  });
  await stageBatch(store, { batchId: 'ev-b', feed: 'events', rows: [eventRow('u-2'), eventRow('u-3')] });
  await stageBatch(store, {
    batchId: 'mi-a',
    feed: 'merge_ids',
    rows: [mergeRow('1', '2'), mergeRow('1', '3')],
  });
}

const EXPECTED_LEDGER = [
  ['ev-a', 2, 1],
  ['ev-b', 1, 1],
  ['mi-a', 2, 0],
];

async function finalState(w: Awaited<ReturnType<typeof makeWorld>>) {
  return {
    uuids: await eventUuids(db.url, w.schema),
    pairs: await mergePairs(db.url, w.schema),
    ledger: (await ledgerFigures(db.url, w.schema)).map((row) => [row.batch_id, row.rows, row.duplicates]),
    pending: await keysUnder(w.store, PREFIXES.pending),
    loaded: (await keysUnder(w.store, PREFIXES.loaded)).length,
    failed: await keysUnder(w.store, PREFIXES.failed),
    attempts: await keysUnder(w.store, PREFIXES.attempts),
  };
}

const EXPECTED_STATE = {
  uuids: ['u-1', 'u-2', 'u-3'],
  pairs: ['1>2', '1>3'],
  ledger: EXPECTED_LEDGER,
  pending: [],
  loaded: 3,
  failed: [],
  attempts: [],
};

describe('loader crash safety', () => {
  let cleanRunSteps: string[] = [];

  it('loads the scenario in a clean run (reference for the crash runs)', async () => {
    const w = await makeWorld(db.url);
    try {
      await stageScenario(w.store);
      const steps = new Steps();
      const summary = await runLoader({
        store: instrumentStore(w.store, steps),
        runner: instrumentRunner(w.runner, steps),
        settings: w.settings,
        clock: () => start,
      });
      expect(summary.errors).toEqual([]);
      expect(await finalState(w)).toEqual(EXPECTED_STATE);
      cleanRunSteps = steps.calls;
      expect(steps.count('runner.transaction')).toBe(2);
    } finally {
      await w.close();
    }
  });

  it('ends in exactly the same rows and ledger after a crash at any step, before or after it', async () => {
    expect(cleanRunSteps.length).toBeGreaterThan(10);
    for (const when of ['before', 'after'] as const) {
      for (let crashAt = 1; crashAt <= cleanRunSteps.length; crashAt++) {
        const w = await makeWorld(db.url);
        try {
          await stageScenario(w.store);
          const steps = new Steps(crashAt, when);
          const crashed = await runLoader({
            store: instrumentStore(w.store, steps),
            runner: instrumentRunner(w.runner, steps),
            settings: w.settings,
            clock: () => start,
          }).then(
            () => undefined,
            (error: unknown) => error,
          );
          const label = `crash ${when} step ${crashAt} (${cleanRunSteps[crashAt - 1]})`;
          // Some steps are best-effort (deleting the used COPY manifest, releasing the lease):
          // a crash there is swallowed; any other crash must surface.
          if (!(crashed instanceof InjectedCrash)) {
            expect(crashed, label).toBeUndefined();
            expect(steps.crashed, label).toBe(true);
          }

          const recovery = await runLoader({
            store: w.store,
            runner: w.runner,
            settings: w.settings,
            clock: () => later,
          });
          expect(recovery.skipped, label).toBeUndefined();
          expect(recovery.errors, label).toEqual([]);
          expect(await finalState(w), label).toEqual(EXPECTED_STATE);
        } finally {
          await w.close();
        }
      }
    }
  });
});
