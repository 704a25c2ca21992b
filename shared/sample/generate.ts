import { createWriteStream } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createGzip, gzipSync } from 'node:zlib';
import { completeMarkerName, eventFileName, mergeIdFileName } from '../base/export-files.ts';
import type { Feed } from '../schema/columns.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { EventFactory } from './events.ts';
import { mergeIdLine, mergePairKey } from './merge-ids.ts';
import { Random } from './random.ts';

/** Where sample files go: an object store, or a folder (keys become relative paths). */
export type SampleTarget = ObjectStore | string;

export interface SampleOptions {
  /** @default '187520' */
  readonly projectId?: string;
  /** @default '36958' */
  readonly orgId?: string;
  /** First UTC day, `yyyy-MM-dd`. @default '2024-05-01' */
  readonly start?: string;
  /** @default 1 */
  readonly days?: number;
  /** Events in each hour's first part (`#0`). @default 200 */
  readonly eventsPerHour?: number;
  /** @default eventsPerHour / 25, at least 1 */
  readonly mergeRowsPerHour?: number;
  /** @default 1 */
  readonly seed?: number;
  /** Key prefix (the pipeline's landing prefix). @default '' */
  readonly prefix?: string;
  /** Share of event lines that repeat an event of an earlier file. @default 0.02 */
  readonly duplicateRate?: number;
  /** Share of events without a usable `event_time` (the loader derives it). @default 0.03 */
  readonly missingEventTimeRate?: number;
  /** Share of hours that get a second part `#1` which lands late. @default 0.2 */
  readonly lateRate?: number;
  /** Write a `complete` marker after each hour's on-time part. @default true */
  readonly completeMarkers?: boolean;
  /**
   * Which files to write. The content does not depend on it, so writing `on-time` and later
   * `late` gives exactly the files of `all`: that is how tests make files land late.
   * @default 'all'
   */
  readonly parts?: 'all' | 'on-time' | 'late';
}

export interface SampleFile {
  readonly key: string;
  readonly feed: Feed;
  readonly day: string;
  readonly hour: number;
  readonly part: number;
  readonly late: boolean;
  readonly lines: number;
  /** Compressed size. */
  readonly bytes: number;
}

/** What was written, so tests can assert exact figures. */
export interface SampleManifest {
  readonly projectId: string;
  readonly orgId: string;
  readonly seed: number;
  readonly start: string;
  readonly days: number;
  readonly files: readonly SampleFile[];
  readonly markers: readonly string[];
  /** Event lines written. */
  readonly events: number;
  /** Distinct `uuid`s among them. */
  readonly uniqueEvents: number;
  /** `events - uniqueEvents`: lines that repeat a uuid. */
  readonly duplicateEvents: number;
  readonly eventsWithoutEventTime: number;
  readonly mergeRows: number;
  /** Distinct (amplitude_id, merged_amplitude_id). */
  readonly uniqueMergePairs: number;
  readonly duplicateMergeRows: number;
  /** Compressed bytes of all data files. */
  readonly bytes: number;
  /** Uncompressed bytes of all data files. */
  readonly rawBytes: number;
}

interface Line {
  readonly text: string;
  readonly id: string;
  readonly noEventTime: boolean;
}

/** Remembers some lines of finished files so later files can repeat them. */
class Reservoir {
  private readonly kept: Line[] = [];
  private pending: Line[] = [];

  constructor(
    private readonly random: Random,
    private readonly capacity = 512,
  ) {}

  offer(line: Line): void {
    if (this.random.chance(0.05)) this.pending.push(line);
  }

  /** Lines offered so far become repeatable: only lines of earlier files are repeated. */
  seal(): void {
    for (const line of this.pending) {
      if (this.kept.length < this.capacity) this.kept.push(line);
      else this.kept[this.random.int(0, this.capacity - 1)] = line;
    }
    this.pending = [];
  }

  draw(): Line | undefined {
    return this.kept.length === 0 ? undefined : this.random.pick(this.kept);
  }
}

const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

function assertDay(start: string, startMs: number): void {
  const valid =
    DAY_PATTERN.test(start) &&
    Number.isFinite(startMs) &&
    new Date(startMs).toISOString().slice(0, 10) === start;
  if (!valid)
    throw new RangeError(`start must be a calendar day as yyyy-MM-dd, got ${JSON.stringify(start)}.`);
}

/** Writes a deterministic set of Amplitude S3-export files and reports what it wrote. */
export async function generateSample(
  target: SampleTarget,
  options: SampleOptions = {},
): Promise<SampleManifest> {
  const projectId = options.projectId ?? '187520';
  const orgId = options.orgId ?? '36958';
  const start = options.start ?? '2024-05-01';
  const days = options.days ?? 1;
  const eventsPerHour = options.eventsPerHour ?? 200;
  const mergeRowsPerHour = options.mergeRowsPerHour ?? Math.max(1, Math.round(eventsPerHour / 25));
  const seed = options.seed ?? 1;
  const prefix = options.prefix ?? '';
  const duplicateRate = options.duplicateRate ?? 0.02;
  const missingEventTimeRate = options.missingEventTimeRate ?? 0.03;
  const lateRate = options.lateRate ?? 0.2;
  const parts = options.parts ?? 'all';
  const startMs = Date.parse(`${start}T00:00:00Z`);
  assertDay(start, startMs);

  const random = new Random(seed);
  const events = new EventFactory(random.fork(1), Number(projectId), startMs);
  const eventDraws = random.fork(2);
  const mergeDraws = random.fork(3);
  const eventReservoir = new Reservoir(random.fork(4));
  const mergeReservoir = new Reservoir(random.fork(5));
  const write = writerFor(target);

  const files: SampleFile[] = [];
  const markers: string[] = [];
  const uuids = new Set<string>();
  const pairs = new Set<string>();
  let eventLines = 0;
  let withoutEventTime = 0;
  let mergeRows = 0;
  let rawBytes = 0;

  const emit = async (
    name: string,
    feed: Feed,
    day: string,
    hour: number,
    part: number,
    late: boolean,
    lines: Line[],
  ) => {
    if (parts === 'on-time' ? late : parts === 'late' ? !late : false) return;
    const raw = Buffer.from(`${lines.map((line) => line.text).join('\n')}\n`);
    const body = gzipSync(raw);
    await write(`${prefix}${name}`, body);
    files.push({
      key: `${prefix}${name}`,
      feed,
      day,
      hour,
      part,
      late,
      lines: lines.length,
      bytes: body.length,
    });
    rawBytes += raw.length;
    for (const line of lines) {
      if (feed === 'events') {
        eventLines++;
        uuids.add(line.id);
        if (line.noEventTime) withoutEventTime++;
      } else {
        mergeRows++;
        pairs.add(line.id);
      }
    }
  };

  const eventLinesFor = (hourStartMs: number, count: number, remember: boolean): Line[] =>
    Array.from({ length: count }, () => {
      const repeat = eventDraws.chance(duplicateRate) ? eventReservoir.draw() : undefined;
      if (repeat) return repeat;
      const noEventTime = eventDraws.chance(missingEventTimeRate);
      const event = events.event(hourStartMs, noEventTime);
      const line = { text: JSON.stringify(event), id: String(event.uuid), noEventTime };
      if (remember) eventReservoir.offer(line);
      return line;
    });

  for (let d = 0; d < days; d++) {
    const day = new Date(startMs + d * 86_400_000).toISOString().slice(0, 10);
    for (let hour = 0; hour < 24; hour++) {
      const hourStartMs = startMs + d * 86_400_000 + hour * 3_600_000;
      await emit(
        eventFileName(projectId, day, hour, 0),
        'events',
        day,
        hour,
        0,
        false,
        eventLinesFor(hourStartMs, eventsPerHour, true),
      );
      if (eventDraws.chance(lateRate)) {
        const lateLines = eventLinesFor(hourStartMs, Math.max(1, Math.ceil(eventsPerHour / 5)), false);
        await emit(eventFileName(projectId, day, hour, 1), 'events', day, hour, 1, true, lateLines);
      }
      eventReservoir.seal();

      const mergeLines = Array.from({ length: mergeRowsPerHour }, () => {
        const repeat = mergeDraws.chance(0.05) ? mergeReservoir.draw() : undefined;
        if (repeat) return repeat;
        const row = mergeIdLine(mergeDraws, Number(projectId), hourStartMs);
        const line = { text: JSON.stringify(row), id: mergePairKey(row), noEventTime: false };
        mergeReservoir.offer(line);
        return line;
      });
      await emit(mergeIdFileName(orgId, day, hour), 'merge_ids', day, hour, 0, false, mergeLines);
      mergeReservoir.seal();

      if ((options.completeMarkers ?? true) && parts !== 'late') {
        const marker = `${prefix}${completeMarkerName(projectId, day, hour)}`;
        await write(marker, Buffer.alloc(0));
        markers.push(marker);
      }
    }
  }

  return {
    projectId,
    orgId,
    seed,
    start,
    days,
    files,
    markers,
    events: eventLines,
    uniqueEvents: uuids.size,
    duplicateEvents: eventLines - uuids.size,
    eventsWithoutEventTime: withoutEventTime,
    mergeRows,
    uniqueMergePairs: pairs.size,
    duplicateMergeRows: mergeRows - pairs.size,
    bytes: files.reduce((sum, file) => sum + file.bytes, 0),
    rawBytes,
  };
}

export interface EventStreamOptions {
  readonly events: number;
  /** @default 20000 */
  readonly eventsPerFile?: number;
  /** @default '187520' */
  readonly projectId?: string;
  /** @default '2024-05-01' */
  readonly start?: string;
  /** @default 1 */
  readonly seed?: number;
  /** @default '' */
  readonly prefix?: string;
  /** @default 0.02 */
  readonly duplicateRate?: number;
  /** @default zlib's default (6) */
  readonly gzipLevel?: number;
}

export interface EventStreamManifest {
  readonly keys: readonly string[];
  readonly events: number;
  readonly uniqueEvents: number;
  readonly duplicateEvents: number;
  readonly bytes: number;
  readonly rawBytes: number;
}

/**
 * Many events in hourly event files, streamed through gzip so memory stays flat however many
 * are asked for (benchmarks). One file per hour, parts `#0` only.
 */
export async function writeEventStream(
  target: SampleTarget,
  options: EventStreamOptions,
): Promise<EventStreamManifest> {
  const projectId = options.projectId ?? '187520';
  const start = options.start ?? '2024-05-01';
  const perFile = options.eventsPerFile ?? 20_000;
  const duplicateRate = options.duplicateRate ?? 0.02;
  const startMs = Date.parse(`${start}T00:00:00Z`);
  assertDay(start, startMs);
  const random = new Random(options.seed ?? 1);
  const factory = new EventFactory(random.fork(1), Number(projectId), startMs);
  const draws = random.fork(2);
  const reservoir = new Reservoir(random.fork(4));
  const keys: string[] = [];
  let written = 0;
  let duplicates = 0;
  let bytes = 0;
  let rawBytes = 0;

  for (let file = 0; written < options.events; file++) {
    const hourStartMs = startMs + file * 3_600_000;
    const day = new Date(hourStartMs).toISOString().slice(0, 10);
    const key = `${options.prefix ?? ''}${eventFileName(projectId, day, new Date(hourStartMs).getUTCHours(), 0)}`;
    const count = Math.min(perFile, options.events - written);
    function* chunks(): Generator<string> {
      let chunk = '';
      for (let i = 0; i < count; i++) {
        const repeat = draws.chance(duplicateRate) ? reservoir.draw() : undefined;
        let text: string;
        if (repeat) {
          duplicates++;
          text = repeat.text;
        } else {
          text = JSON.stringify(factory.event(hourStartMs, draws.chance(0.03)));
          reservoir.offer({ text, id: '', noEventTime: false });
        }
        chunk += `${text}\n`;
        if (chunk.length >= 256 * 1024) {
          rawBytes += Buffer.byteLength(chunk);
          yield chunk;
          chunk = '';
        }
      }
      if (chunk) {
        rawBytes += Buffer.byteLength(chunk);
        yield chunk;
      }
    }
    const gzip = createGzip({ level: options.gzipLevel ?? constants.Z_DEFAULT_COMPRESSION });
    if (typeof target === 'string') {
      const path = join(target, key);
      await mkdir(dirname(path), { recursive: true });
      await pipeline(Readable.from(chunks()), gzip, createWriteStream(path));
      bytes += (await stat(path)).size;
    } else {
      const body = Readable.from(chunks()).pipe(gzip);
      await target.put(key, body, { contentType: 'application/gzip' });
      bytes += (await target.head(key))?.size ?? 0;
    }
    reservoir.seal();
    keys.push(key);
    written += count;
  }
  return {
    keys,
    events: written,
    uniqueEvents: written - duplicates,
    duplicateEvents: duplicates,
    bytes,
    rawBytes,
  };
}

function writerFor(target: SampleTarget): (key: string, body: Buffer) => Promise<void> {
  if (typeof target !== 'string') {
    return async (key, body) => {
      await target.put(key, body, { contentType: key.endsWith('.gz') ? 'application/gzip' : 'text/plain' });
    };
  }
  return async (key, body) => {
    const path = join(target, key);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, body);
  };
}
