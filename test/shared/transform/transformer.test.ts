import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { columnsOf, EVENT_COLUMNS, type Feed } from '#shared/schema/columns.ts';
import { QUARANTINE_REASONS, type QuarantineReason, quarantineRecord } from '#shared/transform/outcome.ts';
import { createTransformer, type StagedRow, type TransformResult } from '#shared/transform/transformer.ts';

const events = createTransformer('events');
const mergeIds = createTransformer('merge_ids');

/** The smallest event line that becomes a row. */
const minimal = {
  uuid: 'bf0b9b2a-304d-11e6-934f-22000b56058f',
  event_type: 'purchase',
  amplitude_id: 2234540891,
  event_time: '2015-08-10T12:00:00.000000',
  server_upload_time: '2015-08-10T12:00:01.000000',
};

function row(result: TransformResult): StagedRow {
  if (!result.ok) throw new Error(`expected a row, got ${result.reason}: ${result.detail}`);
  return result;
}

function byName(result: TransformResult, feed: Feed = 'events'): Record<string, string | null> {
  const values = row(result).values;
  expect(values).toHaveLength(columnsOf(feed).length);
  return Object.fromEntries(columnsOf(feed).map((column, i) => [column.name, values[i]!]));
}

function event(extra: Record<string, unknown>): string {
  return JSON.stringify({ ...minimal, ...extra });
}

/** For JSON that JSON.stringify cannot write, such as `-0` or `1e999`. */
function eventWithRaw(key: string, rawJson: string): string {
  return `${JSON.stringify(minimal).slice(0, -1)},${JSON.stringify(key)}:${rawJson}}`;
}

function rejected(result: TransformResult, reason: QuarantineReason): string {
  expect(result).toMatchObject({ ok: false, reason });
  return (result as { detail: string }).detail;
}

describe('a realistic Amplitude export event', () => {
  const line = JSON.stringify({
    $insert_id: '5f0adeff-6668-4427-8d02-57d803a2b841',
    $insert_key: '4b8f1a0a8b1c2d3e4f5a6b7c8d9e0f1a#2015-08-10',
    $schema: 12,
    adid: null,
    amplitude_attribution_ids: null,
    amplitude_event_type: null,
    amplitude_id: 2234540891,
    app: 123456,
    city: 'San Francisco',
    client_event_time: '2015-08-10 12:00:00.000000',
    client_upload_time: '2015-08-10 12:00:03.123000',
    country: 'United States',
    data: { first_event: true, group_first_event: {}, group_ids: {}, path: '/2/httpapi' },
    data_type: 'event',
    device_brand: 'Apple',
    device_carrier: 'Verizon',
    device_family: 'Apple iPhone',
    device_id: 'C8F9E604-F01A-4BD9-95C6-8E5357DF265D',
    device_manufacturer: 'Apple',
    device_model: 'iPad Mini',
    device_type: 'Apple iPhone 5s',
    dma: 'San Francisco-Oakland-San Jose, CA',
    event_id: 1,
    event_properties: { 'Button Color': 'red', price: 12.5, tags: ['a', 'b'], 'Café ☕': 'oui' },
    event_time: '2015-08-10 12:00:00.000000',
    event_type: 'Purchase Song',
    global_user_properties: {},
    group_properties: {},
    groups: { company: ['Acme'] },
    idfa: 'AEBE52E7-03EE-455A-B3C4-E57283966239',
    ip_address: '123.11.111.11',
    is_attribution_event: false,
    language: 'English',
    library: 'amplitude-ios/8.17.1',
    location_lat: 12.3456789,
    location_lng: -123.456789,
    os_name: 'ios',
    os_version: '1.0',
    partner_id: null,
    paying: 'true',
    plan: { branch: 'main', source: 'ios', version: '3' },
    platform: 'iOS',
    processed_time: '2015-08-10 12:00:05.456789',
    region: 'California',
    sample_rate: null,
    server_received_time: '2015-08-10 12:00:03.500000',
    server_upload_time: '2015-08-10 12:00:03.600000',
    session_id: 1396381378123,
    source_id: null,
    start_version: '1.0.0',
    user_creation_time: '2015-08-09 08:30:00.000000',
    user_id: 'user-42',
    user_properties: { plan: 'pro', seats: 5 },
    uuid: 'bf0b9b2a-304d-11e6-934f-22000b56058f',
    version_name: '1.0.0',
  });

  it('becomes exactly these column values', () => {
    const result = events(line);
    expect(byName(result)).toEqual({
      uuid: 'bf0b9b2a-304d-11e6-934f-22000b56058f',
      event_type: 'Purchase Song',
      amplitude_id: '2234540891',
      app: '123456',
      event_time: '2015-08-10 12:00:00.000000',
      client_event_time: '2015-08-10 12:00:00.000000',
      client_upload_time: '2015-08-10 12:00:03.123000',
      server_received_time: '2015-08-10 12:00:03.500000',
      server_upload_time: '2015-08-10 12:00:03.600000',
      processed_time: '2015-08-10 12:00:05.456789',
      user_creation_time: '2015-08-09 08:30:00.000000',
      user_id: 'user-42',
      device_id: 'C8F9E604-F01A-4BD9-95C6-8E5357DF265D',
      session_id: '1396381378123',
      event_id: '1',
      insert_id: '5f0adeff-6668-4427-8d02-57d803a2b841',
      amplitude_event_type: null,
      adid: null,
      idfa: 'AEBE52E7-03EE-455A-B3C4-E57283966239',
      city: 'San Francisco',
      country: 'United States',
      region: 'California',
      dma: 'San Francisco-Oakland-San Jose, CA',
      language: 'English',
      ip_address: '123.11.111.11',
      location_lat: '12.3456789',
      location_lng: '-123.456789',
      device_brand: 'Apple',
      device_carrier: 'Verizon',
      device_family: 'Apple iPhone',
      device_manufacturer: 'Apple',
      device_model: 'iPad Mini',
      device_type: 'Apple iPhone 5s',
      os_name: 'ios',
      os_version: '1.0',
      platform: 'iOS',
      library: 'amplitude-ios/8.17.1',
      version_name: '1.0.0',
      start_version: '1.0.0',
      paying: 'true',
      followed_an_identify: null,
      is_attribution_event: 'false',
      sample_rate: null,
      data_type: 'event',
      partner_id: null,
      source_id: null,
      event_properties: '{"Button Color":"red","price":12.5,"tags":["a","b"],"Café ☕":"oui"}',
      user_properties: '{"plan":"pro","seats":5}',
      group_properties: '{}',
      groups: '{"company":["Acme"]}',
      data: '{"first_event":true,"group_first_event":{},"group_ids":{},"path":"/2/httpapi"}',
      global_user_properties: '{}',
      amplitude_attribution_ids: null,
      plan: '{"branch":"main","source":"ios","version":"3"}',
      unmapped_keys: '{"$insert_key":"4b8f1a0a8b1c2d3e4f5a6b7c8d9e0f1a#2015-08-10","$schema":12}',
    });
    expect(result).toMatchObject({
      ok: true,
      key: 'bf0b9b2a-304d-11e6-934f-22000b56058f',
      time: '2015-08-10 12:00:00.000000',
      uploadTime: '2015-08-10 12:00:03.600000',
      adjustments: {},
    });
  });

  it('gives the same row for the T-separated timestamp form', () => {
    const tForm = line.replace(/"(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}\.\d{6})"/g, '"$1T$2"');
    expect(tForm).not.toBe(line);
    expect(row(events(tForm)).values).toEqual(row(events(line)).values);
  });
});

describe('merged Amplitude IDs', () => {
  it('turns epoch-millisecond times into timestamps and keys on both IDs', () => {
    const result = mergeIds(
      JSON.stringify({
        scope: 'project',
        merge_time: 1439208000123,
        merge_server_time: 1439208001000,
        amplitude_id: 2234540891,
        merged_amplitude_id: 1234567890,
      }),
    );
    expect(byName(result, 'merge_ids')).toEqual({
      amplitude_id: '2234540891',
      merged_amplitude_id: '1234567890',
      merge_event_time: '2015-08-10 12:00:00.123000',
      merge_server_time: '2015-08-10 12:00:01.000000',
      scope: 'project',
      unmapped_keys: null,
    });
    expect(result).toMatchObject({
      key: '2234540891:1234567890',
      time: '2015-08-10 12:00:00.123000',
      uploadTime: '2015-08-10 12:00:01.000000',
    });
  });

  it('accepts numeric strings and canonicalises the key', () => {
    const result = mergeIds('{"merge_time":"1439208000000","amplitude_id":"0007","merged_amplitude_id":"8"}');
    expect(byName(result, 'merge_ids')).toMatchObject({ merge_event_time: '2015-08-10 12:00:00.000000' });
    expect(result).toMatchObject({ key: '7:8', uploadTime: null });
  });

  it('keeps keys the table has no column for in unmapped_keys', () => {
    const result = mergeIds('{"merge_time":1,"amplitude_id":1,"merged_amplitude_id":2,"org_id":"o-1"}');
    expect(JSON.parse(byName(result, 'merge_ids').unmapped_keys as string)).toEqual({ org_id: 'o-1' });
    expect(
      byName(mergeIds('{"merge_time":1,"amplitude_id":1,"merged_amplitude_id":2}'), 'merge_ids')
        .unmapped_keys,
    ).toBeNull();
  });

  it('quarantines times beyond year 9999 and missing merge times', () => {
    rejected(mergeIds('{"merge_time":1e20,"amplitude_id":1,"merged_amplitude_id":2}'), 'out_of_range');
    rejected(mergeIds('{"merge_time":"soon","amplitude_id":1,"merged_amplitude_id":2}'), 'invalid_type');
    expect(rejected(mergeIds('{"amplitude_id":1,"merged_amplitude_id":2}'), 'missing_required')).toContain(
      'merge_event_time (source key merge_time) is missing',
    );
  });
});

describe('event_time', () => {
  const times = {
    event_time: null,
    client_event_time: '2015-08-10 12:00:00.000000',
    client_upload_time: '2015-08-10 12:05:00.000000',
  };

  it('is derived by the seed rule when absent: adjusted by a difference of 60 s or more', () => {
    const result = events(event({ ...times, server_received_time: '2015-08-10 12:06:00.000000' }));
    expect(byName(result).event_time).toBe('2015-08-10 12:01:00.000000');
    expect(result).toMatchObject({
      time: '2015-08-10 12:01:00.000000',
      adjustments: { event_time_derived: 1 },
    });
  });

  it('is derived with a negative difference (device clock ahead)', () => {
    const result = events(event({ ...times, server_received_time: '2015-08-10 12:03:30.000000' }));
    expect(byName(result).event_time).toBe('2015-08-10 11:58:30.000000');
  });

  it('equals client_event_time when the difference is under 60 s', () => {
    // `undefined` drops the key from the line: absent and null are treated alike.
    const ahead = events(
      event({ ...times, event_time: undefined, server_received_time: '2015-08-10 12:05:59.999999' }),
    );
    const behind = events(event({ ...times, server_received_time: '2015-08-10 12:04:00.000001' }));
    expect(byName(ahead).event_time).toBe('2015-08-10 12:00:00.000000');
    expect(byName(behind).event_time).toBe('2015-08-10 12:00:00.000000');
  });

  it('is taken as given when present, even when the rule would compute another value', () => {
    const result = events(
      event({ event_time: '2015-08-10 13:00:00', server_received_time: '2015-08-10 14:00:00' }),
    );
    expect(byName(result).event_time).toBe('2015-08-10 13:00:00.000000');
    expect(row(result).adjustments).toEqual({});
  });

  it('quarantines as missing_required when it is absent and an input to the rule is missing', () => {
    const detail = rejected(
      events(event({ event_time: null, client_event_time: '2015-08-10 12:00:00' })),
      'missing_required',
    );
    expect(detail).toContain('client_upload_time, server_received_time');
  });

  it('quarantines a derived value outside years 0001-9999', () => {
    const result = events(
      event({
        event_time: '',
        client_event_time: '9999-12-31 23:00:00',
        client_upload_time: '2015-08-10 12:00:00',
        server_received_time: '2015-08-10 14:00:00',
      }),
    );
    rejected(result, 'out_of_range');
  });
});

describe('null and empty values', () => {
  it('keeps null as null and "" as "" in string columns', () => {
    const values = byName(events(event({ user_id: null, device_id: '', city: undefined })));
    expect(values.user_id).toBeNull();
    expect(values.device_id).toBe('');
    expect(values.city).toBeNull();
  });

  it('keeps null as null and "" as the JSON string "" in json columns', () => {
    const values = byName(
      events(event({ event_properties: null, user_properties: '', groups: 0, data: false })),
    );
    expect(values.event_properties).toBeNull();
    expect(values.user_properties).toBe('""');
    expect(values.groups).toBe('0');
    expect(values.data).toBe('false');
  });

  it.each([
    ['app', 'bigint'],
    ['location_lat', 'double'],
    ['followed_an_identify', 'boolean'],
    ['processed_time', 'timestamp'],
  ])('stores "" in %s (%s) as NULL and counts it; null stays NULL uncounted', (column) => {
    const empty = events(event({ [column]: '' }));
    expect(byName(empty)[column]).toBeNull();
    expect(row(empty).adjustments).toEqual({ empty_as_null: 1 });
    const nulled = events(event({ [column]: null }));
    expect(byName(nulled)[column]).toBeNull();
    expect(row(nulled).adjustments).toEqual({});
  });

  it('stores "" in an epoch_ms column as NULL', () => {
    const result = mergeIds(
      '{"merge_time":1,"merge_server_time":"","amplitude_id":1,"merged_amplitude_id":2}',
    );
    expect(byName(result, 'merge_ids').merge_server_time).toBeNull();
    expect(row(result).adjustments).toEqual({ empty_as_null: 1 });
  });

  it.each(['uuid', 'event_type', 'amplitude_id', 'server_upload_time'])(
    'quarantines an empty or null %s',
    (column) => {
      expect(rejected(events(event({ [column]: '' })), 'missing_required')).toContain(`${column} is empty`);
      expect(rejected(events(event({ [column]: null })), 'missing_required')).toContain(`${column} is null`);
      expect(rejected(events(event({ [column]: undefined })), 'missing_required')).toContain(
        `${column} is missing`,
      );
    },
  );
});

describe('value conversion', () => {
  it('turns numbers and booleans in string columns into text', () => {
    const values = byName(events(event({ user_id: 12345, paying: true, os_version: 17.4 })));
    expect(values).toMatchObject({ user_id: '12345', paying: 'true', os_version: '17.4' });
  });

  it('reads integer strings and keeps the full signed 64-bit range', () => {
    const values = byName(
      events(
        event({ amplitude_id: '9223372036854775807', session_id: '-9223372036854775808', event_id: '-0' }),
      ),
    );
    expect(values).toMatchObject({
      amplitude_id: '9223372036854775807',
      session_id: '-9223372036854775808',
      event_id: '0',
    });
  });

  it('writes doubles as shortest round-trip text, from numbers or decimal strings', () => {
    expect(byName(events(event({ location_lat: '1e3', sample_rate: 0.1 })))).toMatchObject({
      location_lat: '1000',
      sample_rate: '0.1',
    });
    expect(byName(events(eventWithRaw('location_lng', '-0.0'))).location_lng).toBe('-0');
    expect(byName(events(eventWithRaw('location_lng', '1E-7'))).location_lng).toBe('1e-7');
  });

  it('reads booleans from JSON booleans and true/false text in any case', () => {
    const values = byName(events(event({ followed_an_identify: 'TRUE', is_attribution_event: 'False' })));
    expect(values).toMatchObject({ followed_an_identify: 'true', is_attribution_event: 'false' });
  });

  it.each([
    ['amplitude_id', '"9223372036854775808"', 'outside the signed 64-bit range'],
    ['amplitude_id', '"-9223372036854775809"', 'outside the signed 64-bit range'],
    ['session_id', '1152921504606846976', 'cannot be read exactly'],
    ['event_id', '1e999', 'overflows'],
    ['location_lat', '1e999', 'overflows'],
    ['location_lat', '"-1e400"', 'overflows'],
    ['user_id', '-1e999', 'overflows'],
  ])('quarantines %s = %s as out_of_range', (column, rawJson, words) => {
    const detail = rejected(events(eventWithRaw(column, rawJson)), 'out_of_range');
    expect(detail).toContain(column);
    expect(detail).toContain(words);
  });

  it.each([
    [{ amplitude_id: 'abc' }, 'amplitude_id'],
    [{ amplitude_id: '12.5' }, 'amplitude_id'],
    [{ amplitude_id: 12.5 }, 'amplitude_id'],
    [{ amplitude_id: ' 12' }, 'amplitude_id'],
    [{ app: true }, 'app'],
    [{ location_lat: 'north' }, 'location_lat'],
    [{ location_lat: '0x10' }, 'location_lat'],
    [{ location_lat: 'Infinity' }, 'location_lat'],
    [{ location_lat: [1] }, 'location_lat'],
    [{ followed_an_identify: 1 }, 'followed_an_identify'],
    [{ followed_an_identify: 'yes' }, 'followed_an_identify'],
    [{ processed_time: 1439208000 }, 'processed_time'],
    [{ city: { name: 'Paris' } }, 'city'],
    [{ city: ['Paris'] }, 'city'],
    [{ uuid: { id: 1 } }, 'uuid'],
    [{ $insert_id: {} }, 'insert_id (source key $insert_id)'],
  ])('quarantines %o as invalid_type, naming the column', (extra, label) => {
    expect(rejected(events(event(extra)), 'invalid_type')).toMatch(
      new RegExp(`^${label.replace(/[$()]/g, '\\$&')}: expected`),
    );
  });

  it('quarantines impossible dates as invalid_timestamp', () => {
    const detail = rejected(events(event({ client_event_time: '2015-02-30 00:00:00' })), 'invalid_timestamp');
    expect(detail).toContain('client_event_time');
    expect(detail).not.toContain('2015-02-30');
  });
});

describe('text limits and cleaning', () => {
  const limitOf = (name: string) => EVENT_COLUMNS.find((column) => column.name === name)!.byteLimit!;

  it('truncates an over-long string at a character boundary and counts it', () => {
    const limit = limitOf('language');
    const text = `${'a'.repeat(limit - 2)}😀tail`;
    const result = events(event({ language: text }));
    expect(byName(result).language).toBe('a'.repeat(limit - 2));
    expect(row(result).adjustments).toEqual({ truncated: 1 });
  });

  it('keeps a multi-byte character that ends exactly at the limit', () => {
    const limit = limitOf('language');
    const text = `${'a'.repeat(limit - 3)}€`;
    const result = events(event({ language: `${text}x` }));
    expect(byName(result).language).toBe(text);
    expect(Buffer.byteLength(byName(result).language!, 'utf8')).toBe(limit);
  });

  it('quarantines an over-long key column instead of cutting it', () => {
    const detail = rejected(events(event({ uuid: 'u'.repeat(65) })), 'value_too_large');
    expect(detail).toContain('uuid: 65 bytes, over the 64-byte limit');
  });

  it('quarantines a JSON column over its byte limit', () => {
    const detail = rejected(
      events(event({ event_properties: { big: 'x'.repeat(70_000) } })),
      'value_too_large',
    );
    expect(detail).toContain('event_properties');
    expect(detail).not.toContain('xxxx');
  });

  it('quarantines oversized unmapped keys like any JSON column', () => {
    rejected(events(event({ $extra: 'é'.repeat(40_000) })), 'value_too_large');
  });

  it('quarantines JSON nested too deeply to serialise', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(rejected(events(eventWithRaw('event_properties', deep)), 'value_too_large')).toContain(
      'nested too deeply',
    );
  });

  it('removes NULs from strings, JSON values and keys, counting each changed value', () => {
    const line = String.raw`{"uuid":"u-1\u0000","event_type":"a\u0000b","amplitude_id":1,"event_time":"2015-08-10 12:00:00","server_upload_time":"2015-08-10 12:00:00","event_properties":{"k\u0000":"v\u0000"},"$odd\u0000":1}`;
    const result = events(line);
    const values = byName(result);
    expect(values).toMatchObject({
      uuid: 'u-1',
      event_type: 'ab',
      event_properties: '{"k":"v"}',
      unmapped_keys: '{"$odd":1}',
    });
    expect(row(result).key).toBe('u-1');
    expect(row(result).adjustments).toEqual({ nul_removed: 5 });
  });

  it('replaces lone surrogates so the JSON is storable', () => {
    const line = eventWithRaw('city', String.raw`"Lyon \ud83d","user_properties":{"name":"\udc00x"}`);
    const values = byName(events(line));
    expect(values.city).toBe('Lyon \ufffd');
    expect(values.user_properties).toBe('{"name":"\ufffdx"}');
  });

  it('counts a line that was not valid UTF-8', () => {
    expect(row(events(event({ city: 'Z\ufffdrich' }), true)).adjustments).toEqual({ invalid_utf8: 1 });
    expect(row(events(event({ city: 'Zurich' }), false)).adjustments).toEqual({});
  });
});

describe('unmapped keys', () => {
  it('keeps every top-level key that has no column, including awkward names', () => {
    const values = byName(
      events(
        '{"uuid":"u","event_type":"e","amplitude_id":1,"event_time":"2015-08-10 12:00:00","server_upload_time":"2015-08-10 12:00:00","$schema":12,"__proto__":{"x":1},"*":"star","new_field":[1,{"a":null}]}',
      ),
    );
    expect(JSON.parse(values.unmapped_keys!)).toEqual(
      JSON.parse('{"$schema":12,"__proto__":{"x":1},"*":"star","new_field":[1,{"a":null}]}'),
    );
  });

  it('is NULL when every key has a column', () => {
    expect(byName(events(event({}))).unmapped_keys).toBeNull();
  });
});

describe('lines that are not events', () => {
  it.each([
    ['{"uuid": "abc", oops}', 'malformed_json'],
    ['{"uuid": "abc"', 'malformed_json'],
    ['', 'malformed_json'],
    ['[1,2]', 'not_an_object'],
    ['"just text"', 'not_an_object'],
    ['42', 'not_an_object'],
    ['null', 'not_an_object'],
  ] as const)('quarantines %j as %s without quoting it', (line, reason) => {
    const detail = rejected(events(line), reason);
    expect(detail).toContain('expected one JSON object per line');
    if (line.length > 4) expect(detail).not.toContain(line);
  });
});

describe('quarantine reasons', () => {
  it('are exactly the documented list, and the transform can produce each line-level one', () => {
    const produced = new Set<string>(
      [
        events('not json'),
        events('[]'),
        events(event({ uuid: null })),
        events(event({ app: 'x' })),
        events(event({ event_time: '2015-02-30 00:00:00' })),
        events(event({ app: '99999999999999999999' })),
        events(event({ uuid: 'u'.repeat(100) })),
      ].map((result) => (result.ok ? 'ok' : result.reason)),
    );
    expect([...produced, 'unreadable_file'].sort()).toEqual([...QUARANTINE_REASONS].sort());
  });

  it('builds a record with the origin filled in by the caller', () => {
    const line = 'not json';
    const result = events(line);
    if (result.ok) throw new Error('expected a failure');
    expect(
      quarantineRecord(result, { sourceKey: '123_2015-08-10_12#0.json.gz', lineNumber: 7 }, line),
    ).toEqual({
      reason: 'malformed_json',
      detail: 'line is not valid JSON; expected one JSON object per line',
      sourceKey: '123_2015-08-10_12#0.json.gz',
      lineNumber: 7,
      line,
    });
  });
});

describe('details', () => {
  const marker = 'SECRET-7f3a9c';

  it.each(EVENT_COLUMNS.map((column) => [column.name, column] as const))(
    'name %s but never quote its bad value',
    (_, column) => {
      const bad: unknown =
        column.kind === 'string'
          ? column.key
            ? marker.repeat(10)
            : { nested: marker }
          : column.kind === 'json'
            ? { big: marker.repeat(10_000) }
            : marker;
      const line =
        column.sourceKey === '*'
          ? event({ $unknown: marker.repeat(10_000) })
          : event({ [column.sourceKey]: bad });
      const result = events(line);
      expect(result.ok).toBe(false);
      const { detail } = result as { detail: string };
      expect(detail).toContain(column.name);
      expect(detail).not.toContain(marker);
      expect(detail).not.toContain('SECRET');
    },
  );
});

describe('robustness', () => {
  it('never throws, whatever the line (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        (line) => {
          const result = events(line);
          expect(typeof result.ok).toBe('boolean');
          mergeIds(line);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('either stages a row with one text-or-null value per column or names a known reason (property)', () => {
    const anyValue = fc.oneof(
      fc.jsonValue(),
      fc.constantFrom(
        '',
        '2015-08-10 12:00:00',
        '2015-08-10T12:00:00.5',
        '9223372036854775808',
        'TRUE',
        '1e3',
      ),
    );
    const keys = EVENT_COLUMNS.map((column) => column.sourceKey).filter((key) => key !== '*');
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...keys, '$schema', 'extra'), anyValue), (overrides) => {
        const result = events(event(overrides));
        if (result.ok) {
          expect(result.values).toHaveLength(EVENT_COLUMNS.length);
          for (const value of result.values) expect(value === null || typeof value === 'string').toBe(true);
          expect(result.time).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/);
        } else {
          expect(QUARANTINE_REASONS).toContain(result.reason);
          expect(result.detail.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('transformer state', () => {
  it('does not carry adjustments or failures from one line to the next', () => {
    rejected(events(event({ app: 'x' })), 'invalid_type');
    expect(row(events(event({ language: 'x'.repeat(300) }))).adjustments).toEqual({ truncated: 1 });
    expect(row(events(event({}))).adjustments).toEqual({});
  });
});
