import { join } from 'node:path';
import type { PipelineSettings } from '#shared/config/pipeline.ts';
import type { BatcherProgress, BatcherSummary } from '#shared/pipeline/batcher/batcher.ts';
import type { FeedLoadSummary, LoaderSummary } from '#shared/pipeline/loader/summary.ts';
import { tableName } from '#shared/schema/columns.ts';
import { loadedTotalsQuery } from '#shared/sql/ledger.ts';
import type { SqlRunner } from '#shared/warehouse/sql-runner.ts';
import { formatAge } from '../aws/format.ts';
import { describeHolder } from './leases.ts';

/**
 * What the local runner tells a person on stderr (the JSON on stdout is for programs): each
 * figure once, under one name, with plurals and durations a person reads at a glance.
 *
 * Duplicates are counted where they are found: the batcher drops repeats inside a batch
 * (`duplicatesInBatch`), the loader those whose first copy is in another batch
 * (`duplicatesAcrossBatches`). The loader's `duplicatesSkipped` is the sum of both, so it is
 * never shown beside them.
 */

/** `1 batch`, `2 batches`, `4,960 lines`. */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? singular : plural}`;
}

/** `42s`, `4m 12s`, `11h 52m`, `2d 03h`: a delay as a person says it, seconds kept below an hour. */
export function formatDelay(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 && s < 3600 ? `${Math.floor(s / 60)}m ${s % 60}s` : formatAge(s);
}

/** `events 28 files, 4,960 lines -> 4,869 rows (91 duplicates, 1 quarantined); ...; 2 batches` */
export function describeBatch(batch: BatcherSummary): string {
  if (batch.skipped) return `skipped: the lease is held by ${describeHolder(batch.skipped)}`;
  let batches = 0;
  const feeds: string[] = [];
  for (const [feed, f] of Object.entries(batch.feeds)) {
    batches += f.batches.length + f.recovered.length;
    if (f.files === 0) continue;
    const quarantined = Object.values(f.quarantined).reduce((sum, n) => sum + n, 0);
    const dropped = [
      f.duplicatesInBatch > 0 ? count(f.duplicatesInBatch, 'duplicate') : undefined,
      quarantined > 0 ? `${quarantined.toLocaleString('en-US')} quarantined` : undefined,
    ].filter(Boolean);
    feeds.push(
      `${feed} ${count(f.files, 'file')}, ${count(f.lines, 'line')} -> ${count(f.rows, 'row')}` +
        (dropped.length > 0 ? ` (${dropped.join(', ')})` : ''),
    );
  }
  const left = Object.values(batch.feeds).reduce((sum, f) => sum + f.filesLeft, 0);
  if (feeds.length === 0) return 'nothing new';
  return (
    `${feeds.join('; ')}; staged as ${count(batches, 'batch', 'batches')}` +
    (batch.stoppedForBudget ? ` (time budget reached: ${count(left, 'file')} left for the next cycle)` : '')
  );
}

/** `2 batches: events 4,869 rows, merge_ids 178 rows inserted; landing to commit 4m 12s` */
export function describeLoad(load: LoaderSummary): string {
  if (load.skipped) return `skipped: the lease is held by ${describeHolder(load.skipped)}`;
  const sum = (figure: (feed: FeedLoadSummary) => number) =>
    load.feeds.reduce((total, feed) => total + figure(feed), 0);
  const parts: string[] = [];
  const loaded = sum((f) => f.batchesLoaded);
  if (loaded > 0) {
    const rows = load.feeds
      .filter((f) => f.batchesLoaded > 0)
      .map((f) => `${f.feed} ${count(f.rowsLoaded, 'row')}`)
      .join(', ');
    parts.push(`${count(loaded, 'batch', 'batches')}: ${rows} inserted`);
    const across = sum((f) => f.duplicatesAcrossBatches);
    if (across > 0) parts.push(`${count(across, 'more duplicate')} (already loaded, or in another batch)`);
    const delays = load.feeds.flatMap((f) => f.landingToCommitSeconds);
    if (delays.length > 0) {
      const low = Math.min(...delays);
      const high = Math.max(...delays);
      parts.push(
        `landing to commit ${low === high ? formatDelay(high) : `${formatDelay(low)} to ${formatDelay(high)}`}`,
      );
    }
  }
  const already = sum((f) => f.batchesAlreadyLoaded);
  if (already > 0) parts.push(`${count(already, 'batch', 'batches')} found loaded already (no rows added)`);
  const failed = sum((f) => f.batchesFailed);
  if (failed > 0) parts.push(`${count(failed, 'batch', 'batches')} FAILED (see manifests/failed/)`);
  const pending = sum((f) => f.batchesPending);
  if (pending > 0) parts.push(`${count(pending, 'batch', 'batches')} still pending`);
  if (load.errors.length > 0) {
    parts.push(`${count(load.errors.length, 'error')}: ${load.errors[0]?.message ?? ''}`);
  }
  return parts.length > 0 ? parts.join('; ') : 'nothing pending';
}

/** Where this run's quarantine files are, as paths to open (the local staging store is `<home>/store`). */
function quarantinePaths(batch: BatcherSummary | undefined, home: string): string[] {
  return Object.values(batch?.feeds ?? {}).flatMap((feed) =>
    feed.quarantineKeys.map((key) => join(home, 'store', key)),
  );
}

/** `quarantined lines (gzip JSON, one per line, with the reason): <paths>` or nothing. */
function describeQuarantine(paths: readonly string[]): string | undefined {
  if (paths.length === 0) return undefined;
  return `quarantined lines are in ${paths.join(', ')} (gzip JSON lines, each with its reason; zcat to read)`;
}

/** Rows and batches the ledger has for the project's tables, per feed. */
export interface AlreadyLoaded {
  readonly feeds: readonly { readonly feed: string; readonly batches: number; readonly rows: number }[];
}

/** The ledger's totals before this run; a run that cannot read them just does not say. */
export async function loadedBefore(
  runner: SqlRunner,
  settings: Pick<PipelineSettings, 'schema' | 'projectId' | 'feeds'>,
): Promise<AlreadyLoaded | undefined> {
  try {
    const feeds = [];
    for (const feed of settings.feeds) {
      const [row] = await runner.query(
        loadedTotalsQuery(settings.schema, tableName(feed, settings.projectId)),
      );
      feeds.push({ feed, batches: Number(row?.batches ?? 0), rows: Number(row?.rows_loaded ?? 0) });
    }
    return { feeds };
  } catch {
    return undefined;
  }
}

/** `already loaded before this run: events 4,869 rows, merge_ids 178 rows (2 batches)`, or nothing. */
export function describeAlreadyLoaded(loaded: AlreadyLoaded): string | undefined {
  const batches = loaded.feeds.reduce((sum, feed) => sum + feed.batches, 0);
  if (batches === 0) return undefined;
  const rows = loaded.feeds.map((feed) => `${feed.feed} ${count(feed.rows, 'row')}`).join(', ');
  return `already loaded before this run: ${rows} (${count(batches, 'batch', 'batches')})`;
}

/** The progress line while the batcher works: `batching events: 12 of 25 files, 240,000 lines, 1 batch`. */
export function describeBatcherProgress(progress: BatcherProgress): string {
  return `batching ${progress.feed}: ${progress.files.toLocaleString('en-US')} of ${count(progress.filesFound, 'file')}, ${count(progress.lines, 'line')}, ${count(progress.batches, 'batch', 'batches')} staged`;
}

/** The progress line while the loader works: `loading: 3 batches, 480,000 rows inserted`. */
export function describeLoaderProgress(feeds: readonly FeedLoadSummary[]): string {
  const batches = feeds.reduce((sum, feed) => sum + feed.batchesLoaded + feed.batchesAlreadyLoaded, 0);
  const rows = feeds.reduce((sum, feed) => sum + feed.rowsLoaded, 0);
  return `loading: ${count(batches, 'batch', 'batches')} done, ${count(rows, 'row')} inserted`;
}

/** What a local cycle did: `runCycle`'s summaries. */
export interface CycleFigures {
  readonly batch?: BatcherSummary;
  readonly load?: LoaderSummary;
}

/**
 * A scheduled cycle: one line (`[time] batch: ... | load: ...`), then where quarantined lines
 * went and, with the first cycle, what was loaded before this run.
 */
export function cycleReport(
  summary: CycleFigures,
  home: string,
  before?: AlreadyLoaded,
  now = new Date(),
): string {
  const parts: string[] = [];
  if (summary.batch) parts.push(`batch: ${describeBatch(summary.batch)}`);
  if (summary.load) parts.push(`load: ${describeLoad(summary.load)}`);
  const extra = [
    describeQuarantine(quarantinePaths(summary.batch, home)),
    before && describeAlreadyLoaded(before),
  ].filter((line) => line !== undefined);
  return linesOf([`[${now.toISOString()}] ${parts.join(' | ')}`, ...extra.map((line) => `  ${line}`)]);
}

/** The human summary of `--once` on stderr, beside the JSON on stdout: the same figures, read at a glance. */
export function onceReport(summary: CycleFigures, home: string, before?: AlreadyLoaded): string {
  return linesOf(
    [
      before && describeAlreadyLoaded(before),
      summary.batch && `batch: ${describeBatch(summary.batch)}`,
      summary.load && `load:  ${describeLoad(summary.load)}`,
      describeQuarantine(quarantinePaths(summary.batch, home)),
    ].filter((line) => line !== undefined),
  );
}

function linesOf(lines: readonly string[]): string {
  return lines.map((line) => `${line}\n`).join('');
}
