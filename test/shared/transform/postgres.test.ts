import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_COLUMNS } from '#shared/schema/columns.ts';
import { parseTimestamp } from '#shared/transform/timestamp.ts';
import { createTransformer, type StagedRow } from '#shared/transform/transformer.ts';
import { createTestDatabase } from '#test/support/postgres.ts';

/**
 * The transform's text goes into the warehouse through each type's text input function (what
 * COPY uses). These checks run it through a real PostgreSQL and read the values back.
 */
describe('transform output read by PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let client: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase('transform');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const columns = EVENT_COLUMNS.map((column) => `"${column.name}" ${column.postgresType}`).join(', ');
    await client.query(`CREATE TABLE events (${columns})`);
  });

  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  const transform = createTransformer('events');
  const base = {
    uuid: 'u',
    event_type: 'e',
    amplitude_id: 1,
    server_upload_time: '2015-08-10T12:00:00',
  };
  const line = (extra: Record<string, unknown>) => JSON.stringify({ ...base, ...extra });
  const rows: StagedRow[] = [
    line({
      uuid: 'a',
      event_time: '0001-01-01 00:00:00',
      client_event_time: '9999-12-31T23:59:59.999999',
      processed_time: '2016-02-29 23:59:59.5',
      location_lat: 12.3456789,
      location_lng: '-1e-7',
      sample_rate: 1e21,
      session_id: '-9223372036854775808',
      event_id: '9223372036854775807',
      followed_an_identify: 'TRUE',
      event_properties: { 'Café ☕': [1.5, null, { 'x\u0000': '😀' }] },
      city: 'Zürich \u0000',
    }),
    `{"uuid":"b","event_type":"e","amplitude_id":1,"server_upload_time":"2015-08-10 12:00:00","client_event_time":"1969-12-31 23:59:59.999999","client_upload_time":"1970-01-01 00:05:00","server_received_time":"1970-01-01 00:00:00","location_lng":-0.0,"user_properties":{"name":"\\ud83d half"},"$schema":12}`,
  ].map((text) => {
    const result = transform(text);
    if (!result.ok) throw new Error(`test setup: ${result.reason}: ${result.detail}`);
    return result;
  });

  it('stores every value, and reads timestamps, numbers and JSON back as the transform meant them', async () => {
    const placeholders = EVENT_COLUMNS.map((_, i) => `$${i + 1}`).join(', ');
    for (const row of rows) await client.query(`INSERT INTO events VALUES (${placeholders})`, row.values);

    const timestampColumns = EVENT_COLUMNS.filter((column) => column.kind === 'timestamp').map(
      (column) => column.name,
    );
    const epochs = timestampColumns
      .map((name) => `(extract(epoch FROM "${name}") * 1000000)::numeric(30,0)::text AS "${name}"`)
      .join(', ');
    const { rows: stored } = await client.query(
      `SELECT uuid, ${epochs}, location_lat, location_lng, sample_rate, session_id::text, event_id::text,
              followed_an_identify, event_properties::text, user_properties::text, unmapped_keys::text, city
         FROM events ORDER BY uuid`,
    );

    const byName = (row: StagedRow, name: string) =>
      row.values[EVENT_COLUMNS.findIndex((c) => c.name === name)]!;
    rows.forEach((row, i) => {
      for (const name of timestampColumns) {
        const text = byName(row, name);
        const expected = text === null ? null : String(parseTimestamp(text));
        expect(stored[i][name], `${row.key}.${name}`).toBe(expected);
      }
      for (const name of ['location_lat', 'location_lng', 'sample_rate']) {
        const text = byName(row, name);
        expect(Object.is(stored[i][name], text === null ? null : Number(text)), `${row.key}.${name}`).toBe(
          true,
        );
      }
      for (const name of ['event_properties', 'user_properties', 'unmapped_keys']) {
        const text = byName(row, name);
        expect(stored[i][name] === null ? null : JSON.parse(stored[i][name]), `${row.key}.${name}`).toEqual(
          text === null ? null : JSON.parse(text),
        );
      }
    });
    expect(stored[0]).toMatchObject({
      session_id: '-9223372036854775808',
      event_id: '9223372036854775807',
      followed_an_identify: true,
      city: 'Zürich ',
    });
    expect(stored[1].event_time).toBe(String(parseTimestamp('1969-12-31 23:54:59.999999')));
    expect(Object.is(stored[1].location_lng, -0)).toBe(true);
    expect(JSON.parse(stored[1].user_properties)).toEqual({ name: '\ufffd half' });
  });

  it('needs the cleaning: PostgreSQL rejects what the transform removes', async () => {
    await expect(client.query(`SELECT '{"a":"\\u0000"}'::jsonb`)).rejects.toThrow(
      /unsupported Unicode escape/,
    );
    await expect(client.query(`SELECT '{"a":"\\ud83d"}'::jsonb`)).rejects.toThrow(
      /invalid input syntax for type json/,
    );
    await expect(client.query('SELECT $1::text', ['a\u0000b'])).rejects.toThrow(/0x00/);
  });
});
