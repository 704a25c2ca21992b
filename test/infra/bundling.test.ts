import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLUSTER_EXPORT_API_CONTEXT, resourcesOf, synthesize } from './synth.ts';

const run = promisify(execFile);

interface BundledFunction {
  readonly id: string;
  readonly dir: string;
  readonly environment: Record<string, string>;
}

let outdir: string;
let bundled: BundledFunction[];

// The one synthesis with real bundling: every Lambda of the stack through the local esbuild,
// with the Export API connector on so that its pull function is among them.
beforeAll(async () => {
  outdir = await mkdtemp(join(tmpdir(), 'cdk-bundle-'));
  const { app, template } = synthesize(CLUSTER_EXPORT_API_CONTEXT, { bundle: true, outdir });
  app.synth();
  bundled = Object.entries(resourcesOf(template, 'AWS::Lambda::Function'))
    .filter(([id]) => /^(Pipeline|Backfill|ExportApi)/.test(id) && !id.includes('Provider'))
    .map(([id, fn]) => {
      const s3Key = (fn.Properties.Code as { S3Key: string }).S3Key;
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      return {
        id,
        dir: join(outdir, `asset.${s3Key.replace(/\.zip$/, '')}`),
        // Token values (bucket names, ARNs) become placeholders: loading the module only reads them.
        environment: Object.fromEntries(
          Object.entries(variables).map(([name, value]) => [
            name,
            typeof value === 'string' ? value : `placeholder-${name.toLowerCase()}`,
          ]),
        ),
      };
    });
}, 300_000);

afterAll(async () => {
  await rm(outdir, { recursive: true, force: true });
});

describe('bundling', () => {
  it('bundles every Lambda of the stack into an ESM file with a source map', async () => {
    const ids = bundled.map((fn) => fn.id);
    for (const name of [
      'PipelineBatcher',
      'PipelineLoader',
      'PipelineVerify',
      'BackfillPlan',
      'BackfillPrepare',
      'BackfillSummarize',
      'ExportApiPull',
    ]) {
      expect(
        ids.filter((id) => id.startsWith(name)),
        name,
      ).toHaveLength(1);
    }
    for (const fn of bundled) {
      expect(existsSync(join(fn.dir, 'index.mjs')), fn.id).toBe(true);
      expect(existsSync(join(fn.dir, 'index.mjs.map')), fn.id).toBe(true);
      const code = await readFile(join(fn.dir, 'index.mjs'), 'utf8');
      expect(code.startsWith('import { createRequire }'), fn.id).toBe(true);
    }
  });

  it('produces modules that load in Node with the environment the stack sets and export handler', async () => {
    for (const fn of bundled) {
      const { stdout } = await run(
        process.execPath,
        [
          '--enable-source-maps',
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(join(fn.dir, 'index.mjs'))}); console.log(typeof m.handler);`,
        ],
        { env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', ...fn.environment }, timeout: 60_000 },
      );
      expect(stdout.trim(), fn.id).toBe('function');
    }
  }, 120_000);
});
