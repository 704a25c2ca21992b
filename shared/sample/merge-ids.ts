import type { Random } from './random.ts';

/** One line of a merged-ID export file; times in epoch milliseconds, as Amplitude writes them. */
export interface MergeIdLine {
  readonly scope: number;
  readonly merge_time: number;
  readonly merge_server_time: number;
  readonly amplitude_id: number;
  readonly merged_amplitude_id: number;
}

export function mergeIdLine(random: Random, scope: number, hourStartMs: number): MergeIdLine {
  const serverMs = hourStartMs + random.int(0, 3_599_999);
  return {
    scope,
    merge_time: serverMs - random.int(0, 120_000),
    merge_server_time: serverMs,
    amplitude_id: random.int(100_000_000, 999_999_999_999),
    merged_amplitude_id: random.int(100_000_000, 999_999_999_999),
  };
}

export function mergePairKey(line: Pick<MergeIdLine, 'amplitude_id' | 'merged_amplitude_id'>): string {
  return `${line.amplitude_id}:${line.merged_amplitude_id}`;
}
