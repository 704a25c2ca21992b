import { spawn } from 'node:child_process';

/** What `bench/run.ts` runs. */
export interface Benchmark {
  readonly name: string;
  /** One line: what is measured and against what. */
  readonly description: string;
  /** Yields one JSON-serializable record per measurement, as each finishes. */
  run(): AsyncIterable<Record<string, unknown>>;
}

/** Two decimals, for figures printed in the JSON lines. */
export function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

/**
 * Runs `script args...` in a fresh Node process (same loaders as this one), so its peak RSS is its
 * own, and returns the JSON object on the last line it prints.
 */
export function runChild<T>(script: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<T> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...process.execArgv, script, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
      ...(env ? { env } : {}),
    });
    let out = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (text: string) => {
      out += text;
    });
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) reject(new Error(`bench child ${args[0] ?? script} exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').at(-1)!) as T);
    });
  });
}
