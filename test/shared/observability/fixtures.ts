import type { Totals } from '#shared/pipeline/backfill/summarize.ts';

/** A backfill's per-feed totals: zero unless overridden. */
export function backfillTotals(overrides: Partial<Totals> = {}): Totals {
  return {
    chunks: 0,
    loaded: 0,
    alreadyLoaded: 0,
    empty: 0,
    failed: 0,
    rowsLoaded: 0,
    duplicatesSkipped: 0,
    quarantined: 0,
    rowsErased: 0,
    ...overrides,
  };
}
