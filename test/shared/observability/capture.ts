import { vi } from 'vitest';

export interface Captured {
  /** Every line written to stdout and stderr, in order. */
  readonly lines: string[];
  /** The lines that are JSON objects, parsed. */
  json(): Record<string, unknown>[];
  /** The EMF documents among them (Powertools Metrics prints one per publish). */
  emf(): EmfDocument[];
  restore(): void;
}

export interface EmfDocument extends Record<string, unknown> {
  readonly _aws: {
    readonly Timestamp: number;
    readonly CloudWatchMetrics: readonly {
      readonly Namespace: string;
      readonly Dimensions: readonly (readonly string[])[];
      readonly Metrics: readonly { readonly Name: string; readonly Unit: string }[];
    }[];
  };
}

/**
 * Captures what Powertools prints. Its Logger and Metrics write through their own Console
 * on process.stdout/stderr (outside POWERTOOLS_DEV), so the streams are what is spied on.
 */
export function captureOutput(): Captured {
  const chunks: string[] = [];
  const collect = (chunk: unknown) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    return true;
  };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(collect as typeof process.stdout.write);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(collect as typeof process.stderr.write);
  const lines = () =>
    chunks
      .join('')
      .split('\n')
      .filter((line) => line.trim() !== '');
  return {
    get lines() {
      return lines();
    },
    json() {
      return lines().flatMap((line) => {
        try {
          const value = JSON.parse(line) as unknown;
          return typeof value === 'object' && value !== null ? [value as Record<string, unknown>] : [];
        } catch {
          return [];
        }
      });
    },
    emf() {
      return this.json().filter(
        (doc): doc is EmfDocument => typeof doc._aws === 'object' && doc._aws !== null,
      );
    },
    restore() {
      out.mockRestore();
      err.mockRestore();
    },
  };
}

/** `{name: value}` of every metric in the documents whose dimensions match `dimensions` exactly. */
export function valuesFor(
  docs: readonly EmfDocument[],
  dimensions: Readonly<Record<string, string>>,
): Record<string, number | number[]> {
  const wanted = Object.keys(dimensions).sort().join(',');
  const values: Record<string, number | number[]> = {};
  for (const doc of docs) {
    const directive = doc._aws.CloudWatchMetrics[0];
    if (!directive) continue;
    const sets = directive.Dimensions.map((set) => [...set].sort().join(','));
    if (!sets.includes(wanted)) continue;
    if (!Object.entries(dimensions).every(([name, value]) => doc[name] === value)) continue;
    for (const metric of directive.Metrics) {
      const value = doc[metric.Name] as number | number[];
      const previous = values[metric.Name];
      values[metric.Name] =
        previous === undefined ? value : ([] as number[]).concat(previous as number | number[], value);
    }
  }
  return values;
}
