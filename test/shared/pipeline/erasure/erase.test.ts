import { describe, expect, it } from 'vitest';
import { ConfigError } from '#shared/config/validate.ts';
import {
  type EraseOptions,
  eraseFromWarehouse,
  validateErasureInput,
} from '#shared/pipeline/erasure/erase.ts';
import { runLoader } from '#shared/pipeline/loader/loader.ts';
import {
  eventRow,
  eventUuids,
  mergePairs,
  mergeRow,
  PROJECT_ID,
  selectRows,
  stageBatch,
  useWorlds,
} from '../loader/fixtures.ts';

const database = useWorlds('erasure');

const now = new Date('2024-04-01T08:00:00.000Z');

/**
 * A person with three more Amplitude IDs: 101 was merged into 100, and so was 102, into which
 * 103 had been merged before (a chain: 101 -> 100 <- 102 <- 103). 200/201 are someone else.
 */
async function loadedWorld() {
  const w = await database.world();
  await stageBatch(w.store, {
    batchId: 'ev-1',
    feed: 'events',
    rows: [
      eventRow('p-100', { amplitude_id: '100', event_time: '2024-03-01 10:00:00.000000' }),
      eventRow('p-101', { amplitude_id: '101', event_time: '2024-03-01 11:30:00.000000' }),
      eventRow('o-200', { amplitude_id: '200', event_time: '2024-03-01 11:00:00.000000' }),
    ],
  });
  await stageBatch(w.store, {
    batchId: 'ev-2',
    feed: 'events',
    rows: [
      eventRow('p-103', { amplitude_id: '103', event_time: '2024-03-02 09:00:00.000000' }),
      eventRow('o-201', {
        amplitude_id: '201',
        user_id: "o'brien\\x",
        event_time: '2024-03-02 09:00:00.000000',
      }),
      eventRow('o-202', {
        amplitude_id: '202',
        device_id: 'dev-9',
        event_time: '2024-03-05 00:00:00.000000',
      }),
    ],
  });
  await stageBatch(w.store, {
    batchId: 'mg-1',
    feed: 'merge_ids',
    rows: [
      mergeRow('100', '101', { merge_event_time: '2024-03-01 09:00:00.000000' }),
      mergeRow('100', '102', { merge_event_time: '2024-03-01 09:30:00.000000' }),
      mergeRow('102', '103', { merge_event_time: '2024-02-28 09:00:00.000000' }),
      mergeRow('200', '201', { merge_event_time: '2024-03-01 09:00:00.000000' }),
    ],
  });
  const load = await runLoader({
    store: w.store,
    runner: w.runner,
    settings: w.settings,
    clock: () => now,
    runId: 'r-1',
  });
  expect(load.feeds.reduce((sum, feed) => sum + feed.rowsLoaded, 0)).toBe(10);
  return w;
}

/** An erasure request against the loaded world, at `now`, of every feed unless it says otherwise. */
function erase(
  w: Awaited<ReturnType<typeof loadedWorld>>,
  request: Omit<EraseOptions, 'runner' | 'schema' | 'projectId' | 'feeds' | 'now'> &
    Partial<Pick<EraseOptions, 'feeds'>>,
) {
  return eraseFromWarehouse({
    runner: w.runner,
    schema: w.schema,
    projectId: PROJECT_ID,
    feeds: w.settings.feeds,
    now,
    ...request,
  });
}

const erasures = (url: string, schema: string) =>
  selectRows(
    url,
    `SELECT reference, project_id, amplitude_id::text AS amplitude_id, user_id, device_id, requested_at::text AS requested_at,
            applied_at IS NOT NULL AS applied, linked_amplitude_ids::int AS linked,
            events_removed::int AS events_removed, events_min_time::text AS events_from, events_max_time::text AS events_to,
            merge_ids_removed::int AS merge_ids_removed, merge_ids_min_time::text AS merges_from, merge_ids_max_time::text AS merges_to
     FROM "${schema}".erasures ORDER BY applied_at, erasure_id`,
  );

describe('eraseFromWarehouse on PostgreSQL', () => {
  it('removes every row of the person and of every ID merged with them, transitively, and records the counts', async () => {
    const w = await loadedWorld();

    const outcome = await erase(w, {
      identifiers: { amplitudeId: '101' },
      reference: 'DSR-1',
      randomSuffix: 'abcd1234',
    });

    expect(await eventUuids(database.url, w.schema)).toEqual(['o-200', 'o-201', 'o-202']);
    expect(await mergePairs(database.url, w.schema)).toEqual(['200>201']);
    expect(outcome).toMatchObject({
      dryRun: false,
      erasureId: 'er-20240401t080000-abcd1234',
      linkedAmplitudeIds: 3,
      tables: [
        {
          table: `events_${PROJECT_ID}`,
          rows: 3,
          from: '2024-03-01T10:00:00.000Z',
          to: '2024-03-02T09:00:00.000Z',
        },
        {
          table: `merge_ids_${PROJECT_ID}`,
          rows: 3,
          from: '2024-02-28T09:00:00.000Z',
          to: '2024-03-01T09:30:00.000Z',
        },
      ],
    });
    // Both loaded event batches span the person's rows, as does the merged-ID batch.
    expect(outcome.exposedBatches.map((batch) => `${batch.feed}/${batch.batchId}`).sort()).toEqual([
      'events/ev-1',
      'events/ev-2',
      'merge_ids/mg-1',
    ]);
    expect(await erasures(database.url, w.schema)).toEqual([
      {
        reference: 'DSR-1',
        project_id: PROJECT_ID,
        amplitude_id: '101',
        user_id: null,
        device_id: null,
        requested_at: '2024-04-01 08:00:00',
        applied: true,
        linked: 3,
        events_removed: 3,
        events_from: '2024-03-01 10:00:00',
        events_to: '2024-03-02 09:00:00',
        merge_ids_removed: 3,
        merges_from: '2024-02-28 09:00:00',
        merges_to: '2024-03-01 09:30:00',
      },
    ]);
    const covered = await selectRows(
      database.url,
      `SELECT amplitude_id::text AS id FROM "${w.schema}".erased_amplitude_ids ORDER BY 1`,
    );
    expect(covered.map((row) => row.id)).toEqual(['100', '101', '102', '103']);
  });

  it('counts in a dry run exactly what the erasure then removes, and changes nothing', async () => {
    const w = await loadedWorld();
    const request = { identifiers: { amplitudeId: '103', deviceId: 'dev-9' }, reference: 'DSR-2' };

    const dry = await erase(w, { ...request, dryRun: true });
    expect(await eventUuids(database.url, w.schema)).toHaveLength(6);
    expect(await mergePairs(database.url, w.schema)).toHaveLength(4);
    expect(await erasures(database.url, w.schema)).toEqual([]);
    expect(dry.erasureId).toBeUndefined();

    const applied = await erase(w, request);
    expect(dry.tables).toEqual(applied.tables);
    expect(dry.linkedAmplitudeIds).toBe(applied.linkedAmplitudeIds);
    expect(dry.exposedBatches).toEqual(applied.exposedBatches);
    expect(applied.tables.map((table) => table.rows)).toEqual([4, 3]);
    expect(await eventUuids(database.url, w.schema)).toEqual(['o-200', 'o-201']);
  });

  it('matches a user id with quotes and backslashes exactly, and nothing merged with it', async () => {
    const w = await loadedWorld();

    const outcome = await erase(w, {
      identifiers: { userId: "o'brien\\x" },
      reference: 'DSR-3',
    });

    expect(outcome.tables.map((table) => table.rows)).toEqual([1, 0]);
    expect(await eventUuids(database.url, w.schema)).toEqual(['o-200', 'o-202', 'p-100', 'p-101', 'p-103']);
    expect(await mergePairs(database.url, w.schema)).toHaveLength(4);
    const [row] = await erasures(database.url, w.schema);
    expect(row).toMatchObject({ user_id: "o'brien\\x", linked: 0, events_removed: 1, merge_ids_removed: 0 });
  });

  it('records a request that matches nothing today, with zero counts and no time range', async () => {
    const w = await loadedWorld();

    const outcome = await erase(w, {
      feeds: ['events'],
      identifiers: { amplitudeId: '999' },
      reference: 'DSR-4',
    });

    expect(outcome.tables).toEqual([{ feed: 'events', table: `events_${PROJECT_ID}`, rows: 0 }]);
    expect(outcome.exposedBatches).toEqual([]);
    expect(await erasures(database.url, w.schema)).toEqual([
      expect.objectContaining({
        amplitude_id: '999',
        events_removed: 0,
        events_from: null,
        merge_ids_removed: null,
        linked: 0,
      }),
    ]);
    expect(await eventUuids(database.url, w.schema)).toHaveLength(6);
  });
});

describe('validateErasureInput', () => {
  const flags = {
    amplitudeId: '--amplitude-id',
    userId: '--user-id',
    deviceId: '--device-id',
    reference: '--reference',
  };

  it('keeps identifiers as given and normalizes only the number', () => {
    expect(
      validateErasureInput({ amplitudeId: '0042', userId: ' Alice ', reference: ' T-1 ' }, flags),
    ).toEqual({ identifiers: { amplitudeId: '42', userId: ' Alice ' }, reference: 'T-1' });
  });

  it.each([
    [{ amplitudeId: '12a', reference: 'T' }, /--amplitude-id must be an Amplitude ID/],
    [{ amplitudeId: '9223372036854775808', reference: 'T' }, /--amplitude-id/],
    [{ amplitudeId: '0', reference: 'T' }, /--amplitude-id/],
    [{ userId: '', reference: 'T' }, /--user-id must be the user_id/],
    [{ deviceId: 'x'.repeat(1025), reference: 'T' }, /--device-id .* at most 1024 bytes/],
    [{ reference: 'T' }, /Give the person to erase/],
    [{ userId: 'alice' }, /--reference is required/],
    [{ userId: 'alice', reference: '   ' }, /--reference is required/],
    [{ userId: 'alice', reference: 'two\nlines' }, /--reference is required/],
  ])('refuses %j with a usage error that does not repeat the identifier', (raw, message) => {
    let error: unknown;
    try {
      validateErasureInput(raw, flags);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('alice');
  });
});
