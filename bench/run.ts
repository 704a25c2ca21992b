/**
 * `npm run bench [-- name...]`: runs the named benchmarks (all when none is named) and prints
 * one JSON line per measurement on stdout; progress goes to stderr.
 *
 * To add a benchmark, add a module exporting `benchmark: Benchmark` and one line to BENCHMARKS.
 */
import type { Benchmark } from './benchmark.ts';

const BENCHMARKS: Record<string, () => Promise<Benchmark>> = {
  batcher: async () => (await import('./batcher.ts')).benchmark,
  loader: async () => (await import('./loader.ts')).benchmark,
  'export-api': async () => (await import('./export-api.ts')).benchmark,
  freshness: async () => (await import('./freshness.ts')).benchmark,
};

async function main(names: string[]): Promise<number> {
  const unknown = names.filter((name) => !(name in BENCHMARKS));
  if (unknown.length > 0) {
    process.stderr.write(
      `Unknown benchmark(s) ${unknown.join(', ')}. Available: ${Object.keys(BENCHMARKS).join(', ')}.\n`,
    );
    return 2;
  }
  for (const name of names.length > 0 ? names : Object.keys(BENCHMARKS)) {
    const benchmark = await BENCHMARKS[name]!();
    process.stderr.write(`# ${benchmark.name}: ${benchmark.description}\n`);
    for await (const measurement of benchmark.run()) process.stdout.write(`${JSON.stringify(measurement)}\n`);
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
