import { readFileSync } from 'node:fs';
import { StateMachine } from 'aws-local-stepfunctions';
import { beforeAll, describe, expect, it } from 'vitest';
import { synthesizeBackfillDefinition } from '#cli/local/backfill-definition.ts';
import { BACKFILL_STATES as S } from '#infra/constructs/backfill-states.ts';
import { warehouseErrorFromPg } from '#shared/warehouse/pg-errors.ts';

/**
 * The backfill reacts to a failed load as the live loader does: every FAILED-statement text of
 * the error catalogue goes through the synthesized state machine's own Choice state, run by
 * aws-local-stepfunctions (an independent implementation of StringMatches), and the outcome
 * must match the catalogue's class.
 */
interface Row {
  readonly id: string;
  readonly via: string;
  readonly sqlstate?: string;
  readonly text: string;
  readonly class: 'transient' | 'batch' | 'systemic';
}
const catalogue = JSON.parse(
  readFileSync(new URL('../shared/warehouse/error-catalogue.json', import.meta.url), 'utf8'),
) as { errors: Row[] };

/** What DescribeStatement's Error holds: Redshift's text, or the PostgreSQL runner's message. */
function failedText(row: Row): string {
  return row.via === 'postgres'
    ? warehouseErrorFromPg(Object.assign(new Error(row.text), { code: row.sqlstate }), 'Statement 3 of 9')
        .message
    : row.text;
}
const rows = catalogue.errors.filter((row) => row.via !== 'exception').map((row) => [row.id, row] as const);

let choice: Record<string, unknown>;
beforeAll(() => {
  const { definition } = synthesizeBackfillDefinition({
    settings: { projectId: '187520', feeds: ['events'], schema: 'amplitude', landingPrefix: '' },
  });
  const states = definition.States as Record<string, { ItemProcessor?: { States: Record<string, unknown> } }>;
  choice = states[S.chunks]!.ItemProcessor!.States[S.retryLoad] as Record<string, unknown>;
});

/** Runs the Choice alone, its two targets replaced by Pass states that name the outcome. */
async function outcomeOf(errorText: string, attempt: number): Promise<string> {
  const definition = {
    StartAt: 'choice',
    States: {
      choice: JSON.parse(
        JSON.stringify(choice)
          .replaceAll(`"Next":${JSON.stringify(S.nextAttempt)}`, '"Next":"retry"')
          .replaceAll(`"Next":${JSON.stringify(S.loadFailed)}`, '"Next":"fail"')
          .replaceAll(`"Default":${JSON.stringify(S.loadFailed)}`, '"Default":"fail"'),
      ),
      retry: { Type: 'Pass', Result: 'retry', End: true },
      fail: { Type: 'Pass', Result: 'fail', End: true },
    },
  };
  const machine = new StateMachine(definition as never);
  return (await machine.run({ loadError: { Error: errorText }, attempt } as never).result) as string;
}

describe('the backfill reacts to a failed load as the loader does', () => {
  it.each(rows)('%s', async (_id, row) => {
    const text = failedText(row);
    expect(await outcomeOf(text, 1)).toBe(row.class === 'transient' ? 'retry' : 'fail');
    // Without attempts left, even a transient error ends the chunk (a rerun is the retry).
    expect(await outcomeOf(text, 4)).toBe('fail');
  });
});
