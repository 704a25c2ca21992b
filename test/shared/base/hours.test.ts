import { describe, expect, it } from 'vitest';
import {
  addDays,
  BackfillInputError,
  formatHour,
  hourIndexOf,
  parseHour,
  parseHourSpec,
  runsOf,
  splitRange,
  utcDay,
} from '#shared/base/hours.ts';

describe('hours of a backfill range', () => {
  it('reads a day as its first hour at the start and its last hour at the end', () => {
    expect(formatHour(parseHourSpec('2026-01-31', 'start', 'start'))).toBe('2026-01-31T00');
    expect(formatHour(parseHourSpec('2026-01-31', 'end', 'end'))).toBe('2026-01-31T23');
  });

  it("reads an hour as given, also in the Export API's compact form", () => {
    expect(formatHour(parseHourSpec('2026-01-31T05', 'start', 'start'))).toBe('2026-01-31T05');
    expect(formatHour(parseHourSpec('20260131T05', 'end', 'end'))).toBe('2026-01-31T05');
    expect(formatHour(parseHourSpec('2024-02-29T23', 'end', 'end'))).toBe('2024-02-29T23');
  });

  it.each([
    ['2026-02-30'],
    ['2026-13-01'],
    ['2026-01-31T24'],
    ['2026-01-31T5'],
    ['yesterday'],
    ['2026-01-31 05:00'],
  ])('refuses %j, naming the field and the accepted forms', (text) => {
    expect(() => parseHourSpec(text, 'start', 'start')).toThrow(BackfillInputError);
    expect(() => parseHourSpec(text, 'start', 'start')).toThrow(
      new RegExp(
        `^start "${text}" is not a valid date: expected a day as YYYY-MM-DD .* or an hour as YYYY-MM-DDTHH`,
      ),
    );
  });

  it('says a missing field is required', () => {
    expect(() => parseHourSpec(undefined, 'end', 'end')).toThrow(/^end is required: a day as YYYY-MM-DD/);
  });
});

describe('hours as the Export API connector reads them', () => {
  it('reads hours in the forms people and the API write them', () => {
    expect(parseHour('2024-05-01T07')).toBe(hourIndexOf('2024-05-01T07'));
    expect(parseHour('20240501T07')).toBe(hourIndexOf('2024-05-01T07'));
    expect(parseHour('2024-05-01', 'end')).toBe(hourIndexOf('2024-05-01T23'));
    expect(parseHour('2024-02-30')).toBeUndefined();
  });

  it('cuts hours into requests', () => {
    expect(splitRange({ first: 0, last: 9 }, 4)).toEqual([
      { first: 0, last: 3 },
      { first: 4, last: 7 },
      { first: 8, last: 9 },
    ]);
    expect(runsOf([1, 2, 3, 5, 6, 9], 2)).toEqual([
      { first: 1, last: 2 },
      { first: 3, last: 3 },
      { first: 5, last: 6 },
      { first: 9, last: 9 },
    ]);
  });

  it('counts days in UTC', () => {
    expect(utcDay(new Date('2024-03-01T23:59:59.999Z'))).toBe('2024-03-01');
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(addDays('2024-03-01', -1)).toBe('2024-02-29');
  });
});
