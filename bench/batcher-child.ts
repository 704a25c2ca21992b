/**
 * One measurement of bench/batcher.ts in its own process: `batcher-child.ts <baseline|batcher>
 * <landing dir> <work dir>`. Prints one JSON line (ChildResult).
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { pipelineSettingsFrom } from '#shared/config/pipeline.ts';
import { defaultWorkerCount, runBatcher, STAGED_GZIP_LEVEL } from '#shared/pipeline/batcher/batcher.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';

export interface ChildResult {
  readonly events: number;
  readonly ms: number;
  readonly maxRssMb: number;
  readonly rows: number;
  readonly batches: number;
  readonly bytesOut: number;
  readonly workers?: number;
  readonly gzipLevel?: number;
}

function baseline(landing: string, work: string): Omit<ChildResult, 'ms' | 'maxRssMb'> {
  mkdirSync(work, { recursive: true });
  const out = openSync(join(work, 'baseline.jsonl.gz'), 'w');
  let events = 0;
  let bytesOut = 0;
  for (const name of readdirSync(landing).sort()) {
    if (!name.endsWith('.json.gz')) continue;
    const text = gunzipSync(readFileSync(join(landing, name))).toString('utf8');
    let chunk = '';
    for (const line of text.split('\n')) {
      if (line === '') continue;
      chunk += `${JSON.stringify(JSON.parse(line))}\n`;
      events++;
    }
    const gz = gzipSync(chunk);
    bytesOut += gz.length;
    writeSync(out, gz);
  }
  closeSync(out);
  return { events, rows: events, batches: 0, bytesOut };
}

async function batcher(landing: string, work: string): Promise<Omit<ChildResult, 'ms' | 'maxRssMb'>> {
  const summary = await runBatcher({
    landing: new FileSystemObjectStore(landing),
    staging: new FileSystemObjectStore(join(work, 'staging')),
    settings: pipelineSettingsFrom({ PROJECT_ID: '187520', FEEDS: 'events', LOOKBACK_DAYS: '30' }),
    // The generated files start on 2024-05-01; a month's window covers any size we generate.
    clock: () => new Date('2024-05-20T00:00:00Z'),
    budgetMs: 24 * 3_600_000,
  });
  const events = summary.feeds.events!;
  return {
    events: events.lines,
    rows: events.rows,
    batches: events.batches.length,
    bytesOut: events.bytesOut,
    workers: defaultWorkerCount(),
    gzipLevel: STAGED_GZIP_LEVEL,
  };
}

const [mode, landing, work] = process.argv.slice(2);
if (!landing || !work || (mode !== 'baseline' && mode !== 'batcher')) {
  throw new Error('usage: batcher-child.ts <baseline|batcher> <landing dir> <work dir>');
}
const started = performance.now();
const counts = mode === 'baseline' ? baseline(landing, work) : await batcher(landing, work);
const ms = performance.now() - started;
const result: ChildResult = { ...counts, ms, maxRssMb: process.resourceUsage().maxRSS / 1024 };
process.stdout.write(`${JSON.stringify(result)}\n`);
