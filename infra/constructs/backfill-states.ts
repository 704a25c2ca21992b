/**
 * State names of the backfill state machine. They are what the console shows, so they read
 * as sentences; tests and the local runner refer to them through this object.
 */
export const BACKFILL_STATES = {
  plan: 'Plan chunks',
  readInputError: 'Read input error',
  rejectInput: 'Invalid input',
  chunks: 'Load chunks',
  startChunk: 'Start chunk',
  prepare: 'Prepare chunk',
  anythingToLoad: 'Anything to load?',
  load: 'Start load',
  waitForLoad: 'Wait for load',
  describeLoad: 'Check load',
  loadStatus: 'Load finished?',
  readLoadError: 'Read load error',
  retryLoad: 'Load again after this error?',
  retryAborted: 'Load again after the abort?',
  nextAttempt: 'Next load attempt',
  backOff: 'Back off before reloading',
  chunkLoaded: 'Chunk loaded',
  chunkEmpty: 'Chunk empty',
  loadFailed: 'Chunk load failed',
  loadAborted: 'Chunk load aborted',
  countCheck: 'Count load check',
  waitedTooLong: 'Waited too long for load?',
  loadWaitExceeded: 'Chunk load wait exceeded',
  chunkFailed: 'Chunk failed',
  summarize: 'Summarize',
  anyChunkFailed: 'Any chunk failed?',
  failed: 'Backfill failed',
  succeeded: 'Backfill done',
} as const;
