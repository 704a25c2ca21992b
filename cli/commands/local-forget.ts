import { join } from 'node:path';
import { eraseFromWarehouse } from '#shared/pipeline/erasure/erase.ts';
import { FORGET_FLAGS_HELP, FORGET_OPTIONS, forgetInput, renderErasure } from '../forget.ts';
import type { Command } from '../io.ts';
import { LOCAL_CONTEXT_OPTIONS, localContextOptions, openLocalContext } from '../local/context.ts';
import { parseCommandLine } from '../options.ts';

const HELP = `Usage: redshift-export local forget (--amplitude-id N | --user-id U | --device-id D) --reference REF [options]

Erases a person from the local warehouse: records the request in <schema>.erasures and, in
one transaction under the ledger lock that loads take, deletes their rows from the events
and merged-IDs tables. Every later load (a replay, a backfill, a re-export) drops them too.
An identifier that matches nothing is still recorded ("0 rows removed"): the person may
appear in a later export.

Options:
${FORGET_FLAGS_HELP}
  --home DIR           local state: object store, embedded PostgreSQL data (default .local)
  --landing DIR        Amplitude S3-export files, to infer the project ID (default <home>/landing)
  --database-url URL   use this PostgreSQL instead of the embedded one
  --project-id N       Amplitude project ID (default: inferred from the landing file names)
  --feeds LIST         events,merge_ids (default both)
  --schema S           warehouse schema (default amplitude)
  -h, --help           show this help
`;

const OPTIONS = {
  ...FORGET_OPTIONS,
  ...LOCAL_CONTEXT_OPTIONS,
} as const;

export const run: Command = async (argv, io) => {
  const values = parseCommandLine(argv, OPTIONS, HELP, io);
  if (!values) return 0;
  const input = forgetInput(values);
  const context = await openLocalContext(
    { ...localContextOptions(values, io.cwd), requireLanding: false },
    io,
  );
  try {
    const outcome = await eraseFromWarehouse({
      ...input,
      runner: context.runner,
      schema: context.settings.schema,
      projectId: context.settings.projectId,
      feeds: context.settings.feeds,
      dryRun: values['dry-run'] === true,
      now: new Date(),
    });
    io.stdout(
      values.json
        ? `${JSON.stringify(outcome, null, 2)}\n`
        : renderErasure(outcome, { locate: (key) => join(context.home, 'store', key) }),
    );
    return 0;
  } finally {
    await context.close();
  }
};
