import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { backfillManifestKey } from '#shared/base/staging-keys.ts';
import { backfillQuarantineReasons } from '#shared/observability/backfill-reasons.ts';
import { runInvocation } from '#shared/observability/invocation.ts';
import { METRICS, SERVICES } from '#shared/observability/metric-names.ts';
import { createObservability } from '#shared/observability/powertools.ts';
import type { ChunkReport } from '#shared/pipeline/backfill/summarize.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import { type Captured, captureOutput } from './capture.ts';

let output: Captured | undefined;
let dir: string | undefined;
afterEach(async () => {
  output?.restore();
  output = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

class BackfillInputError extends Error {
  override readonly name = 'BackfillInputError';
}

describe('runInvocation', () => {
  it('puts the correlation keys on the lines of this invocation only and flushes its metrics', async () => {
    const observability = createObservability({ service: SERVICES.backfill, component: 'backfill-plan' });
    output = captureOutput();
    const result = await runInvocation(
      observability,
      undefined,
      {
        kind: 'backfill-plan',
        correlation: { runId: 'bf-2026', executionName: 'bf-2026', chunkId: undefined },
      },
      async () => {
        observability.logger.info('inside');
        observability.metrics.addMetric(METRICS.backfillChunksFailed, MetricUnit.Count, 0);
        return 42;
      },
    );
    observability.logger.info('after');
    output.restore();

    expect(result).toBe(42);
    const lines = output.json();
    expect(lines.find((line) => line.message === 'inside')).toMatchObject({
      runId: 'bf-2026',
      executionName: 'bf-2026',
      component: 'backfill-plan',
      service: 'backfill',
      pipeline: 'amplitude-redshift-export',
    });
    expect(lines.find((line) => line.message === 'inside')).not.toHaveProperty('chunkId');
    expect(lines.find((line) => line.message === 'after')).not.toHaveProperty('runId');
    expect(output.emf().map((doc) => doc[METRICS.backfillChunksFailed])).toEqual([0]);
  });

  it('logs a failed summary line and rethrows an error of the same name', async () => {
    const observability = createObservability({ service: SERVICES.backfill });
    output = captureOutput();
    const thrown = await runInvocation(
      observability,
      undefined,
      { kind: 'backfill-plan', correlation: { runId: 'r-9' } },
      () => Promise.reject(new BackfillInputError("start '2026-02-30' is not a valid date")),
    ).catch((error: unknown) => error as Error);
    output.restore();

    expect(thrown.name).toBe('BackfillInputError');
    expect(thrown.message).toBe("start '…' is not a valid date");
    expect(output.json().find((line) => line.message === 'run summary')).toMatchObject({
      level: 'ERROR',
      run: {
        kind: 'backfill-plan',
        runId: 'r-9',
        status: 'failed',
        errors: [{ name: 'BackfillInputError' }],
      },
    });
  });

  it('refuses a service that metric-names.ts does not list', () => {
    expect(() => createObservability({ service: 'Batcher' as never })).toThrow(
      /expected one of batcher, loader/,
    );
  });
});

describe('backfillQuarantineReasons', () => {
  it('adds up the reasons of the batches the loaded chunks quarantined lines in, skipping missing manifests', async () => {
    dir = await mkdtemp(join(tmpdir(), 'reasons-'));
    const store = new FileSystemObjectStore(dir);
    const chunk = (overrides: Partial<ChunkReport>): ChunkReport => ({
      chunkId: 'c',
      feed: 'events',
      startHour: '2026-01-01T00',
      endHour: '2026-01-01T23',
      status: 'loaded',
      files: 1,
      batchIds: [],
      rowsLoaded: 1,
      duplicatesSkipped: 0,
      quarantined: 0,
      rowsErased: 0,
      ...overrides,
    });
    const manifest = (quarantined: Record<string, number>) =>
      JSON.stringify({ entries: [], batch: { quarantined } });
    await store.put(backfillManifestKey('events', 'bf-a'), manifest({ malformed_json: 2, invalid_type: 1 }));
    await store.put(backfillManifestKey('events', 'bf-b'), manifest({ malformed_json: 4 }));
    await store.put(backfillManifestKey('events', 'bf-c'), manifest({ malformed_json: 100 }));
    await store.put(backfillManifestKey('merge_ids', 'bf-m'), manifest({ out_of_range: 1 }));

    const reasons = await backfillQuarantineReasons(store, {
      chunks: [
        chunk({ batchIds: ['bf-a'], quarantined: 3 }),
        chunk({ batchIds: ['bf-b', 'bf-gone'], quarantined: 4 }),
        // Already loaded by an earlier run, or nothing quarantined: not counted again.
        chunk({ batchIds: ['bf-c'], quarantined: 100, status: 'already_loaded' }),
        chunk({ feed: 'merge_ids', batchIds: ['bf-m'], quarantined: 1 }),
      ],
    });

    expect(reasons).toEqual({
      events: { malformed_json: 6, invalid_type: 1 },
      merge_ids: { out_of_range: 1 },
    });
  });
});
