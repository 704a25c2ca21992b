import { PIPELINE_LOG_NAME } from './powertools.ts';
import { RUN_SUMMARY_MESSAGE } from './run-summary.ts';

const SUMMARY_FILTER = `filter message = "${RUN_SUMMARY_MESSAGE}" and pipeline = "${PIPELINE_LOG_NAME}"`;

/**
 * CloudWatch Logs Insights query over the log groups of the batcher, loader and backfill
 * functions: one row per run, newest first, with its status and figures (the per-job status
 * view of Amplitude's export). Nested JSON fields are addressed with dots; the first error
 * of a run is `run.errors.0`.
 */
export const RUN_STATUS_QUERY = [
  SUMMARY_FILTER,
  '| fields @timestamp as time, run.kind as kind, run.status as status, run.runId as runId,',
  '  run.durationMs as ms, run.files as files, run.rowsBatched as batched, run.rowsLoaded as loaded,',
  '  run.duplicates as duplicates, run.quarantined as quarantined, run.batchesPending as pending,',
  '  run.oldestPendingSeconds as oldestPendingS, run.freshnessSeconds as freshnessS,',
  '  run.landingToCommitSeconds as landingToCommitS, run.hoursRead as hoursRead, run.hoursSpan as hoursSpan,',
  '  run.secondsRead as secondsRead,',
  '  run.chunks as chunks, run.chunksFailed as chunksFailed, run.note as note,',
  '  run.errors.0.code as errorCode, run.errors.0.message as error',
  '| sort time desc',
  '| limit 200',
].join('\n');

/** Runs per hour by kind and status: a quick look at how often runs fail, skip or retry. */
export const RUN_STATUS_COUNTS_QUERY = [
  SUMMARY_FILTER,
  '| stats count(*) as runs by bin(1h) as hour, run.kind as kind, run.status as status',
  '| sort hour desc',
].join('\n');
