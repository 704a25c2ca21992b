import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layers of `shared/`, lowest first (README, "Layout"). A module may import its own folder
 * and folders of a lower rank, never a higher one, and never another folder of the same rank.
 * `config` (typed settings) sits just above `schema`, which it reads; `storage` (the ObjectStore
 * port, importing only `base`) sits below `format`, whose part writer streams into it; `verify`
 * and `sample` are use cases beside `pipeline`; `observability` is the top: it reports what the
 * use cases return.
 */
const RANKS: Record<string, number> = {
  base: 0,
  schema: 1,
  config: 2,
  storage: 3,
  transform: 4,
  format: 5,
  sql: 6,
  warehouse: 7,
  sources: 8,
  pipeline: 9,
  verify: 9,
  sample: 9,
  observability: 10,
};

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

// Static imports and re-exports (type-only ones too: they are arrows all the same) and dynamic imports.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)'([^']+)'/g;

/**
 * Every `.ts` file under the given folders of the project and the project files it imports,
 * as paths relative to `root` (`#shared/...` and the other `#` aliases map to their folders).
 */
function importGraph(root: string, folders: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of folders.flatMap((folder) => sourceFiles(join(root, folder)))) {
    const text = readFileSync(file, 'utf8');
    const targets: string[] = [];
    for (const [, specifier] of text.matchAll(SPECIFIER)) {
      if (specifier?.startsWith('.')) targets.push(relative(root, resolve(dirname(file), specifier)));
      else if (specifier?.startsWith('#')) targets.push(specifier.slice(1));
    }
    graph.set(relative(root, file), targets);
  }
  return graph;
}

/** `a/b.ts -> c/d.ts` for every import that points up, sideways, or out of `shared/`. */
function layerViolations(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const violations: string[] = [];
  for (const [file, targets] of graph) {
    const from = file.split('/')[1]!;
    for (const target of targets) {
      const to = target.startsWith('shared/') ? target.split('/')[1]! : `(${target})`;
      if (from === to) continue;
      const fromRank = RANKS[from];
      const toRank = RANKS[to];
      if (fromRank === undefined || toRank === undefined || toRank >= fromRank) {
        violations.push(`${file} -> ${target}`);
      }
    }
  }
  return violations;
}

/** Each import circle once, as the files along it. */
function importCircles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const circles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    path.push(file);
    for (const target of graph.get(file) ?? []) {
      if (!graph.has(target)) continue;
      const seen = state.get(target);
      if (seen === 'open') circles.push([...path.slice(path.indexOf(target)), target]);
      else if (seen === undefined) visit(target);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return circles;
}

describe('the layers of shared/', () => {
  const graph = importGraph(ROOT, ['shared']);

  it('knows the rank of every folder of shared/', () => {
    const folders = new Set([...graph.keys()].map((file) => file.split('/')[1]!));
    expect([...folders].filter((folder) => RANKS[folder] === undefined)).toEqual([]);
    expect(graph.size).toBeGreaterThan(50);
  });

  it('imports only its own folder and lower layers', () => {
    expect(layerViolations(graph)).toEqual([]);
  });

  it('has no import circle, nor has the rest of the project', () => {
    const all = importGraph(ROOT, ['shared', 'lambdas', 'infra', 'cli', 'bench']);
    expect(importCircles(all).map((circle) => circle.join(' -> '))).toEqual([]);
  });

  it('keeps the CLI on top: shared/, lambdas/ and infra/ never import cli/', () => {
    const all = importGraph(ROOT, ['shared', 'lambdas', 'infra']);
    const intoCli = [...all].flatMap(([file, targets]) =>
      targets.filter((target) => target.startsWith('cli/')).map((target) => `${file} -> ${target}`),
    );
    expect(intoCli).toEqual([]);
  });

  it('finds an upward import and a circle when there is one', () => {
    const bad = new Map([
      ['shared/base/clock.ts', ['shared/pipeline/loader/loader.ts']],
      ['shared/pipeline/loader/loader.ts', ['shared/pipeline/loader/run.ts']],
      ['shared/pipeline/loader/run.ts', ['shared/pipeline/loader/loader.ts', 'shared/base/clock.ts']],
      ['shared/verify/verify.ts', ['shared/pipeline/batcher/batcher.ts', 'cli/io.ts']],
    ]);
    expect(layerViolations(bad)).toEqual([
      'shared/base/clock.ts -> shared/pipeline/loader/loader.ts',
      'shared/verify/verify.ts -> shared/pipeline/batcher/batcher.ts',
      'shared/verify/verify.ts -> cli/io.ts',
    ]);
    expect(importCircles(bad)).toEqual([
      [
        'shared/pipeline/loader/loader.ts',
        'shared/pipeline/loader/run.ts',
        'shared/pipeline/loader/loader.ts',
      ],
      [
        'shared/base/clock.ts',
        'shared/pipeline/loader/loader.ts',
        'shared/pipeline/loader/run.ts',
        'shared/base/clock.ts',
      ],
    ]);
  });
});
