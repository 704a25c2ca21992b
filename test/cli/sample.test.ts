import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '#cli/main.ts';
import { capture } from './local-support.ts';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function filesOf(folder: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of (await readdir(folder)).sort()) files.set(name, await readFile(join(folder, name)));
  return files;
}

describe('redshift-export sample', () => {
  it('writes byte-identical files on two runs with the same seed and prints one JSON line', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-sample-'));
    const args = ['--start', '2024-06-01', '--days', '2', '--events-per-hour', '12', '--seed', '77'];
    const first = capture(dir);
    const second = capture(dir);
    expect(await main(['sample', '--out', 'one', ...args], first.io)).toBe(0);
    expect(await main(['sample', '--out', 'two', ...args, '--project-id', '187520'], second.io)).toBe(0);

    const one = await filesOf(join(dir, 'one'));
    const two = await filesOf(join(dir, 'two'));
    expect([...two.keys()]).toEqual([...one.keys()]);
    for (const [name, body] of one) expect(two.get(name)?.equals(body), name).toBe(true);

    expect(first.out).toHaveLength(1);
    const summary = JSON.parse(first.out[0]!) as Record<string, unknown>;
    expect(summary).toMatchObject({
      out: join(dir, 'one'),
      projectId: '187520',
      start: '2024-06-01',
      days: 2,
      seed: 77,
    });
    const dataFiles = [...one.keys()].filter((name) => name.endsWith('.json.gz'));
    expect(summary.files).toBe(dataFiles.length);
    expect(summary.markers).toBe(48);
    let events = 0;
    for (const name of dataFiles.filter((n) => !n.startsWith('-'))) {
      events += gunzipSync(one.get(name)!).toString('utf8').trim().split('\n').length;
    }
    expect(summary.events).toBe(events);
    expect(first.err).toEqual([]);
  });

  it('uses the project and org IDs it is given in the file names', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-sample-'));
    const { io } = capture(dir);
    expect(
      await main(
        [
          'sample',
          '--out',
          'x',
          '--start',
          '2024-06-01',
          '--events-per-hour',
          '1',
          '--project-id',
          '42',
          '--org-id',
          '7',
        ],
        io,
      ),
    ).toBe(0);
    const names = [...(await filesOf(join(dir, 'x'))).keys()];
    expect(names).toContain('42_2024-06-01_0#0.json.gz');
    expect(names).toContain('-7_2024-06-01_23.json.gz');
  });

  it.each([
    [['--start', '2024-01-01'], /--out DIR is required/],
    [['--out', 'x', '--days', '0'], /--days must be a whole number from 1 to 366, got "0"/],
    [['--out', 'x', '--events-per-hour', '1.5'], /--events-per-hour must be a whole number/],
    [['--out', 'x', '--seed', '-1'], /--seed/],
    [
      ['--out', 'x', '--start', '2024-02-30'],
      /--start must be a calendar day as YYYY-MM-DD, got "2024-02-30"/,
    ],
    [['--out', 'x', '--project-id', 'abc'], /--project-id must be a number/],
    [['--out', 'x', '--bogus'], /Unknown option '--bogus'/],
  ])('refuses %j with a usage error', async (args, message) => {
    dir = await mkdtemp(join(tmpdir(), 'cli-sample-'));
    const { io, err, out } = capture(dir);
    expect(await main(['sample', ...args], io)).toBe(2);
    expect(err.join('')).toMatch(message);
    expect(out).toEqual([]);
    expect(await readdir(dir)).toEqual([]);
  });

  it('prints its options with --help', async () => {
    const { io, out } = capture(tmpdir());
    expect(await main(['sample', '--help'], io)).toBe(0);
    expect(out.join('')).toContain('--events-per-hour N');
  });
});
