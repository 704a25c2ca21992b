import { resolve } from 'node:path';
import { addDays, utcDay } from '#shared/base/hours.ts';
import { generateSample, type SampleManifest } from '#shared/sample/generate.ts';
import { type Command, UsageError } from '../io.ts';
import { DEMO_ORG_ID, DEMO_PROJECT_ID } from '../local/demo.ts';
import { parseCommandLine, wholeNumber } from '../options.ts';

const HELP = `Usage: redshift-export sample --out DIR [options]

Writes Amplitude S3-export files (hourly gzip NDJSON events, merged-ID files, complete
markers) with realistic, messy values, duplicates across files and late second parts.
The same options and seed always give byte-identical files.

Options:
  --out DIR               folder to write into (created if missing)
  --project-id N          Amplitude project ID in the file names (default 187520)
  --org-id N              organization ID of the merged-ID files (default 36958)
  --start YYYY-MM-DD      first UTC day (default yesterday, inside the batcher's look-back window)
  --days N                days of hourly files, 1-366 (default 1)
  --events-per-hour N     events in each hour's first part, 1-1000000 (default 200)
  --seed N                0-4294967295 (default 1)
  -h, --help              show this help
`;

const OPTIONS = {
  out: { type: 'string' },
  'project-id': { type: 'string' },
  'org-id': { type: 'string' },
  start: { type: 'string' },
  days: { type: 'string' },
  'events-per-hour': { type: 'string' },
  seed: { type: 'string' },
} as const;

export const run: Command = async (argv, io) => {
  const values = parseCommandLine(argv, OPTIONS, HELP, io);
  if (!values) return 0;
  if (!values.out)
    throw new UsageError(`--out DIR is required: the folder to write the sample files into.\n\n${HELP}`);
  const out = resolve(io.cwd, values.out);
  const manifest = await generateSample(out, {
    projectId: digits(values['project-id'], '--project-id', '187520'),
    orgId: digits(values['org-id'], '--org-id', '36958'),
    start: day(values.start, '--start') ?? addDays(utcDay(new Date()), -1),
    days: wholeNumber(values.days, '--days', { min: 1, max: 366, fallback: 1 }),
    eventsPerHour: wholeNumber(values['events-per-hour'], '--events-per-hour', {
      min: 1,
      max: 1_000_000,
      fallback: 200,
    }),
    seed: wholeNumber(values.seed, '--seed', { min: 0, max: 0xffff_ffff, fallback: 1 }),
  });
  io.stdout(`${JSON.stringify({ out, ...summaryOf(manifest) })}\n`);
  return 0;
};

/** One sample day (yesterday, UTC) for `local --demo` when the landing folder is empty. */
export async function writeDemoDay(landingDir: string): Promise<ReturnType<typeof summaryOf>> {
  return summaryOf(
    await generateSample(landingDir, {
      projectId: DEMO_PROJECT_ID,
      orgId: DEMO_ORG_ID,
      start: addDays(utcDay(new Date()), -1),
      days: 1,
    }),
  );
}

function summaryOf(manifest: SampleManifest) {
  return {
    projectId: manifest.projectId,
    orgId: manifest.orgId,
    start: manifest.start,
    days: manifest.days,
    seed: manifest.seed,
    files: manifest.files.length,
    markers: manifest.markers.length,
    events: manifest.events,
    uniqueEvents: manifest.uniqueEvents,
    duplicateEvents: manifest.duplicateEvents,
    mergeRows: manifest.mergeRows,
    uniqueMergePairs: manifest.uniqueMergePairs,
    bytes: manifest.bytes,
  };
}

function digits(raw: string | undefined, flag: string, fallback: string): string {
  if (raw === undefined) return fallback;
  if (!/^\d{1,20}$/.test(raw))
    throw new UsageError(`${flag} must be a number (digits only), got ${JSON.stringify(raw)}.`);
  return raw;
}

function day(raw: string | undefined, flag: string): string | undefined {
  if (raw === undefined) return undefined;
  const valid =
    /^\d{4}-\d{2}-\d{2}$/.test(raw) && utcDay(new Date(Date.parse(`${raw}T00:00:00Z`) || 0)) === raw;
  if (!valid)
    throw new UsageError(`${flag} must be a calendar day as YYYY-MM-DD, got ${JSON.stringify(raw)}.`);
  return raw;
}
