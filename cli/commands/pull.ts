import { resolve } from 'node:path';
import { formatHour, parseHour } from '#shared/base/hours.ts';
import { ExportApiClient } from '#shared/sources/amplitude-export-api/client.ts';
import { CREDENTIAL_ENV, credentialsFromEnv } from '#shared/sources/amplitude-export-api/credentials.ts';
import { ExportApiPullError } from '#shared/sources/amplitude-export-api/errors.ts';
import {
  describeReport,
  MAX_HOURS_PER_REQUEST,
  type PullReport,
  pullHours,
} from '#shared/sources/amplitude-export-api/pull.ts';
import { regionFrom } from '#shared/sources/amplitude-export-api/settings.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import { type Command, UsageError } from '../io.ts';
import { parseCommandLine, wholeNumber } from '../options.ts';

const HELP = `Usage: redshift-export pull --start HOUR --end HOUR --landing DIR [options]

Pulls hours of events from Amplitude's Export API into a landing folder, under the names
Amplitude's S3 export gives its files (<projectId>_<yyyy-MM-dd>_<H>#<n>.json.gz), so the
local runner and backfill load them as they are. Pulling an hour again replaces its files.
Credentials come from the environment: ${CREDENTIAL_ENV.apiKey} and ${CREDENTIAL_ENV.secretKey}
(the project's API key and secret key).

Options:
  --start HOUR             first hour (UTC), YYYY-MM-DDTHH or YYYYMMDDTHH; a day YYYY-MM-DD means its 00
  --end HOUR               last hour, included; a day means its 23
  --landing DIR            landing folder to write into (created if missing)
  --project-id N           refuse files of any other project (default: the key's project)
  --landing-prefix P       key prefix inside the folder (default none)
  --region us|eu           the project's data residency (default us)
  --base-url URL           API host instead of the region's, e.g. http://127.0.0.1:8080
  --hours-per-request N    hours asked for at once, 1-${MAX_HOURS_PER_REQUEST} (default 24)
  --temp-dir DIR           where answers wait while they are checked (default the OS temp folder)
  -h, --help               show this help
`;

const OPTIONS = {
  start: { type: 'string' },
  end: { type: 'string' },
  landing: { type: 'string' },
  'project-id': { type: 'string' },
  'landing-prefix': { type: 'string' },
  region: { type: 'string' },
  'base-url': { type: 'string' },
  'hours-per-request': { type: 'string' },
  'temp-dir': { type: 'string' },
} as const;

export const run: Command = async (argv, io) => {
  const values = parseCommandLine(argv, OPTIONS, HELP, io);
  if (!values) return 0;
  const start = hourOption(values.start, '--start', 'start');
  const end = hourOption(values.end, '--end', 'end');
  if (start > end) throw new UsageError(`--start ${formatHour(start)} is after --end ${formatHour(end)}.`);
  if (!values.landing)
    throw new UsageError(`--landing DIR is required: the folder to write the files into.\n\n${HELP}`);
  const projectId = values['project-id'];
  if (projectId !== undefined && !/^\d{1,20}$/.test(projectId)) {
    throw new UsageError(
      `--project-id must be the numeric Amplitude project ID, got ${JSON.stringify(projectId)}.`,
    );
  }
  const landingPrefix = values['landing-prefix'] ?? '';
  if (landingPrefix.startsWith('/')) throw new UsageError('--landing-prefix must not start with "/".');
  const hoursPerRequest = wholeNumber(values['hours-per-request'], '--hours-per-request', {
    min: 1,
    max: MAX_HOURS_PER_REQUEST,
    fallback: 24,
  });

  const api = new ExportApiClient({
    credentials: credentialsFromEnv(io.env),
    region: regionFrom({ '--region': values.region }, '--region'),
    ...(values['base-url'] ? { baseUrl: values['base-url'] } : {}),
    ...(values['temp-dir'] ? { tempDir: resolve(io.cwd, values['temp-dir']) } : {}),
    onRetry: (event) =>
      io.stderr(
        `pull: hours ${event.startHour} .. ${event.endHour}, attempt ${event.attempt}/${event.maxAttempts} failed (${event.reason}); retrying in ${Math.round(event.delayMs / 1000)} s\n`,
      ),
  });
  const landingDir = resolve(io.cwd, values.landing);
  let report: PullReport;
  try {
    report = await pullHours({
      api,
      landing: new FileSystemObjectStore(landingDir),
      settings: { ...(projectId ? { projectId } : {}), landingPrefix, maxHoursPerRequest: hoursPerRequest },
      startHour: formatHour(start),
      endHour: formatHour(end),
    });
  } catch (error) {
    if (error instanceof ExportApiPullError) {
      io.stderr(`pull: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  io.stderr(`pull: ${describeReport(report)}\n`);
  io.stdout(`${JSON.stringify(summaryOf(landingDir, start, end, report))}\n`);
  return 0;
};

function summaryOf(landing: string, start: number, end: number, report: PullReport) {
  const total = (pick: (hour: PullReport['hours'][number]) => number) =>
    report.hours.reduce((sum, hour) => sum + pick(hour), 0);
  return {
    landing,
    start: formatHour(start),
    end: formatHour(end),
    requests: report.requests,
    hours: report.hours.length,
    hoursWithData: report.hours.filter((hour) => hour.files > 0).length,
    files: total((hour) => hour.files),
    filesWritten: total((hour) => hour.written),
    filesUnchanged: total((hour) => hour.unchanged),
    filesDeleted: total((hour) => hour.deleted),
    events: total((hour) => hour.events),
    bytesDownloaded: report.bytesDownloaded,
  };
}

function hourOption(text: string | undefined, flag: string, edge: 'start' | 'end'): number {
  if (text === undefined) throw new UsageError(`${flag} is required.\n\n${HELP}`);
  const hour = parseHour(text, edge);
  if (hour === undefined) {
    throw new UsageError(
      `${flag} must be an hour as YYYY-MM-DDTHH or YYYYMMDDTHH (UTC), or a day as YYYY-MM-DD; got ${JSON.stringify(text)}.`,
    );
  }
  return hour;
}
