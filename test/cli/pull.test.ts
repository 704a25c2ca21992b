import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '#cli/commands/pull.ts';
import { type CliIo, UsageError } from '#cli/io.ts';
import { ConfigError } from '#shared/config/validate.ts';
import { hourIndex } from '#test/shared/sources/amplitude-export-api/fake-export-api.ts';
import {
  API_KEY,
  expectNoSecrets,
  Harness,
  SECRET_KEY,
} from '#test/shared/sources/amplitude-export-api/support.ts';

let h: Harness;
beforeEach(async () => {
  h = await new Harness().setUp();
});
afterEach(async () => {
  await h.tearDown();
});

function captureIo(
  env: Record<string, string> = { AMPLITUDE_API_KEY: API_KEY, AMPLITUDE_SECRET_KEY: SECRET_KEY },
) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { stdout: (text) => out.push(text), stderr: (text) => err.push(text), env, cwd: h.root };
  return { io, out, err };
}

describe('redshift-export pull', () => {
  it('writes the hours into the landing folder under S3-export names and prints one JSON summary', async () => {
    const files = h.api.setHour(hourIndex('2024-05-01T23'), [
      ['{"uuid":"a"}', '{"uuid":"b"}'],
      ['{"uuid":"c"}'],
    ]);
    const { io, out, err } = captureIo();

    const code = await run(
      [
        '--start',
        '20240501T22',
        '--end',
        '2024-05-02',
        '--landing',
        'landing',
        '--project-id',
        '187520',
        '--base-url',
        h.api.url,
        '--temp-dir',
        'tmp',
      ],
      io,
    );

    expect(code).toBe(0);
    const landing = join(h.root, 'landing');
    expect((await readdir(landing)).filter((name) => !name.startsWith('.')).sort()).toEqual([
      '187520_2024-05-01_23#0.json.gz',
      '187520_2024-05-01_23#1.json.gz',
    ]);
    expect((await readFile(join(landing, '187520_2024-05-01_23#1.json.gz'))).equals(files[1]!)).toBe(true);
    expect(h.api.requests.map((request) => [request.start, request.end])).toEqual([
      ['20240501T22', '20240502T21'],
      ['20240502T22', '20240502T23'],
    ]);
    expect(out).toHaveLength(1);
    expect(JSON.parse(out[0]!)).toEqual({
      landing,
      start: '2024-05-01T22',
      end: '2024-05-02T23',
      requests: 2,
      hours: 26,
      hoursWithData: 1,
      files: 2,
      filesWritten: 2,
      filesUnchanged: 0,
      filesDeleted: 0,
      events: 3,
      bytesDownloaded: expect.any(Number),
    });
    expect(err.join('')).toMatch(/^pull: 26 hour\(s\) pulled \(1 with data\) in 2 request\(s\)\n$/);
  });

  it('exits 1 naming the failed hours, with retries on stderr and no credential anywhere', async () => {
    h.api.setHour(hourIndex('2024-05-01T05'), [['{"uuid":"a"}']]);
    h.api.alwaysFault = { kind: 'echo-auth', status: 400 };
    const { io, out, err } = captureIo();

    const code = await run(
      ['--start', '2024-05-01T05', '--end', '2024-05-01T05', '--landing', 'landing', '--base-url', h.api.url],
      io,
    );

    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err.join('')).toMatch(
      /hours 2024-05-01T05: the API answered 400 Bad Request: .*for a single hour/,
    );
    expect(expectNoSecrets(err.join(''))).toEqual([]);
  });

  it('asks for the credentials in the environment', async () => {
    const { io } = captureIo({ AMPLITUDE_API_KEY: API_KEY });
    const attempt = run(
      ['--start', '2024-05-01T05', '--end', '2024-05-01T05', '--landing', 'x', '--base-url', h.api.url],
      io,
    );
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(attempt).rejects.toThrow(/AMPLITUDE_SECRET_KEY is not set/);
    expect(h.api.requests).toEqual([]);
  });

  it.each([
    [['--end', '2024-05-01', '--landing', 'x'], /--start is required/],
    [['--start', '2024-05-01T25', '--end', '2024-05-01', '--landing', 'x'], /--start must be an hour/],
    [
      ['--start', '2024-05-02', '--end', '2024-05-01', '--landing', 'x'],
      /--start 2024-05-02T00 is after --end 2024-05-01T23/,
    ],
    [['--start', '2024-05-01', '--end', '2024-05-01'], /--landing DIR is required/],
    [
      ['--start', '2024-05-01', '--end', '2024-05-01', '--landing', 'x', '--hours-per-request', '9000'],
      /--hours-per-request must be a whole number from 1 to 8760/,
    ],
  ])('refuses %j with a usage error', async (args, message) => {
    const { io } = captureIo();
    const attempt = run(args, io);
    await expect(attempt).rejects.toThrow(UsageError);
    await expect(attempt).rejects.toThrow(message);
  });

  it('refuses a region other than us or eu', async () => {
    const { io } = captureIo();
    await expect(
      run(['--start', '2024-05-01', '--end', '2024-05-01', '--landing', 'x', '--region', 'ap'], io),
    ).rejects.toThrow(/--region must be "us" or "eu"/);
  });
});
