import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventFileName } from '#shared/base/export-files.ts';
import { pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { runInvocation } from '#shared/observability/invocation.ts';
import { SERVICES } from '#shared/observability/metric-names.ts';
import { createObservability } from '#shared/observability/powertools.ts';
import { recordBatcherRun, recordLoaderRun } from '#shared/observability/run-metrics.ts';
import {
  batcherRunSummary,
  loaderRunSummary,
  logRunSummary,
  RUN_SUMMARY_MESSAGE,
} from '#shared/observability/run-summary.ts';
import { runBatcher } from '#shared/pipeline/batcher/batcher.ts';
import { pendingBatchStats } from '#shared/pipeline/loader/backlog.ts';
import { runLoader } from '#shared/pipeline/loader/loader.ts';
import { ensureWarehouseObjects } from '#shared/sql/ensure.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import { PostgresRunner } from '#shared/warehouse/postgres.ts';
import { createTestDatabase } from '#test/support/postgres.ts';
import { type Captured, captureOutput } from './capture.ts';

const MARKER = 'MARKER-7d1e';
const PASSWORD = 'PW-5f3a-never-log';
const PROJECT_ID = '4242';
const NOW = new Date('2026-03-02T06:00:00.000Z');
const clock = () => NOW;

function lambdaContext(functionName: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: 'c0ffee00-0000-4000-8000-000000000001',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/03/02/[$LATEST]abc',
    getRemainingTimeInMillis: () => 600_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

function event(uuid: string, properties: Record<string, unknown>): string {
  return JSON.stringify({
    uuid,
    event_type: 'Purchase',
    amplitude_id: 123456789,
    event_time: '2026-03-01 10:15:00.000000',
    client_event_time: '2026-03-01 10:15:00.000000',
    server_upload_time: '2026-03-01 10:16:00.000000',
    user_id: `user-${MARKER}`,
    event_properties: properties,
  });
}

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let dir: string;
let output: Captured | undefined;

beforeAll(async () => {
  db = await createTestDatabase('log_safety');
  dir = await mkdtemp(join(tmpdir(), 'log-safety-'));
});
afterEach(() => {
  output?.restore();
  output = undefined;
});
afterAll(async () => {
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

async function failureOf(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected the invocation to fail');
    },
    (error: unknown) => error as Error,
  );
}

function expectClean(captured: Captured): void {
  for (const line of captured.lines) {
    expect(line).not.toContain(MARKER);
    expect(line).not.toContain(PASSWORD);
  }
}

describe('what the summary and error paths log', () => {
  it('never contains event data or a secret, and still has the run figures', async () => {
    const landing = new FileSystemObjectStore(join(dir, 'landing'));
    const staging = new FileSystemObjectStore(join(dir, 'staging'));
    const settings = pipelineSettingsFrom({ PROJECT_ID, FEEDS: 'events' });
    const lines = [
      event('uuid-1', { note: MARKER, secret_note: { password: PASSWORD } }),
      event('uuid-1', { note: `${MARKER} again` }),
      `{"uuid": "broken", "note": ${MARKER}`,
      JSON.stringify({ uuid: 'uuid-3', event_type: MARKER, amplitude_id: MARKER, server_upload_time: 'x' }),
    ];
    await landing.put(eventFileName(PROJECT_ID, '2026-03-01', 10, 0), gzipSync(`${lines.join('\n')}\n`));
    const runner = new PostgresRunner({ connectionString: db.url, store: staging });
    await ensureWarehouseObjects(runner, settings);

    output = captureOutput();
    const batcher = createObservability({ service: SERVICES.batcher });
    const batched = await runInvocation(batcher, lambdaContext('batcher'), { kind: 'batcher' }, async () => {
      const summary = await runBatcher({ landing, staging, settings, clock });
      recordBatcherRun(batcher.metrics, summary);
      logRunSummary(batcher.logger, batcherRunSummary(summary));
      return summary;
    });

    const loader = createObservability({ service: SERVICES.loader });
    const loaded = await runInvocation(loader, lambdaContext('loader'), { kind: 'loader' }, async () => {
      const summary = await runLoader({ store: staging, runner, settings, clock });
      const pending = await pendingBatchStats(staging, settings.feeds, clock);
      recordLoaderRun(loader.metrics, summary, pending);
      logRunSummary(loader.logger, loaderRunSummary(summary, pending));
      return summary;
    });

    // Objects handed to the logger directly go through the same guard.
    loader.logger.info('secret read', {
      secret: { username: 'export', password: PASSWORD },
      statements: [`INSERT INTO t VALUES ('${MARKER}')`],
    });

    // A real warehouse error: the runner's message withholds the rejected value, but the
    // PostgreSQL error it wraps (its cause, which the logger walks) still quotes it.
    const raw = await runner
      .query(`SELECT '${MARKER}'::bigint AS n`)
      .catch((error: unknown) => error as Error);
    expect(String((raw as Error).message)).not.toContain(MARKER);
    expect(String(((raw as Error).cause as Error).message)).toContain(MARKER);
    const warehouseFailure = await failureOf(
      runInvocation(
        loader,
        lambdaContext('loader'),
        { kind: 'loader', correlation: { runId: 'run-w' } },
        () => runner.query(`SELECT '${MARKER}'::bigint AS n`),
      ),
    );

    // An error carrying a connection string and a secret document in its cause and properties.
    const secretFailure = await failureOf(
      runInvocation(
        loader,
        lambdaContext('loader'),
        { kind: 'loader', correlation: { runId: 'run-s' } },
        async () => {
          const cause = (() => {
            try {
              JSON.parse(`{"username":"export","password":"${PASSWORD}"`);
            } catch (error) {
              return error;
            }
          })();
          throw Object.assign(
            new Error(`could not connect to postgres://export:${PASSWORD}@db:5439/dev ('${MARKER}')`, {
              cause,
            }),
            {
              SecretString: `{"password":"${PASSWORD}"}`,
              detail: MARKER,
            },
          );
        },
      ),
    );
    await runner.close();
    output.restore();

    expect(batched.feeds.events?.rows).toBe(1);
    expect(loaded.feeds[0]?.rowsLoaded).toBe(1);
    expect(output.json().find((line) => line.message === 'secret read')).toMatchObject({
      secret: '[secret withheld]',
      statements: '[1 SQL statements withheld]',
    });
    expectClean(output);
    for (const thrown of [warehouseFailure, secretFailure]) {
      expect(thrown).toBeInstanceOf(Error);
      expect(`${thrown.message}\n${thrown.stack}`).not.toContain(MARKER);
      expect(`${thrown.message}\n${thrown.stack}`).not.toContain(PASSWORD);
    }
    expect(warehouseFailure.name).toBe('PermanentWarehouseError');

    const summaries = output.json().filter((line) => line.message === RUN_SUMMARY_MESSAGE);
    const byKind = (kind: string) => summaries.filter((line) => (line.run as { kind: string }).kind === kind);
    expect(byKind('batcher')[0]?.run).toMatchObject({
      status: 'ok',
      files: 1,
      rowsBatched: 1,
      duplicates: 1,
      quarantined: 2,
    });
    expect(byKind('loader')[0]?.run).toMatchObject({ status: 'ok', rowsLoaded: 1, batchesPending: 0 });
    expect(
      byKind('loader').filter((line) => (line.run as { status: string }).status === 'failed'),
    ).toHaveLength(2);
    expect(summaries.every((line) => line.service === 'batcher' || line.service === 'loader')).toBe(true);
    expect(byKind('loader')[1]).toMatchObject({ runId: 'run-w', function_name: 'loader' });
  });
});
