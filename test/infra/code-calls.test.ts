import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BUDGET_MS, runBatcher } from '#shared/pipeline/batcher/batcher.ts';
import { runLoader } from '#shared/pipeline/loader/loader.ts';
import { generateSample } from '#shared/sample/generate.ts';
import { createTestDatabase } from '#test/support/postgres.ts';
import { manualClock, PROJECT_ID, settingsFor, tempStores } from '../shared/pipeline/batcher/support.ts';
import { eventRow, makeWorld, newRunner, stageBatch } from '../shared/pipeline/loader/fixtures.ts';
import type { Call, RoleActor } from './iam/catalogue.ts';
import { describe as describeCall, evaluate, type Matrix, matrixOf } from './iam/matrix.ts';
import { type RecordedCall, RecordingStore } from './iam/recording-store.ts';
import type { CfnTemplate } from './iam/resolve.ts';
import { CLUSTER_CONTEXT, synthesize } from './synth.ts';

/**
 * Keeps the permission catalogue honest from the code's side: the real batcher and loader run
 * here on local stores and PostgreSQL, every S3 request they make is recorded, and the IAM
 * evaluator decides whether the deployed role (and the COPY role, for what the warehouse reads)
 * may make it. A new key the code reads or writes without a grant fails here, before a deploy.
 */
let matrix: Matrix;
let db: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  const { stack, template } = synthesize(CLUSTER_CONTEXT);
  matrix = matrixOf(stack, template.toJSON() as CfnTemplate);
  db = await createTestDatabase('codecalls');
});

afterAll(async () => {
  await db.drop();
});

function asCalls(actor: RoleActor, bucket: string, recorded: readonly RecordedCall[]): Call[] {
  const unique = new Map<string, Call>();
  for (const { action, key } of recorded) {
    const call: Call =
      action === 's3:ListBucket'
        ? { actor, action, resource: `arn:aws:s3:::${bucket}`, context: { 's3:prefix': key }, why: 'code' }
        : { actor, action, resource: `arn:aws:s3:::${bucket}/${key}`, why: 'code' };
    unique.set(describeCall(call), call);
  }
  return [...unique.values()];
}

async function refused(calls: readonly Call[]): Promise<string[]> {
  const out: string[] = [];
  for (const call of calls) {
    const decision = await evaluate(matrix, call);
    if (decision !== 'Allowed') out.push(`${decision}: ${describeCall(call)}`);
  }
  return out;
}

describe('S3 requests the code makes, evaluated against the deployed roles', () => {
  it('the batcher may make every request of two real runs (new files, bad lines, nothing new)', async () => {
    const temp = await tempStores('code-calls');
    try {
      await generateSample(temp.landing, { start: '2024-05-01', eventsPerHour: 6, seed: 3 });
      await temp.landing.put(`${PROJECT_ID}_2024-05-01_7#5.json`, '{"uuid":"x"}\nnot json\n');
      const landing = new RecordingStore(temp.landing);
      const staging = new RecordingStore(temp.staging);
      const clock = manualClock('2024-05-02T06:00:00.000Z');
      for (let run = 0; run < 2; run++) {
        await runBatcher({ landing, staging, settings: settingsFor(), clock, budgetMs: DEFAULT_BUDGET_MS });
      }
      const calls = [
        ...asCalls('batcher', matrix.world.landingBucket, landing.calls),
        ...asCalls('batcher', matrix.world.stagingBucket, staging.calls),
      ];
      const kinds = new Set(staging.calls.map((call) => `${call.action} ${call.key.split('/')[0]}`));
      // The runs touched parts, manifests, quarantine and state, so the check covers them.
      for (const kind of [
        's3:PutObject staging',
        's3:PutObject manifests',
        's3:PutObject quarantine',
        's3:PutObject state',
      ]) {
        expect(kinds, kind).toContain(kind);
      }
      expect(await refused(calls)).toEqual([]);
    } finally {
      await temp.remove();
    }
  }, 120_000);

  it('the loader, and the COPY role for what the warehouse reads, may make every request of a run with a good and a broken batch', async () => {
    const w = await makeWorld(db.url, { feeds: ['events'], maxLoadAttempts: 1 });
    try {
      await stageBatch(w.store, { batchId: 'ev-1', feed: 'events', rows: [eventRow('u-1')] });
      await stageBatch(w.store, {
        batchId: 'ev-2',
        feed: 'events',
        rows: [eventRow('u-2')],
        corruptCsv: '"only"\n',
      });
      const store = new RecordingStore(w.store);
      const copyReads = new RecordingStore(w.store);
      const runner = newRunner(db.url, copyReads);
      try {
        const clock = () => new Date('2024-03-02T11:10:02.500Z');
        await runLoader({ store, runner, settings: w.settings, clock });
        await runLoader({ store, runner, settings: w.settings, clock });
      } finally {
        await runner.close();
      }
      const loaderKinds = new Set(
        store.calls.map((call) => `${call.action} ${call.key.split('/').slice(0, 2).join('/')}`),
      );
      expect(loaderKinds).toContain('s3:PutObject manifests/loaded');
      expect(loaderKinds).toContain('s3:PutObject manifests/failed');
      expect(copyReads.calls.length).toBeGreaterThan(0);
      expect(
        await refused([
          ...asCalls('loader', matrix.world.stagingBucket, store.calls),
          ...asCalls('copyRole', matrix.world.stagingBucket, copyReads.calls),
        ]),
      ).toEqual([]);
    } finally {
      await w.close();
    }
  }, 120_000);
});
