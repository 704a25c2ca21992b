import type { Clock } from '../../base/clock.ts';
import { formatHour, HOUR_MS, parseHour, runsOf } from '../../base/hours.ts';
import { withLease } from '../../storage/lease.ts';
import type { ObjectStore } from '../../storage/object-store.ts';
import type { ExportApi } from './client.ts';
import { ExportApiError } from './errors.ts';
import { type LiveGap, type LivePullState, readLiveState, writeLiveState } from './live-state.ts';
import {
  DEFAULT_HOURS_PER_REQUEST,
  type ExportApiPullSettings,
  type PullReport,
  pullRanges,
} from './pull.ts';

export const LIVE_LEASE_NAME = 'export-api-pull';

export interface LivePullSettings extends ExportApiPullSettings {
  readonly projectId: string;
  /** Hours after an hour ends before it is pulled (Amplitude: exportable ~2 h after receipt). @default 3 */
  readonly delayHours: number;
  /** Days of hours the live pull keeps retrying; older gaps are left to a backfill. @default 7 */
  readonly lookbackDays: number;
  /**
   * First hour the live pull is responsible for (`YYYY-MM-DDTHH`), read on the first run only.
   * @default - the first hour of the batcher's look-back window on the first run
   */
  readonly firstHour?: string;
  /** The batcher's `lookbackDays`: files of older days are only loaded by a backfill. @default 2 */
  readonly batcherLookbackDays: number;
}

export interface LivePullInput {
  readonly api: ExportApi;
  readonly landing: ObjectStore;
  /** Holds the state record and the lease. */
  readonly staging: ObjectStore;
  readonly settings: LivePullSettings;
  readonly clock: Clock;
  /** No request starts later than this after the run began. */
  readonly budgetMs: number;
  readonly runId?: string;
  /** @default 20 minutes (longer than a Lambda can run) */
  readonly leaseTtlMs?: number;
  readonly concurrency?: number;
}

export interface LiveFailure {
  readonly startHour: string;
  readonly endHour: string;
  readonly kind: string;
  readonly status?: number;
  readonly message: string;
}

export interface LivePullSummary {
  readonly runId?: string;
  /** Another run held the lease: this one did nothing. */
  readonly skipped: boolean;
  readonly heldBy?: string;
  /** Hours the run was responsible for: the look-back window up to the newest due hour. */
  readonly windowStart?: string;
  readonly windowEnd?: string;
  /** Due hours not yet pulled when the run began. */
  readonly dueHours: number;
  readonly requests: number;
  readonly hoursPulled: number;
  readonly hoursWithData: number;
  readonly filesWritten: number;
  readonly filesUnchanged: number;
  readonly filesDeleted: number;
  readonly bytesDownloaded: number;
  readonly events: number;
  readonly failures: readonly LiveFailure[];
  /** Due hours still not pulled after this run (metric `ExportApiGapHours`). */
  readonly gapHours: number;
  readonly oldestGapHour?: string;
  /** How long the oldest gap has been due (metric `ExportApiOldestGapAgeSeconds`); 0 without gaps. */
  readonly oldestGapAgeSeconds: number;
  /** Gaps that left the look-back window unpulled in this run: only a backfill brings them now. */
  readonly abandonedHours: readonly string[];
  /**
   * Hours pulled with data whose day is older than the batcher's look-back window: the
   * scheduled batcher will not pick them up; run a backfill over them.
   */
  readonly hoursNeedingBackfill: readonly string[];
  /** A failure no retry fixes (refused credentials, unplaceable answer): a person must act. */
  readonly fatal?: LiveFailure;
}

/**
 * One scheduled run: pulls every complete hour that is at least `delayHours` old and not
 * pulled yet, within the look-back window, oldest first, and records what it pulled and what
 * is still missing in `state/export-api/<projectId>.json`.
 */
export async function runLivePull(input: LivePullInput): Promise<LivePullSummary> {
  const { clock } = input;
  const started = clock().getTime();
  const outcome = await withLease(
    input.staging,
    LIVE_LEASE_NAME,
    {
      owner: `export-api-pull:${input.runId ?? 'run'}`,
      ttlMs: input.leaseTtlMs ?? 20 * 60_000,
      clock,
    },
    () => pullDueHours(input, started),
  );
  if (!outcome.acquired) {
    return { ...emptySummary(input.runId), skipped: true, heldBy: outcome.heldBy };
  }
  return outcome.result;
}

async function pullDueHours(input: LivePullInput, started: number): Promise<LivePullSummary> {
  const { settings, clock } = input;
  const now = clock().getTime();
  const delayMs = settings.delayHours * HOUR_MS;
  // Hour h ends at (h + 1) h and is due `delayHours` later.
  const newestDue = Math.floor((now - delayMs) / HOUR_MS) - 1;
  const batcherWindowStart = Math.floor(now / 86_400_000) * 24 - settings.batcherLookbackDays * 24;

  const stored = await readLiveState(input.staging, settings.projectId);
  const since = stored ? hourOf(stored.state.since) : firstHourOf(settings, batcherWindowStart);
  const windowStart = Math.max(since, newestDue - settings.lookbackDays * 24 + 1);

  const pulled: Record<string, LivePullState['pulled'][string]> = {};
  for (const [hour, record] of Object.entries(stored?.state.pulled ?? {})) {
    if (hourOf(hour) >= windowStart) pulled[hour] = record;
  }
  const gaps: Record<string, LiveGap> = {};
  const abandonedHours: string[] = [];
  for (const [hour, gap] of Object.entries(stored?.state.gaps ?? {})) {
    if (hourOf(hour) >= windowStart) gaps[hour] = gap;
    else abandonedHours.push(hour);
  }

  const due: number[] = [];
  for (let hour = windowStart; hour <= newestDue; hour++) if (!(formatHour(hour) in pulled)) due.push(hour);

  let report: PullReport = { requests: 0, bytesDownloaded: 0, hours: [], failures: [], notAttempted: [] };
  let fatal: LiveFailure | undefined;
  try {
    report = await pullRanges({
      api: input.api,
      landing: input.landing,
      settings,
      ranges: runsOf(due, settings.maxHoursPerRequest ?? DEFAULT_HOURS_PER_REQUEST),
      ...(input.concurrency === undefined ? {} : { concurrency: input.concurrency }),
      shouldStop: () => clock().getTime() - started >= input.budgetMs,
    });
  } catch (error) {
    if (!(error instanceof ExportApiError)) throw error;
    // Hours written before the failure are in landing but not recorded: the next run pulls
    // them again, which replaces them with the same files.
    fatal = failureOf(error);
  }

  const at = new Date(now).toISOString();
  for (const hour of report.hours) {
    pulled[hour.hour] = { at, files: hour.files };
    delete gaps[hour.hour];
  }
  const failedAt = new Map<number, ExportApiError>();
  for (const failure of report.failures) {
    for (let hour = failure.range.first; hour <= failure.range.last; hour++) failedAt.set(hour, failure);
  }
  for (const hour of due) {
    const name = formatHour(hour);
    if (name in pulled) continue;
    const previous = gaps[name];
    const failure = failedAt.get(hour);
    const lastError = failure?.message ?? fatal?.message ?? previous?.lastError;
    gaps[name] = {
      attempts: (previous?.attempts ?? 0) + (failure || fatal ? 1 : 0),
      ...(lastError === undefined ? {} : { lastError }),
    };
  }

  await writeLiveState(input.staging, {
    etag: stored?.etag,
    state: {
      version: 1,
      projectId: settings.projectId,
      since: formatHour(since),
      updatedAt: at,
      pulled: sortedRecord(pulled),
      gaps: sortedRecord(gaps),
    },
  });

  const gapHours = Object.keys(gaps).sort();
  const oldestGap = gapHours[0];
  const withData = report.hours.filter((hour) => hour.files > 0);
  return {
    ...(input.runId === undefined ? {} : { runId: input.runId }),
    skipped: false,
    windowStart: formatHour(windowStart),
    windowEnd: formatHour(newestDue),
    dueHours: due.length,
    requests: report.requests,
    hoursPulled: report.hours.length,
    hoursWithData: withData.length,
    filesWritten: sum(report.hours.map((hour) => hour.written)),
    filesUnchanged: sum(report.hours.map((hour) => hour.unchanged)),
    filesDeleted: sum(report.hours.map((hour) => hour.deleted)),
    bytesDownloaded: report.bytesDownloaded,
    events: sum(report.hours.map((hour) => hour.events)),
    failures: report.failures.map(failureOf),
    gapHours: gapHours.length,
    ...(oldestGap === undefined ? {} : { oldestGapHour: oldestGap }),
    oldestGapAgeSeconds:
      oldestGap === undefined
        ? 0
        : Math.max(0, Math.round((now - ((hourOf(oldestGap) + 1) * HOUR_MS + delayMs)) / 1000)),
    abandonedHours: abandonedHours.sort(),
    hoursNeedingBackfill: withData
      .filter((hour) => hourOf(hour.hour) < batcherWindowStart && hour.written + hour.deleted > 0)
      .map((hour) => hour.hour),
    ...(fatal ? { fatal } : {}),
  };
}

function firstHourOf(settings: LivePullSettings, batcherWindowStart: number): number {
  if (settings.firstHour === undefined) return batcherWindowStart;
  return hourOf(settings.firstHour);
}

function hourOf(text: string): number {
  const hour = parseHour(text);
  if (hour === undefined) throw new Error(`Expected an hour as YYYY-MM-DDTHH, got ${JSON.stringify(text)}.`);
  return hour;
}

function failureOf(error: ExportApiError): LiveFailure {
  return {
    startHour: error.startHour,
    endHour: error.endHour,
    kind: error.kind,
    ...(error.status === undefined ? {} : { status: error.status }),
    message: error.message,
  };
}

function sortedRecord<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function emptySummary(runId: string | undefined): LivePullSummary {
  return {
    ...(runId === undefined ? {} : { runId }),
    skipped: false,
    dueHours: 0,
    requests: 0,
    hoursPulled: 0,
    hoursWithData: 0,
    filesWritten: 0,
    filesUnchanged: 0,
    filesDeleted: 0,
    bytesDownloaded: 0,
    events: 0,
    failures: [],
    gapHours: 0,
    oldestGapAgeSeconds: 0,
    abandonedHours: [],
    hoursNeedingBackfill: [],
  };
}
