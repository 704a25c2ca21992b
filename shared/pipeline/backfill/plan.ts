import {
  BackfillInputError,
  compactHour,
  formatHour,
  type HourRange,
  hoursIn,
  parseHourSpec,
  splitRange,
} from '../../base/hours.ts';
import { chunksKey, runIdOf } from '../../base/staging-keys.ts';
import type { PipelineSettings } from '../../config/pipeline.ts';
import { FEEDS, type Feed } from '../../schema/columns.ts';
import { type BackfillSource, parseBackfillSource } from '../../sources/amplitude-export-api/backfill.ts';
import type { ObjectStore } from '../../storage/object-store.ts';

/** Longest range one execution takes. Longer ranges are split into several executions. */
export const MAX_BACKFILL_DAYS = 366;
export const DEFAULT_CHUNK_HOURS = 24;
/** A chunk is transformed by one Lambda run (15 minutes at most), so it stays within a week. */
export const MAX_CHUNK_HOURS = 168;

/** The hours of a backfill's `start` and `end`, both included, at most `MAX_BACKFILL_DAYS` long. */
export function parseHourRange(start: unknown, end: unknown): HourRange {
  const range = { first: parseHourSpec(start, 'start', 'start'), last: parseHourSpec(end, 'end', 'end') };
  if (range.last < range.first) {
    throw new BackfillInputError(
      `end ${formatHour(range.last)} is before start ${formatHour(range.first)}: the end is the last hour loaded (included), so it must be at or after the start.`,
    );
  }
  const hours = hoursIn(range);
  if (hours > MAX_BACKFILL_DAYS * 24) {
    throw new BackfillInputError(
      `The range ${formatHour(range.first)} .. ${formatHour(range.last)} covers ${Math.ceil(hours / 24)} days; one backfill covers at most ${MAX_BACKFILL_DAYS} days. Start one execution per part of the range (ranges may overlap: hours already loaded add nothing).`,
    );
  }
  return range;
}

/** The execution input, as a person types it in the console or the CLI builds it. */
export interface BackfillRequest {
  /** First hour or day, included. */
  readonly start: string;
  /** Last hour or day, included. */
  readonly end: string;
  /** @default - every feed of the deployment */
  readonly feeds?: readonly Feed[] | string;
  /** @default 24 */
  readonly chunkHours?: number;
  /** `"export-api"`: each events chunk first pulls its hours from Amplitude's Export API. @default 'landing' */
  readonly source?: BackfillSource;
}

/**
 * One item of the Distributed Map: one feed over consecutive hours. Everything a chunk's
 * steps need is in the item itself, so the map needs no ItemSelector.
 */
export interface BackfillChunk {
  readonly runId: string;
  /** `events-2026010100-2026010123`: the same feed and hours give the same id in every run. */
  readonly chunkId: string;
  readonly feed: Feed;
  /** First hour, `YYYY-MM-DDTHH`, included. */
  readonly startHour: string;
  /** Last hour, included. */
  readonly endHour: string;
  /** Present (`"export-api"`) only when the chunk's hours are pulled from the Export API first. */
  readonly source?: BackfillSource;
}

/** What the plan step returns: small, whatever the number of chunks (the list is in S3). */
export interface BackfillPlan {
  readonly runId: string;
  readonly start: string;
  readonly end: string;
  readonly feeds: readonly Feed[];
  readonly chunkHours: number;
  readonly chunkCount: number;
  /** Staging key of the chunk list (a JSON array of `BackfillChunk`). */
  readonly chunksKey: string;
}

/** Payload of the plan Lambda: the execution input and the execution's name. */
export interface PlanEvent {
  readonly request: unknown;
  readonly executionName: string;
}

export interface PlanDeps {
  /** The staging store. */
  readonly store: ObjectStore;
  readonly settings: Pick<PipelineSettings, 'feeds'>;
}

const FIELDS = ['start', 'end', 'feeds', 'chunkHours', 'source'] as const;

export interface ParsedRequest {
  readonly range: HourRange;
  readonly feeds: readonly Feed[];
  readonly chunkHours: number;
  /** Present only for `"export-api"`; absent means landing. */
  readonly source?: BackfillSource;
}

/** Checks the execution input; every problem is a `BackfillInputError` that says what to change. */
export function parseBackfillRequest(request: unknown, deployedFeeds: readonly Feed[]): ParsedRequest {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    throw new BackfillInputError(
      `The input must be a JSON object such as {"start": "2026-01-01", "end": "2026-01-31"}, got ${describe(request)}.`,
    );
  }
  const input = request as Record<string, unknown>;
  const unknown = Object.keys(input).filter((key) => !(FIELDS as readonly string[]).includes(key));
  if (unknown.length > 0) {
    throw new BackfillInputError(
      `Unknown input field${unknown.length > 1 ? 's' : ''} ${unknown.map((key) => JSON.stringify(key)).join(', ')}: the input takes ${FIELDS.join(', ')}.`,
    );
  }
  const range = parseHourRange(input.start, input.end);
  const source = parseBackfillSource(input.source);
  return {
    range,
    feeds: parseFeeds(input.feeds, deployedFeeds),
    chunkHours: parseChunkHours(input.chunkHours),
    ...(source === 'landing' ? {} : { source }),
  };
}

function parseFeeds(value: unknown, deployedFeeds: readonly Feed[]): readonly Feed[] {
  if (value === undefined || value === null) return deployedFeeds;
  const names =
    typeof value === 'string'
      ? value.split(',').map((name) => name.trim())
      : Array.isArray(value) && value.every((name) => typeof name === 'string')
        ? (value as string[])
        : undefined;
  if (names === undefined || names.length === 0 || names.some((name) => name === '')) {
    throw new BackfillInputError(
      `feeds must be a list of feed names such as ["events"] or "events,merge_ids", got ${describe(value)}.`,
    );
  }
  for (const name of names) {
    if (!(FEEDS as readonly string[]).includes(name)) {
      throw new BackfillInputError(
        `Unknown feed ${JSON.stringify(name)}: feeds are ${FEEDS.map((feed) => JSON.stringify(feed)).join(' and ')}.`,
      );
    }
    if (!(deployedFeeds as readonly string[]).includes(name)) {
      throw new BackfillInputError(
        `Feed ${JSON.stringify(name)} is not exported by this deployment (its feeds: ${deployedFeeds.join(', ')}). Remove it from feeds, or add it to the deployment's feeds and deploy first.`,
      );
    }
  }
  // Deployment order, duplicates dropped.
  return deployedFeeds.filter((feed) => names.includes(feed));
}

function parseChunkHours(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_CHUNK_HOURS;
  const number = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 1 || number > MAX_CHUNK_HOURS) {
    throw new BackfillInputError(
      `chunkHours must be a whole number of hours from 1 to ${MAX_CHUNK_HOURS}, got ${describe(value)}.`,
    );
  }
  return number;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

/** The chunks of a request: per chunk window, one chunk per feed, oldest hours first. */
export function chunksOf(runId: string, request: ParsedRequest): BackfillChunk[] {
  return splitRange(request.range, request.chunkHours).flatMap((window) =>
    request.feeds.map((feed) => ({
      runId,
      chunkId: `${feed}-${compactHour(window.first)}-${compactHour(window.last)}`,
      feed,
      startHour: formatHour(window.first),
      endHour: formatHour(window.last),
      ...(request.source === undefined ? {} : { source: request.source }),
    })),
  );
}

/**
 * Validates the input and writes the chunk list to the staging store. Writing the same list
 * again (a retried invocation) changes nothing.
 */
export async function planBackfill(deps: PlanDeps, event: PlanEvent): Promise<BackfillPlan> {
  if (typeof event?.executionName !== 'string' || event.executionName === '') {
    throw new Error(
      'The plan step needs the execution name (executionName) in its payload; check the state machine definition.',
    );
  }
  const request = parseBackfillRequest(event.request, deps.settings.feeds);
  const runId = runIdOf(event.executionName);
  const chunks = chunksOf(runId, request);
  const key = chunksKey(runId);
  await deps.store.put(key, JSON.stringify(chunks), { contentType: 'application/json' });
  return {
    runId,
    start: formatHour(request.range.first),
    end: formatHour(request.range.last),
    feeds: request.feeds,
    chunkHours: request.chunkHours,
    chunkCount: chunks.length,
    chunksKey: key,
  };
}
