import { describe, expect, it } from 'vitest';
import { run } from '#cli/commands/setup-sql.ts';
import { type CliIo, UsageError } from '#cli/io.ts';
import { main } from '#cli/main.ts';
import { buildSetupSql } from '#shared/sql/setup.ts';

function capture(): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    env: {},
    cwd: process.cwd(),
  };
}

describe('redshift-export setup-sql', () => {
  it('prints the setup SQL for the options given', async () => {
    const io = capture();
    const code = await run(
      [
        '--project-id',
        '123',
        '--schema',
        'analytics',
        '--user',
        'loader',
        '--feeds',
        'merge_ids',
        '--copy-role-arn',
        'arn:aws:iam::123456789012:role/copy',
      ],
      io,
    );
    expect(code).toBe(0);
    expect(io.out.join('')).toBe(
      buildSetupSql({
        dialect: 'redshift',
        projectId: '123',
        schema: 'analytics',
        user: 'loader',
        feeds: ['merge_ids'],
        copyRoleArn: 'arn:aws:iam::123456789012:role/copy',
      }),
    );
    expect(io.out.join('')).toContain(
      `GRANT ASSUMEROLE ON 'arn:aws:iam::123456789012:role/copy' TO "loader" FOR COPY;`,
    );
  });

  it('prints the PostgreSQL dialect', async () => {
    const io = capture();
    expect(await run(['--project-id', '5', '--dialect', 'postgres'], io)).toBe(0);
    expect(io.out.join('')).toContain('"amplitude"."events_5"');
    expect(io.out.join('')).not.toContain('DISTKEY');
  });

  it('prints usage for --help', async () => {
    const io = capture();
    expect(await run(['--help'], io)).toBe(0);
    expect(io.out.join('')).toMatch(/^Usage: redshift-export setup-sql --project-id N/);
  });

  it.each([
    [[], /--project-id is required/],
    [['--project-id', 'abc'], /--project-id must be the numeric Amplitude project ID, got "abc"/],
    [['--project-id', '1', '--dialect', 'mysql'], /--dialect must be one of redshift, postgres, got "mysql"/],
    [['--project-id', '1', '--schema', 'a"; drop table x;--'], /Invalid schema/],
    [['--project-id', '1', '--feeds', 'events,clicks'], /--feeds must be a comma-separated list/],
    [['--project-id', '1', '--copy-role-arn', 'not-an-arn'], /Invalid COPY role ARN/],
    [['--project-id', '1', '--bogus'], /Unknown option '--bogus'/],
  ])('refuses %j with a usage error', async (argv, message) => {
    const io = capture();
    const attempt = run(argv as string[], io);
    await expect(attempt).rejects.toBeInstanceOf(UsageError);
    await expect(attempt).rejects.toThrow(message);
    expect(io.out).toEqual([]);
  });

  it('exits 2 with the message through the CLI entry point', async () => {
    const io = capture();
    expect(await main(['setup-sql', '--project-id', '1', '--user', 'Bad-User'], io)).toBe(2);
    expect(io.err.join('')).toMatch(/^redshift-export setup-sql: Invalid user "Bad-User"/);
  });
});
