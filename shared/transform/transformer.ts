/**
 * One Amplitude export line -> the staged row's values, or the reason it is quarantined.
 * Bad input never throws: it comes back as `{ ok: false, reason, detail }`.
 *
 * Order of work: parse; require an object; clean strings and keys only when the raw line has
 * an escape that could hide a NUL or a lone surrogate (see text.ts); convert each column in
 * table order (the first failure wins); gather keys without a column into `unmapped_keys`;
 * derive event_time by the seed rule when it is absent. A line that fails is quarantined whole,
 * so its adjustments are not reported.
 */
import { type Column, columnsOf, type Feed, timeColumnOf } from '../schema/columns.ts';
import { buildConverter, columnLabel, jsonTypeOf, LineState } from './convert.ts';
import type { Adjustments, QuarantineFailure, QuarantineReason } from './outcome.ts';
import { cleanJsonValue, escapeHazards } from './text.ts';
import { formatTimestamp, isTimestampInRange, parseTimestamp, seedEventTime } from './timestamp.ts';

export interface StagedRow {
  readonly ok: true;
  /** Canonical CSV text per column, in the feed's column order; null is SQL NULL. */
  readonly values: (string | null)[];
  /** De-duplication key: `uuid`, or `<amplitude_id>:<merged_amplitude_id>`. */
  readonly key: string;
  /** The table's time column (event_time / merge_event_time), canonical text. */
  readonly time: string;
  /** server_upload_time (events) / merge_server_time (merged IDs); may be null for merged IDs. */
  readonly uploadTime: string | null;
  /** What was changed on the way in; shared empty object when nothing was. Do not mutate. */
  readonly adjustments: Adjustments;
}

export interface RejectedLine extends QuarantineFailure {
  readonly ok: false;
}

export type TransformResult = StagedRow | RejectedLine;

/** `invalidUtf8`: the line's bytes were not valid UTF-8 (see readLines); counted, not rejected. */
export type Transformer = (line: string, invalidUtf8?: boolean) => TransformResult;

const UPLOAD_TIME_COLUMN: Readonly<Record<Feed, string>> = {
  events: 'server_upload_time',
  merge_ids: 'merge_server_time',
};

const NO_ADJUSTMENTS: Adjustments = Object.freeze({});

interface EventTimeRule {
  readonly target: number;
  readonly clientEventTime: number;
  readonly clientUploadTime: number;
  readonly serverReceivedTime: number;
}

function eventTimeRuleOf(columns: readonly Column[]): EventTimeRule | undefined {
  const at = (name: string) => columns.findIndex((column) => column.name === name);
  const rule = {
    target: at('event_time'),
    clientEventTime: at('client_event_time'),
    clientUploadTime: at('client_upload_time'),
    serverReceivedTime: at('server_received_time'),
  };
  return Object.values(rule).every((index) => index >= 0) ? rule : undefined;
}

/** Key names, capped so a pathological line cannot flood the detail. */

function reject(reason: QuarantineReason, detail: string): RejectedLine {
  return { ok: false, reason, detail };
}

export function createTransformer(feed: Feed): Transformer {
  const columns = columnsOf(feed);
  const state = new LineState();
  const converters = columns.map((column) => buildConverter(column, state));
  const sourceKeys = columns.map((column) => column.sourceKey);
  const labels = columns.map(columnLabel);
  const unmappedIndex = sourceKeys.indexOf('*');
  // Keys without a column are never dropped: every table keeps them in its `unmapped_keys`.
  if (unmappedIndex < 0)
    throw new Error(`The ${feed} schema has no column for unmapped keys (sourceKey '*').`);
  const columnOfKey = new Map(sourceKeys.flatMap((key, i) => (key === '*' ? [] : [[key, i] as const])));
  // Scratch for one line's source values by column; lines are transformed one at a time.
  const raws = new Array<unknown>(columns.length);
  const rule = eventTimeRuleOf(columns);
  // A derived event_time is checked after derivation, not when its source key is absent.
  const required = columns.map((column, i) => column.required === true && i !== rule?.target);
  const keyIndexes = columns.flatMap((column, i) => (column.key ? [i] : []));
  const timeIndex = columns.findIndex((column) => column.name === timeColumnOf(feed));
  const uploadIndex = columns.findIndex((column) => column.name === UPLOAD_TIME_COLUMN[feed]);
  if (keyIndexes.length === 0 || timeIndex < 0 || uploadIndex < 0) {
    throw new Error(
      `Schema for ${feed} lacks a key, time or upload-time column; fix shared/schema/columns.ts`,
    );
  }

  const fromState = (): RejectedLine => reject(state.failure!.reason, state.failure!.detail);

  const deriveEventTime = (values: (string | null)[], target: EventTimeRule): RejectedLine | undefined => {
    const inputs = [target.clientEventTime, target.clientUploadTime, target.serverReceivedTime];
    const missing = inputs.filter((i) => values[i] === null).map((i) => labels[i]!);
    if (missing.length > 0) {
      return reject(
        'missing_required',
        `event_time is missing and cannot be derived by the seed rule without ${missing.join(', ')}`,
      );
    }
    const [clientEvent, clientUpload, serverReceived] = inputs.map((i) => parseTimestamp(values[i]!)!);
    const micros = seedEventTime(clientEvent!, clientUpload!, serverReceived!);
    if (!isTimestampInRange(micros)) {
      return reject('out_of_range', 'event_time derived by the seed rule falls outside years 0001-9999');
    }
    values[target.target] = formatTimestamp(micros);
    state.adjust('event_time_derived');
    return undefined;
  };

  return (line, invalidUtf8 = false) => {
    state.reset();
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      // The parser's message quotes the input, so it is never passed on.
      return reject('malformed_json', 'line is not valid JSON; expected one JSON object per line');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return reject('not_an_object', `line is ${jsonTypeOf(parsed)}; expected one JSON object per line`);
    }
    let record = parsed as Record<string, unknown>;
    if (escapeHazards(line) !== 0) {
      try {
        record = cleanJsonValue(record, state) as Record<string, unknown>;
      } catch (error) {
        if (error instanceof RangeError)
          return reject('value_too_large', 'line is nested too deeply to process');
        throw error;
      }
    }
    if (invalidUtf8) state.adjust('invalid_utf8');

    // One pass over the line's own keys (V8 reads `record[key]` inside for-in from its enum
    // cache) is much cheaper than one dynamic lookup per column.
    raws.fill(undefined);
    let unmapped: Record<string, unknown> | undefined;
    for (const key in record) {
      const column = columnOfKey.get(key);
      if (column !== undefined) {
        raws[column] = record[key];
      } else {
        // Null prototype: a `__proto__` key is kept as data.
        unmapped ??= Object.create(null) as Record<string, unknown>;
        unmapped[key] = record[key];
      }
    }

    const count = columns.length;
    const values = new Array<string | null>(count);
    for (let i = 0; i < count; i++) {
      if (i === unmappedIndex) continue;
      const raw = raws[i];
      const value = converters[i]!(raw);
      if (value === undefined) return fromState();
      if (required[i] && (value === null || value === '')) {
        const found = raw === '' ? 'empty' : raw === null ? 'null' : 'missing';
        return reject('missing_required', `${labels[i]} is ${found}; every row needs it`);
      }
      values[i] = value;
    }

    const unmappedValue = converters[unmappedIndex]!(unmapped ?? null);
    if (unmappedValue === undefined) return fromState();
    values[unmappedIndex] = unmappedValue;

    if (rule !== undefined && values[rule.target] === null) {
      const failure = deriveEventTime(values, rule);
      if (failure !== undefined) return failure;
    }

    let key = values[keyIndexes[0]!]!;
    for (let k = 1; k < keyIndexes.length; k++) key += `:${values[keyIndexes[k]!]}`;
    return {
      ok: true,
      values,
      key,
      time: values[timeIndex]!,
      uploadTime: values[uploadIndex] ?? null,
      adjustments: state.adjustments ?? NO_ADJUSTMENTS,
    };
  };
}
