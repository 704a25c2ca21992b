import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { manifestKey } from '#shared/base/staging-keys.ts';
import { runLoader } from '#shared/pipeline/loader/loader.ts';
import { attemptsKey, failureReportKey } from '#shared/pipeline/loader/state.ts';
import { countsAttempt, type FailureClass, failureClassOf } from '#shared/warehouse/failure-class.ts';
import { warehouseErrorFromPg } from '#shared/warehouse/pg-errors.ts';
import {
  warehouseErrorFromException,
  warehouseErrorFromStatement,
} from '#shared/warehouse/redshift-errors.ts';
import type { SqlRunner } from '#shared/warehouse/sql-runner.ts';
import { STATEMENT_RULES, statementRuleFor, UNRECOGNIZED_RULE } from '#shared/warehouse/statement-rules.ts';
import { eventRow, settingsFor, stageBatch, tempStoreDir } from '#test/shared/pipeline/loader/fixtures.ts';

interface CatalogueRow {
  readonly id: string;
  readonly group: 'copy-s3' | 'data' | 'concurrency' | 'capacity' | 'configuration' | 'unseen';
  readonly via: 'statement' | 'exception' | 'postgres';
  readonly exception?: string;
  readonly sqlstate?: string;
  readonly text: string;
  readonly source: string;
  readonly verbatim?: boolean;
  readonly class: FailureClass;
  readonly countsAttempt: boolean;
  readonly advice: string;
}

const catalogue = JSON.parse(readFileSync(new URL('./error-catalogue.json', import.meta.url), 'utf8')) as {
  errors: CatalogueRow[];
};
const rows = catalogue.errors.map((row) => [row.id, row] as const);

/** The error the runner would throw for this row, through the path the row names. */
function errorOf(row: CatalogueRow): Error {
  switch (row.via) {
    case 'statement':
      return warehouseErrorFromStatement('stmt-1', row.text, 'Transaction');
    case 'exception':
      return warehouseErrorFromException(
        'BatchExecuteStatement',
        Object.assign(new Error(row.text), { name: row.exception, $metadata: { httpStatusCode: 400 } }),
      );
    case 'postgres':
      return warehouseErrorFromPg(
        Object.assign(new Error(row.text), { code: row.sqlstate }),
        'Statement 3 of 9 in transaction pg-1',
      );
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(cleanups.map((remove) => remove()));
});

function failingRunner(error: Error): SqlRunner {
  return {
    dialect: 'redshift',
    transaction: () => Promise.reject(error),
    startTransaction: () => Promise.reject(error),
    describe: () => Promise.reject(new Error('not used')),
    loadErrorDetails: async () => ({ source: 'sys_load_error_detail', details: [] }),
    query: async () => [],
    close: async () => undefined,
  };
}

describe('the catalogue of real warehouse errors', () => {
  it('covers every group of the issue, each row with a source', () => {
    const groups = new Set(catalogue.errors.map((row) => row.group));
    expect([...groups].sort()).toEqual([
      'capacity',
      'concurrency',
      'configuration',
      'copy-s3',
      'data',
      'unseen',
    ]);
    for (const row of catalogue.errors) {
      expect(row.source, row.id).toMatch(/\S/);
      expect(row.countsAttempt, row.id).toBe(row.class === 'batch');
    }
    expect(new Set(catalogue.errors.map((row) => row.id)).size).toBe(catalogue.errors.length);
  });

  it.each(rows)('%s: class, attempt counter and advice', (_id, row) => {
    const error = errorOf(row);

    const failureClass = failureClassOf(error);
    expect(failureClass).toBe(row.class);
    expect(countsAttempt(failureClass)).toBe(row.countsAttempt);
    expect(error.message).toContain(row.advice);
  });

  const statementRows = rows.filter(([, row]) => row.via !== 'exception');
  it.each(statementRows)(
    '%s: the classified message classifies the same again (what a poller sees)',
    (_id, row) => {
      // A backfill (and the local one) reads only the FAILED statement's text, which for the
      // PostgreSQL runner is the classified message itself.
      const message = errorOf(row).message;
      expect(statementRuleFor(message).failureClass).toBe(row.class);
    },
  );

  it.each(rows)('%s: the loader reacts as the class says', async (_id, row) => {
    const { store, remove } = await tempStoreDir();
    cleanups.push(remove);
    await stageBatch(store, { batchId: 'ev-1', feed: 'events', rows: [eventRow('u-1')] });
    const settings = settingsFor('amplitude', { feeds: ['events'], maxLoadAttempts: 1 });

    const summary = await runLoader({
      store,
      runner: failingRunner(errorOf(row)),
      settings,
      clock: () => new Date('2024-03-02T12:00:00.000Z'),
    });

    const [failure] = summary.errors;
    expect(failure?.kind).toBe(row.class === 'transient' ? 'retryable' : row.class);
    expect(failure?.message).toContain(row.advice);
    const pending = await store.head(manifestKey('pending', 'events', 'ev-1'));
    const failed = await store.head(manifestKey('failed', 'events', 'ev-1'));
    if (row.class === 'batch') {
      // A poison batch on its own: after its (one) allowed attempt it is isolated in failed/.
      expect(pending).toBeUndefined();
      expect(failed).toBeDefined();
      expect(await store.head(failureReportKey('events', 'ev-1'))).toBeDefined();
      expect(summary.needsAttention).toBe(true);
    } else {
      // Never blamed: the batch stays pending with no attempt counted.
      expect(pending).toBeDefined();
      expect(failed).toBeUndefined();
      expect(await store.head(attemptsKey('events', 'ev-1'))).toBeUndefined();
      expect(summary.stoppedEarly).toBe(row.class === 'transient' ? 'retryable-error' : 'systemic-error');
      expect(summary.needsAttention).toBe(row.class === 'systemic');
    }
  });

  it('gives a text no rule knows the safe default: retried later, nothing blamed', () => {
    const error = warehouseErrorFromStatement('stmt-9', 'ERROR: \u00a7 something new');
    expect(failureClassOf(error)).toBe('transient');
    expect(error.message).toContain(UNRECOGNIZED_RULE.advice);
    // And anything thrown that is not a warehouse error at all.
    expect(failureClassOf(new TypeError('x is undefined'))).toBe('transient');
  });

  it('has a catalogue row for every rule, so no rule is a guess', () => {
    const covered = new Set(
      catalogue.errors.map(
        (row) => statementRuleFor(row.via === 'postgres' ? errorOf(row).message : row.text).code,
      ),
    );
    const uncovered = STATEMENT_RULES.map((rule) => rule.code).filter((code) => !covered.has(code));
    expect(uncovered).toEqual([]);
  });

  it('never lets a rule advice look like another error when it is read back', () => {
    for (const rule of STATEMENT_RULES) {
      const again = statementRuleFor(rule.advice);
      expect([rule.code, UNRECOGNIZED_RULE.code], rule.code).toContain(again.code);
    }
  });
});
