import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalTimestamp,
  epochMillisToMicros,
  formatTimestamp,
  isTimestampInRange,
  MAX_TIMESTAMP_MICROS,
  MIN_TIMESTAMP_MICROS,
  parseTimestamp,
  seedEventTime,
} from '#shared/transform/timestamp.ts';

const at = (text: string): bigint => {
  const micros = parseTimestamp(text);
  if (micros === undefined) throw new Error(`test setup: ${text} should parse`);
  return micros;
};

describe('canonicalTimestamp', () => {
  it.each([
    ['2015-08-10T12:00:00.000000', '2015-08-10 12:00:00.000000'],
    ['2015-08-10 12:00:00.000000', '2015-08-10 12:00:00.000000'],
    ['2015-08-10T12:00:00', '2015-08-10 12:00:00.000000'],
    ['2015-08-10 12:00:00.', '2015-08-10 12:00:00.000000'],
    ['2015-08-10 12:00:00.5', '2015-08-10 12:00:00.500000'],
    ['2015-08-10T23:59:59.123', '2015-08-10 23:59:59.123000'],
    ['2016-02-29 00:00:00.000001', '2016-02-29 00:00:00.000001'],
    ['2000-02-29 00:00:00', '2000-02-29 00:00:00.000000'],
    ['0001-01-01 00:00:00', '0001-01-01 00:00:00.000000'],
    ['9999-12-31T23:59:59.999999', '9999-12-31 23:59:59.999999'],
  ])('reads %s as %s', (input, expected) => {
    expect(canonicalTimestamp(input)).toBe(expected);
  });

  it.each([
    ['2015-02-30 00:00:00', 'February 30th'],
    ['2015-02-29 00:00:00', 'February 29th of a common year'],
    ['1900-02-29 00:00:00', 'February 29th of a century that is not a leap year'],
    ['2015-04-31 00:00:00', 'April 31st'],
    ['2015-13-01 00:00:00', 'month 13'],
    ['2015-00-10 00:00:00', 'month 0'],
    ['2015-08-00 00:00:00', 'day 0'],
    ['2015-08-10 24:00:00', 'hour 24'],
    ['2015-08-10 12:60:00', 'minute 60'],
    ['2015-08-10 12:00:60', 'leap second'],
    ['0000-01-01 00:00:00', 'year 0'],
    ['2015-08-10 12:00:00.1234567', 'seven fraction digits'],
    ['2015-08-10 12:00:00Z', 'a zone suffix'],
    ['2015-08-10 12:00:00+00:00', 'an offset'],
    ['2015-08-10t12:00:00', 'lowercase t'],
    ['2015-08-10  12:00:00', 'two spaces'],
    ['2015-8-10 12:00:00', 'a one-digit month'],
    ['2015/08/10 12:00:00', 'slashes'],
    ['2015-08-10 12:00', 'no seconds'],
    ['2015-08-10', 'a date only'],
    ['1439208000000', 'epoch milliseconds'],
    ['2015-08-10 12:00:0a', 'a letter'],
    ['２015-08-10 12:00:00', 'a full-width digit'],
    ['', 'empty text'],
  ])('rejects %s (%s)', (input) => {
    expect(canonicalTimestamp(input)).toBeUndefined();
    expect(parseTimestamp(input)).toBeUndefined();
  });
});

describe('parseTimestamp and formatTimestamp', () => {
  it('counts microseconds from the Unix epoch, in UTC', () => {
    expect(parseTimestamp('1970-01-01 00:00:00')).toBe(0n);
    expect(parseTimestamp('2015-08-10T12:00:00.000001')).toBe(1_439_208_000_000_001n);
    expect(parseTimestamp('1969-12-31 23:59:59.999999')).toBe(-1n);
    expect(parseTimestamp('0001-01-01 00:00:00')).toBe(MIN_TIMESTAMP_MICROS);
    expect(parseTimestamp('9999-12-31 23:59:59.999999')).toBe(MAX_TIMESTAMP_MICROS);
  });

  it('formats with six fraction digits, also before 1970', () => {
    expect(formatTimestamp(1_439_208_000_000_001n)).toBe('2015-08-10 12:00:00.000001');
    expect(formatTimestamp(-1n)).toBe('1969-12-31 23:59:59.999999');
    expect(formatTimestamp(-1_000n)).toBe('1969-12-31 23:59:59.999000');
    expect(formatTimestamp(MIN_TIMESTAMP_MICROS)).toBe('0001-01-01 00:00:00.000000');
    expect(formatTimestamp(MAX_TIMESTAMP_MICROS)).toBe('9999-12-31 23:59:59.999999');
  });

  it('refuses to format instants outside years 0001-9999', () => {
    expect(isTimestampInRange(MAX_TIMESTAMP_MICROS + 1n)).toBe(false);
    expect(isTimestampInRange(MIN_TIMESTAMP_MICROS - 1n)).toBe(false);
    expect(() => formatTimestamp(MAX_TIMESTAMP_MICROS + 1n)).toThrow(RangeError);
    expect(() => formatTimestamp(MIN_TIMESTAMP_MICROS - 1n)).toThrow(RangeError);
  });

  it('round-trips every instant in range (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: MIN_TIMESTAMP_MICROS, max: MAX_TIMESTAMP_MICROS }), (micros) => {
        const text = formatTimestamp(micros);
        expect(text).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/);
        expect(canonicalTimestamp(text)).toBe(text);
        expect(parseTimestamp(text)).toBe(micros);
        expect(parseTimestamp(text.replace(' ', 'T'))).toBe(micros);
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with Date on the calendar for any valid date (property)', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('0001-01-01T00:00:00Z'),
          max: new Date('9999-12-31T23:59:59.999Z'),
          noInvalidDate: true,
        }),
        (date) => {
          const iso = date.toISOString();
          const text = `${iso.slice(0, 10)}T${iso.slice(11, 23)}`;
          expect(parseTimestamp(text)).toBe(BigInt(date.getTime()) * 1000n);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('epochMillisToMicros', () => {
  it('converts epoch milliseconds, keeping sub-millisecond digits to the microsecond', () => {
    expect(epochMillisToMicros(1_439_208_000_123)).toBe(1_439_208_000_123_000n);
    expect(epochMillisToMicros(1_439_208_000_123.5)).toBe(1_439_208_000_123_500n);
    expect(epochMillisToMicros(0)).toBe(0n);
    expect(epochMillisToMicros(-1)).toBe(-1_000n);
  });

  it('rejects values outside years 0001-9999 and non-finite values', () => {
    expect(epochMillisToMicros(253_402_300_800_000)).toBeUndefined();
    expect(epochMillisToMicros(-62_135_596_800_001)).toBeUndefined();
    expect(epochMillisToMicros(Number.POSITIVE_INFINITY)).toBeUndefined();
    expect(epochMillisToMicros(Number.NaN)).toBeUndefined();
    expect(epochMillisToMicros(1e300)).toBeUndefined();
  });
});

describe('seedEventTime', () => {
  const clientEvent = at('2015-08-10 12:00:00');
  const clientUpload = at('2015-08-10 12:05:00');

  it('adds server_received_time - client_upload_time when it is 60 s or more', () => {
    expect(formatTimestamp(seedEventTime(clientEvent, clientUpload, at('2015-08-10 12:06:00')))).toBe(
      '2015-08-10 12:01:00.000000',
    );
    expect(formatTimestamp(seedEventTime(clientEvent, clientUpload, at('2015-08-10 14:05:00.25')))).toBe(
      '2015-08-10 14:00:00.250000',
    );
  });

  it('adjusts backwards when the device clock runs ahead by 60 s or more', () => {
    expect(formatTimestamp(seedEventTime(clientEvent, clientUpload, at('2015-08-10 12:04:00')))).toBe(
      '2015-08-10 11:59:00.000000',
    );
  });

  it('leaves client_event_time unadjusted when the difference is under 60 s either way', () => {
    expect(seedEventTime(clientEvent, clientUpload, at('2015-08-10 12:05:59.999999'))).toBe(clientEvent);
    expect(seedEventTime(clientEvent, clientUpload, at('2015-08-10 12:04:00.000001'))).toBe(clientEvent);
    expect(seedEventTime(clientEvent, clientUpload, clientUpload)).toBe(clientEvent);
  });
});
