/**
 * Batcher throughput against a naive single-thread baseline over the same landing files.
 *
 * Per input size: generate gzip NDJSON events of ~1.9 KB into a temp folder (not timed), then
 * time, each in a fresh child process (so each peak RSS belongs to one measurement):
 *   baseline: gunzip -> split lines -> JSON.parse -> JSON.stringify -> gzip -> temp file, and
 *   batcher: runBatcher from a folder store to a folder store (transform, de-duplication,
 *            CSV, gzip parts, quarantine, manifest, processed record).
 * Both are run BENCH_BATCHER_ROUNDS times, alternating, and the best time of each is kept:
 * on a shared machine the best run is the one least disturbed by others. Peak RSS is the
 * highest of the batcher's rounds.
 * Sizes: BENCH_BATCHER_EVENTS (comma-separated), default 200000,400000. Rounds default 2.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeEventStream } from '#shared/sample/generate.ts';
import type { ChildResult } from './batcher-child.ts';
import { type Benchmark, round2, runChild } from './benchmark.ts';

const CHILD = fileURLToPath(new URL('./batcher-child.ts', import.meta.url));
const EVENTS_PER_FILE = 10_000;

export const benchmark: Benchmark = {
  name: 'batcher',
  description:
    'runBatcher events/sec vs gunzip+JSON.parse+JSON.stringify+gzip on one thread; peak RSS per run',
  async *run() {
    const sizes = (process.env.BENCH_BATCHER_EVENTS ?? '200000,400000')
      .split(',')
      .map((size) => Number(size.trim()));
    const rounds = Number(process.env.BENCH_BATCHER_ROUNDS ?? '2');
    if (!Number.isSafeInteger(rounds) || rounds < 1)
      throw new Error(`BENCH_BATCHER_ROUNDS: bad value ${rounds}`);
    for (const events of sizes) {
      if (!Number.isSafeInteger(events) || events < 1)
        throw new Error(`BENCH_BATCHER_EVENTS: bad size ${events}`);
      const dir = await mkdtemp(join(tmpdir(), 'bench-batcher-'));
      try {
        process.stderr.write(`  generating ${events} events ...\n`);
        const landing = join(dir, 'landing');
        const written = await writeEventStream(landing, { events, eventsPerFile: EVENTS_PER_FILE, seed: 1 });
        const baselines: ChildResult[] = [];
        const batchers: ChildResult[] = [];
        for (let round = 1; round <= rounds; round++) {
          process.stderr.write(`  round ${round}/${rounds}: baseline ...\n`);
          baselines.push(await child('baseline', landing, join(dir, `baseline-${round}`)));
          process.stderr.write(`  round ${round}/${rounds}: batcher ...\n`);
          batchers.push(await child('batcher', landing, join(dir, `batcher-${round}`)));
        }
        for (const result of [...baselines, ...batchers]) {
          if (result.events !== events)
            throw new Error(`expected ${events} lines, a run read ${result.events}`);
        }
        const baseline = fastest(baselines);
        const batcher = fastest(batchers);
        const eventsPerSec = events / (batcher.ms / 1000);
        const baselineEventsPerSec = events / (baseline.ms / 1000);
        yield {
          name: 'batcher',
          events,
          eventsPerSec: Math.round(eventsPerSec),
          baselineEventsPerSec: Math.round(baselineEventsPerSec),
          ratio: round2(eventsPerSec / baselineEventsPerSec),
          peakRssMb: round2(Math.max(...batchers.map((result) => result.maxRssMb))),
          baselinePeakRssMb: round2(Math.max(...baselines.map((result) => result.maxRssMb))),
          rounds,
          allEventsPerSec: batchers.map((result) => Math.round(events / (result.ms / 1000))),
          allBaselineEventsPerSec: baselines.map((result) => Math.round(events / (result.ms / 1000))),
          batches: batcher.batches,
          workerThreads: batcher.workers,
          partGzipLevel: batcher.gzipLevel,
          rows: batcher.rows,
          inputMb: round2(written.bytes / 1e6),
          rawInputMb: round2(written.rawBytes / 1e6),
          outputMb: round2(batcher.bytesOut / 1e6),
        };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  },
};

function fastest(results: readonly ChildResult[]): ChildResult {
  return results.reduce((best, result) => (result.ms < best.ms ? result : best));
}

function child(mode: 'baseline' | 'batcher', landing: string, work: string): Promise<ChildResult> {
  return runChild<ChildResult>(CHILD, [mode, landing, work]);
}
