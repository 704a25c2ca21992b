/**
 * The export schema: one source of truth for both tables. DDL (`shared/sql`), the CSV
 * encoder (`shared/format`), the transform (`shared/transform`) and the README's column
 * table are all derived from these lists.
 */

import type { Feed } from '../base/export-files.ts';

// A feed is named by the export files (the base layer); every table here is one feed, so the
// schema hands the name on and its importers need only this module.
export { FEEDS, type Feed } from '../base/export-files.ts';

/**
 * How a source value becomes a column value.
 * - `string`: JSON string (numbers and booleans are turned into their text); NULs removed,
 *   cut to `byteLimit` bytes at a UTF-8 character boundary.
 * - `bigint`: JSON integer or integer string, within the signed 64-bit range.
 * - `double`: JSON number or numeric string, finite.
 * - `boolean`: JSON boolean, or the strings "true"/"false" (any case).
 * - `timestamp`: `YYYY-MM-DD[T ]HH:MM:SS[.ffffff]` (UTC), microsecond precision.
 * - `epoch_ms`: epoch milliseconds (number or numeric string), stored as a timestamp.
 * - `json`: any JSON value (object, array, scalar), stored as SUPER / jsonb.
 */
export type ColumnKind = 'string' | 'bigint' | 'double' | 'boolean' | 'timestamp' | 'epoch_ms' | 'json';

export interface Column {
  /** Column name in the warehouse. */
  readonly name: string;
  readonly kind: ColumnKind;
  /** Amazon Redshift type. */
  readonly redshiftType: string;
  /** PostgreSQL type (local runner and tests). */
  readonly postgresType: string;
  /** Largest value in bytes once encoded as UTF-8 (Redshift counts VARCHAR length in bytes). */
  readonly byteLimit?: number;
  /** Top-level key in the source line that fills this column. */
  readonly sourceKey: string;
  /** A line without a usable value here is quarantined (`missing_required`). */
  readonly required?: boolean;
  /** Part of the de-duplication key: never truncated; an oversized value is quarantined. */
  readonly key?: boolean;
  /** One line for the README. */
  readonly description: string;
}

/** Redshift's VARCHAR limit, in bytes. */
export const REDSHIFT_MAX_VARCHAR_BYTES = 65_535;
/**
 * Limit we apply to one serialized JSON value (SUPER column). Redshift accepts SUPER values
 * up to 16 MB from CSV ("SUPER type"), but "the maximum size of a single input row from any
 * source is 4 MB" ("COPY"), an event row has ten JSON columns whose quotes double in CSV, and
 * a string inside a SUPER value is limited to 65,535 bytes by default ("Limitations", SUPER).
 * 65,535 keeps the largest possible row near 1.4 MB (checked in test/shared/format/csv.test.ts).
 */
export const JSON_BYTE_LIMIT = 65_535;

const text = (name: string, byteLimit: number, description: string, extra: Partial<Column> = {}): Column => ({
  name,
  kind: 'string',
  redshiftType: `VARCHAR(${byteLimit})`,
  postgresType: 'text',
  byteLimit,
  sourceKey: name,
  description,
  ...extra,
});
const bigint = (name: string, description: string, extra: Partial<Column> = {}): Column => ({
  name,
  kind: 'bigint',
  redshiftType: 'BIGINT',
  postgresType: 'bigint',
  sourceKey: name,
  description,
  ...extra,
});
const double = (name: string, description: string): Column => ({
  name,
  kind: 'double',
  redshiftType: 'DOUBLE PRECISION',
  postgresType: 'double precision',
  sourceKey: name,
  description,
});
const bool = (name: string, description: string): Column => ({
  name,
  kind: 'boolean',
  redshiftType: 'BOOLEAN',
  postgresType: 'boolean',
  sourceKey: name,
  description,
});
const timestamp = (name: string, description: string, extra: Partial<Column> = {}): Column => ({
  name,
  kind: 'timestamp',
  redshiftType: 'TIMESTAMP',
  postgresType: 'timestamp(6) without time zone',
  sourceKey: name,
  description,
  ...extra,
});
const json = (name: string, description: string, extra: Partial<Column> = {}): Column => ({
  name,
  kind: 'json',
  redshiftType: 'SUPER',
  postgresType: 'jsonb',
  byteLimit: JSON_BYTE_LIMIT,
  sourceKey: name,
  description,
  ...extra,
});

const SHORT = 256;
const MEDIUM = 1024;
const LONG = 4096;

/** Columns of `<schema>.events_<projectId>`, in table order. */
export const EVENT_COLUMNS: readonly Column[] = [
  text('uuid', 64, 'Unique identifier of the event; the de-duplication key.', { required: true, key: true }),
  text('event_type', MEDIUM, 'Event name.', { required: true }),
  bigint('amplitude_id', 'Original Amplitude ID of the user.', { required: true }),
  bigint('app', 'Amplitude project ID.'),
  timestamp('event_time', 'client_event_time adjusted by the server/client clock difference (seed rule).', {
    required: true,
  }),
  timestamp('client_event_time', 'When the device logged the event (UTC).'),
  timestamp('client_upload_time', 'When the device uploaded the event (UTC).'),
  timestamp('server_received_time', 'When Amplitude received the event (UTC).'),
  timestamp('server_upload_time', 'When Amplitude stored the event (UTC).', { required: true }),
  timestamp('processed_time', 'When Amplitude processed the event (UTC).'),
  timestamp('user_creation_time', "Event time of the user's first event (UTC)."),
  text('user_id', LONG, 'Your readable user ID.'),
  text('device_id', MEDIUM, 'Device identifier.'),
  bigint('session_id', 'Session start, epoch milliseconds (-1: no session).'),
  bigint('event_id', 'Counter that distinguishes events.'),
  text('insert_id', MEDIUM, 'Idempotency key sent by the client (source key `$insert_id`).', {
    sourceKey: '$insert_id',
  }),
  text('amplitude_event_type', MEDIUM, 'Legacy Amplitude-generated event type.'),
  text('adid', SHORT, '(Android) Google Play Services advertising ID.'),
  text('idfa', SHORT, '(iOS) Identifier for Advertiser.'),
  text('city', MEDIUM, 'City.'),
  text('country', MEDIUM, 'Country.'),
  text('region', MEDIUM, 'Region.'),
  text('dma', MEDIUM, 'Designated marketing area.'),
  text('language', SHORT, 'Language.'),
  text('ip_address', SHORT, 'IP address.'),
  double('location_lat', 'Latitude.'),
  double('location_lng', 'Longitude.'),
  text('device_brand', MEDIUM, 'Device brand.'),
  text('device_carrier', MEDIUM, 'Device carrier.'),
  text('device_family', MEDIUM, 'Device family.'),
  text('device_manufacturer', MEDIUM, 'Device manufacturer.'),
  text('device_model', MEDIUM, 'Device model.'),
  text('device_type', MEDIUM, 'Device type.'),
  text('os_name', MEDIUM, 'OS name.'),
  text('os_version', MEDIUM, 'OS version.'),
  text('platform', MEDIUM, 'Platform.'),
  text('library', MEDIUM, 'SDK library that sent the event.'),
  text('version_name', MEDIUM, 'App version.'),
  text('start_version', MEDIUM, 'App version the user was first tracked on.'),
  text('paying', SHORT, 'True if the user has ever logged revenue.'),
  bool('followed_an_identify', 'An identify came between this SDK event and the previous one.'),
  bool('is_attribution_event', 'The event is an attribution event.'),
  double('sample_rate', 'Sample rate (seed type BIGNUMERIC).'),
  text('data_type', SHORT, 'Kind of record (`event`, `identify`, ...).'),
  text('partner_id', MEDIUM, 'Partner that sent the event.'),
  text('source_id', MEDIUM, 'Source that sent the event.'),
  json('event_properties', 'Event properties.'),
  json('user_properties', 'User properties.'),
  json('group_properties', 'Group properties.'),
  json('groups', 'Group types and values.'),
  json('data', 'Dictionary with fields such as first_event and merged_amplitude_id.'),
  json('global_user_properties', 'Global user properties.'),
  json('amplitude_attribution_ids', 'Attribution IDs.'),
  json('plan', 'Tracking plan branch, source and version.'),
  json('unmapped_keys', 'Every top-level source key that has no column of its own (e.g. `$schema`).', {
    sourceKey: '*',
  }),
];

/** Columns of `<schema>.merge_ids_<projectId>`, in table order. */
export const MERGE_ID_COLUMNS: readonly Column[] = [
  bigint('amplitude_id', 'The Amplitude ID being merged into the original one.', {
    required: true,
    key: true,
  }),
  bigint('merged_amplitude_id', 'The Amplitude ID originally assigned to the user.', {
    required: true,
    key: true,
  }),
  {
    ...timestamp(
      'merge_event_time',
      'Time of the event that merged the two IDs (source `merge_time`, epoch ms).',
      {
        required: true,
      },
    ),
    kind: 'epoch_ms',
    sourceKey: 'merge_time',
  },
  {
    ...timestamp('merge_server_time', 'Server time of that event (source `merge_server_time`, epoch ms).'),
    kind: 'epoch_ms',
  },
  text('scope', MEDIUM, 'Scope of the merge (source `scope`).'),
  json('unmapped_keys', 'Every top-level source key that has no column of its own.', { sourceKey: '*' }),
];

export function columnsOf(feed: Feed): readonly Column[] {
  return feed === 'events' ? EVENT_COLUMNS : MERGE_ID_COLUMNS;
}

/** Columns that make a row unique: `uuid`, or (`amplitude_id`, `merged_amplitude_id`). */
export function keyColumnsOf(feed: Feed): readonly Column[] {
  return columnsOf(feed).filter((column) => column.key);
}

/** Column whose range prunes the de-duplication join against the target table. */
export function timeColumnOf(feed: Feed): string {
  return feed === 'events' ? 'event_time' : 'merge_event_time';
}

/**
 * Staged CSV rows carry one column more than the table: the batch they belong to, so one
 * COPY of several batches can still write one ledger row per batch.
 */
export const BATCH_ID_COLUMN = '_batch_id';

/** `events_<projectId>` or `merge_ids_<projectId>`. */
export function tableName(feed: Feed, projectId: string): string {
  if (!/^[0-9]{1,20}$/.test(projectId)) {
    throw new Error(`projectId must be the numeric Amplitude project ID, got ${JSON.stringify(projectId)}`);
  }
  return `${feed}_${projectId}`;
}
