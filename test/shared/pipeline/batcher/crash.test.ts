import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventFileName } from '#shared/base/export-files.ts';
import { PREFIXES } from '#shared/base/staging-keys.ts';
import { type BatchManifest, parseBatchManifest } from '#shared/format/manifest.ts';
import { DEFAULT_BUDGET_MS, runBatcher } from '#shared/pipeline/batcher/batcher.ts';
import { generateSample, type SampleManifest } from '#shared/sample/generate.ts';
import type { ObjectStore } from '#shared/storage/object-store.ts';
import {
  InterceptingStore,
  manualClock,
  type Operation,
  PROJECT_ID,
  SimulatedCrash,
  settingsFor,
  snapshot,
  type TempStores,
  tempStores,
  VISIBLE_PREFIXES,
} from './support.ts';

const NOW = '2024-05-02T06:00:00.000Z';
const DAY = '2024-05-01';
const settings = settingsFor({ PART_TARGET_BYTES: '32768' });
const options = { maxFilesPerBatch: 16 } as const;

let temp: TempStores;
let sample: SampleManifest;
let reference: Map<string, string>;
/** Every write the uninterrupted run starts, in call order. */
let writes: { operation: Operation; key: string }[];
/** Call indexes of the writes that completed (a part upload dropped on an unreadable file does not). */
let completed: Set<number>;

/** Snapshot with the store's own root replaced, so two stores compare equal. */
async function visibleState(store: ObjectStore, ignoreCreatedAt = false): Promise<Map<string, string>> {
  const state = new Map<string, string>();
  for (const [key, body] of await snapshot(store, VISIBLE_PREFIXES)) {
    let text = body.toString('latin1').replaceAll(store.root, 'ROOT');
    if (ignoreCreatedAt) text = text.replace(/"createdAt": "[^"]+"/, '"createdAt": "-"');
    state.set(key, text);
  }
  return state;
}

async function linesInManifests(store: ObjectStore): Promise<number> {
  let lines = 0;
  for await (const object of store.list(PREFIXES.pending)) {
    const manifest: BatchManifest = parseBatchManifest(await store.getBytes(object.key), object.key);
    lines += manifest.batch.lines;
  }
  return lines;
}

beforeAll(async () => {
  temp = await tempStores('batcher-crash');
  sample = await generateSample(temp.landing, { start: DAY, eventsPerHour: 6, seed: 21 });
  // A file with bad lines (quarantine writes) and a truncated gzip file (a batch staged twice).
  await temp.landing.put(`${PROJECT_ID}_${DAY}_7#5.json`, '{"uuid":"x"}\nnot json\n');
  const whole = await temp.landing.getBytes(sample.files[3]!.key);
  await temp.landing.put(eventFileName(PROJECT_ID, DAY, 8, 5), whole.subarray(0, whole.length - 40));

  const counted = new InterceptingStore(temp.another('reference'));
  writes = [];
  completed = new Set();
  counted.beforeWrite = (operation, key) => writes.push({ operation, key });
  counted.afterWrite = (_operation, _key, index) => completed.add(index);
  const summary = await runBatcher({
    landing: temp.landing,
    staging: counted,
    settings,
    clock: manualClock(NOW),
    ...options,
  });
  expect(summary.feeds.events!.batches.length).toBeGreaterThan(1);
  expect(summary.feeds.events!.quarantined).toEqual({
    missing_required: 1,
    malformed_json: 1,
    unreadable_file: 1,
  });
  reference = await visibleState(counted);
}, 60_000);

afterAll(async () => {
  await temp.remove();
});

describe('runBatcher after a crash', () => {
  it('writes in the documented order: open record, parts, quarantine, manifest, processed record', () => {
    const kinds = writes.map(({ operation, key }) => {
      if (key.startsWith('state/leases/')) return `${operation}:lease`;
      if (key.startsWith('state/open-batches/')) return `${operation}:open`;
      if (key.startsWith('staging/')) return `${operation}:part`;
      if (key.startsWith('quarantine/')) return `${operation}:quarantine`;
      if (key.startsWith('manifests/pending/')) return `${operation}:manifest`;
      if (key.startsWith('state/processed/')) return `${operation}:processed`;
      return `${operation}:${key}`;
    });
    expect(kinds[0]).toBe('put:lease');
    expect(kinds.at(-1)).toBe('delete:lease');
    const batches = kinds.join(' ').split('put:open').slice(1);
    expect(batches.length).toBe(4);
    for (const batch of batches) {
      const order = batch
        .trim()
        .split(' ')
        .filter((kind) => kind !== 'delete:part')
        .map((kind) => kind.replace(/^put:part( put:part)*/, 'put:part'));
      const compact = order.filter((kind, i) => kind !== order[i - 1]);
      expect(compact.slice(0, 6), batch).toEqual(
        compact.includes('put:quarantine')
          ? ['put:part', 'put:quarantine', 'put:manifest', 'put:processed', 'delete:open', 'put:lease']
          : ['put:part', 'put:manifest', 'put:processed', 'delete:open', 'put:lease', ...compact.slice(5, 6)],
      );
    }
  });

  it('ends in exactly the state of an uninterrupted run, whichever write the crash hits', async () => {
    expect(writes.length).toBeGreaterThan(30);
    const expectedLines = await linesInManifests(temp.another('reference'));
    expect(expectedLines).toBe(sample.events + sample.mergeRows + 3);

    for (let crashAt = 1; crashAt <= writes.length; crashAt++) {
      for (const when of ['before', 'after'] as const) {
        const label = `crash ${when} write ${crashAt} (${writes[crashAt - 1]!.operation} ${writes[crashAt - 1]!.key})`;
        const staging = new InterceptingStore(temp.another(`crash-${crashAt}-${when}`));
        let crashed = false;
        // After the crash the process is gone: no later write happens either.
        staging.beforeWrite = (_operation, _key, index) => {
          if (crashed || (when === 'before' && index === crashAt)) {
            crashed = true;
            throw new SimulatedCrash(label);
          }
        };
        staging.afterWrite = (_operation, _key, index) => {
          if (when === 'after' && index === crashAt) {
            crashed = true;
            throw new SimulatedCrash(label);
          }
        };
        const clock = manualClock(NOW);
        await runBatcher({ landing: temp.landing, staging, settings, clock, ...options }).catch(
          () => undefined,
        );
        expect(crashed, label).toBe(when === 'before' || completed.has(crashAt));

        staging.beforeWrite = undefined;
        staging.afterWrite = undefined;
        let recovery = await runBatcher({ landing: temp.landing, staging, settings, clock, ...options });
        let ignoreCreatedAt = false;
        if (recovery.skipped) {
          // The crash kept the lease (it hit the lease's own write): it expires, then a run proceeds.
          clock.advance(DEFAULT_BUDGET_MS + 6 * 60_000);
          recovery = await runBatcher({ landing: temp.landing, staging, settings, clock, ...options });
          ignoreCreatedAt = true;
        }
        expect(recovery.skipped, label).toBeUndefined();

        const state = await visibleState(staging, ignoreCreatedAt);
        const expected = ignoreCreatedAt
          ? new Map(
              [...reference].map(([key, text]) => [
                key,
                text.replace(/"createdAt": "[^"]+"/, '"createdAt": "-"'),
              ]),
            )
          : reference;
        expect([...state.keys()], label).toEqual([...expected.keys()]);
        for (const [key, text] of expected) expect(state.get(key), `${label}: ${key}`).toBe(text);
        expect((await snapshot(staging, ['state/open-batches/', 'state/leases/'])).size, label).toBe(0);
        expect(await linesInManifests(staging), label).toBe(expectedLines);
      }
    }
  }, 240_000);
});
