import { ConfigError } from '#shared/config/validate.ts';
import { type CliIo, type Command, UsageError } from './io.ts';

/** Sub-commands, loaded on demand so `--help` and light commands start fast. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  local: {
    summary:
      'run the pipeline locally (folder + PostgreSQL); `local backfill` for a date range, `local serve` to query it',
    load: async () => (await import('./commands/local.ts')).run,
  },
  sample: {
    summary: 'write sample Amplitude S3-export files',
    load: async () => (await import('./commands/sample.ts')).run,
  },
  backfill: {
    summary: 'start (and with --wait follow) a backfill of a date range on a deployed stack',
    load: async () => (await import('./commands/aws-backfill.ts')).run,
  },
  status: {
    summary: 'pending and failed batches, last loads, freshness and running backfills of a deployed stack',
    load: async () => (await import('./commands/aws-status.ts')).run,
  },
  verify: {
    summary: "run the deployed stack's verify check (credentials, role, tables, a test COPY)",
    load: async () => (await import('./commands/aws-verify.ts')).run,
  },
  forget: {
    summary: 'erase a person (GDPR/CCPA request) from a deployed stack; `local forget` for the local runner',
    load: async () => (await import('./commands/aws-forget.ts')).run,
  },
  pull: {
    summary: 'pull hours from the Amplitude Export API into a landing folder',
    load: async () => (await import('./commands/pull.ts')).run,
  },
  'setup-sql': {
    summary: 'print the SQL an admin runs once (schema, tables, ledger, user, grants)',
    load: async () => (await import('./commands/setup-sql.ts')).run,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(width)}  ${summary}`);
  return `Usage: redshift-export <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun \`redshift-export <command> --help\` for a command's options.\n`;
}

export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr(`Unknown command ${JSON.stringify(name)}.\n\n${usage()}`);
    return 2;
  }
  // Flags never stand first, so a first plain word is a sub-command (`local backfill`): name it too.
  const label = rest[0] !== undefined && /^[a-z][a-z-]*$/.test(rest[0]) ? `${name} ${rest[0]}` : name;
  try {
    return await (await command.load())(rest, io);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      io.stderr(`redshift-export ${label}: ${error.message}\n`);
      return 2;
    }
    io.stderr(`redshift-export ${label} failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

function processIo(): CliIo {
  const interrupted = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
    interrupted,
    terminal: process.stderr,
  };
}
