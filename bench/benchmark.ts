/** What `bench/run.ts` runs. */
export interface Benchmark {
  readonly name: string;
  /** One line: what is measured and against what. */
  readonly description: string;
  /** Yields one JSON-serializable record per measurement, as each finishes. */
  run(): AsyncIterable<Record<string, unknown>>;
}
