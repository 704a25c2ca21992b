import { describe, expect, it } from 'vitest';
import { type CliIo, UsageError } from '#cli/io.ts';
import { main } from '#cli/main.ts';
import { parseInterval, parseOptions, wholeNumber } from '#cli/options.ts';

describe('wholeNumber, the one parser of whole-number flags', () => {
  it('reads digits within the range, and the fallback (or nothing) when the flag is absent', () => {
    expect(wholeNumber('7', '--days', { min: 1, max: 10 })).toBe(7);
    expect(wholeNumber(' 10 ', '--days', { min: 1, max: 10 })).toBe(10);
    expect(wholeNumber(undefined, '--days', { min: 1, max: 10 })).toBeUndefined();
    expect(wholeNumber(undefined, '--days', { min: 1, max: 10, fallback: 3 })).toBe(3);
  });

  it.each(['0', '11', '1.5', '-1', '1e1', '', 'ten', '0x5'])(
    'refuses %j, naming the flag and the range',
    (text) => {
      expect(() => wholeNumber(text, '--days', { min: 1, max: 10 })).toThrow(UsageError);
      expect(() => wholeNumber(text, '--days', { min: 1, max: 10 })).toThrow(
        `--days must be a whole number from 1 to 10, got ${JSON.stringify(text)}.`,
      );
    },
  );
});

describe('parseInterval', () => {
  it('reads 30s, 5m, 1h and 1500ms', () => {
    expect([parseInterval('30s', '--x'), parseInterval('5m', '--x'), parseInterval('1h', '--x')]).toEqual([
      30_000, 300_000, 3_600_000,
    ]);
    expect(parseInterval('1500ms', '--x')).toBe(1500);
  });

  it('asks for a unit instead of reading a bare number as milliseconds', () => {
    expect(() => parseInterval('5', '--batch-every')).toThrow(
      '--batch-every needs a unit: 5s, 5m or 5h (seconds, minutes, hours).',
    );
  });
});

describe('parseOptions', () => {
  const options = { once: { type: 'boolean' }, landing: { type: 'string' } } as const;
  it('suggests the flag a typo was probably meant to be', () => {
    expect(() => parseOptions(['--onse'], options, 'HELP')).toThrow(
      "Unknown option '--onse'. Did you mean --once?",
    );
    expect(() => parseOptions(['--landng=x'], options, 'HELP')).toThrow('Did you mean --landing?');
  });
  it('suggests nothing for a flag unlike any', () => {
    expect(() => parseOptions(['--colour'], options, 'HELP')).toThrow(
      /^Unknown option '--colour'\.\n\nHELP$/,
    );
  });
});

describe('error labels', () => {
  it('name the sub-command, so `local backfill` errors do not read as `local` ones', async () => {
    const { main } = await import('#cli/main.ts');
    const err: string[] = [];
    const io = {
      stdout: () => undefined,
      stderr: (text: string) => err.push(text),
      env: {},
      cwd: process.cwd(),
    };
    expect(await main(['local', 'backfill', '--start', '2024-05-01'], io)).toBe(2);
    expect(err.join('')).toMatch(/^redshift-export local backfill: --start and --end are required/);
  });
});

describe('every command through parseCommandLine', () => {
  it.each([
    ['local'],
    ['local', 'backfill'],
    ['local', 'forget'],
    ['local', 'serve'],
    ['sample'],
    ['backfill'],
    ['status'],
    ['verify'],
    ['forget'],
    ['pull'],
    ['setup-sql'],
  ])('%s: --help and -h print its usage (which lists them) on stdout and exit 0', async (...command) => {
    for (const flag of ['--help', '-h']) {
      const out: string[] = [];
      const err: string[] = [];
      const io: CliIo = {
        stdout: (text) => out.push(text),
        stderr: (text) => err.push(text),
        env: {},
        cwd: '/nonexistent-cwd-for-help',
      };
      expect(await main([...command, flag], io)).toBe(0);
      expect(out.join('')).toMatch(new RegExp(`^Usage: redshift-export ${command.join(' ')}\\b`, 'm'));
      expect(out.join('')).toMatch(/^ {2}-h, --help +show this help$/m);
      expect(err.join('')).toBe('');
    }
  });
});
