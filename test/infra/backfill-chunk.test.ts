import { beforeAll, describe, expect, it } from 'vitest';
import { synthesizeBackfillDefinition } from '#cli/local/backfill-definition.ts';
import { installPromiseWithResolvers } from '#cli/local/promise-polyfill.ts';
import { LOAD_WAIT_EXCEEDED } from '#infra/constructs/backfill-chunk.ts';
import { BACKFILL_STATES as S } from '#infra/constructs/backfill-states.ts';

type StateJson = Record<string, unknown>;

let processor: { StartAt: string; States: Record<string, StateJson> };

beforeAll(() => {
  const { definition } = synthesizeBackfillDefinition({
    settings: { projectId: '187520', feeds: ['events'], schema: 'amplitude', landingPrefix: '' },
  });
  const map = (definition.States as Record<string, StateJson>)[S.chunks]!;
  processor = structuredClone(map.ItemProcessor) as typeof processor;
  delete (processor as Record<string, unknown>).ProcessorConfig;
});

/** Runs one chunk of the synthesized state machine with aws-local-stepfunctions. */
async function runChunk(statusOf: (poll: number) => string) {
  installPromiseWithResolvers();
  const { StateMachine } = await import('aws-local-stepfunctions');
  let polls = 0;
  const waits = Object.fromEntries(
    Object.entries(processor.States)
      .filter(([, state]) => state.Type === 'Wait')
      .map(([name]) => [name, 0]),
  );
  const machine = new StateMachine(processor as never, { validationOptions: { noValidate: true } });
  const output = await machine.run(
    { chunkId: 'c1', feed: 'events', startHour: '2026-01-01T00', endHour: '2026-01-01T05' } as never,
    {
      overrides: {
        waitTimeOverrides: waits,
        taskResourceLocalHandlers: {
          [S.prepare]: () => ({
            empty: false,
            statements: ['select 1'],
            loadId: 'load-1',
            files: 1,
            batchIds: ['b1'],
            rowsStaged: 10,
          }),
          [S.load]: () => ({ Id: 'statement-1' }),
          [S.describeLoad]: () => ({ Status: statusOf(++polls) }),
        } as never,
      },
    },
  ).result;
  return { output: output as Record<string, unknown>, polls };
}

describe('backfill chunk: waiting for the load', () => {
  it('gives up after a bounded number of checks with a typed failure the summary counts', async () => {
    const { output, polls } = await runChunk(() => 'STARTED');
    // Default: 2 hours of checks every 15 seconds.
    expect(polls).toBe(480);
    expect(output).toMatchObject({
      chunkId: 'c1',
      status: 'failed',
      error: LOAD_WAIT_EXCEEDED,
      statementId: 'statement-1',
      batchIds: ['b1'],
    });
    expect(String(output.cause)).toMatch(/did not finish within 2 hours .*run the same range again/);
  }, 60_000);

  it('still loads a chunk whose statement finishes on the last check', async () => {
    const { output, polls } = await runChunk((poll) => (poll === 480 ? 'FINISHED' : 'STARTED'));
    expect(polls).toBe(480);
    expect(output).toMatchObject({ status: 'loaded', statementId: 'statement-1' });
  }, 60_000);
});
