/**
 * Amplitude timestamps (UTC, no zone) and their one canonical text form,
 * `YYYY-MM-DD HH:MM:SS.ffffff`. Redshift COPY reads it with its default TIMEFORMAT (seconds
 * carry up to six fraction digits) and PostgreSQL reads it as `timestamp(6)`, both to the same
 * instant, so the staged CSV never depends on a warehouse's guessing.
 *
 * Instants are microseconds since 1970-01-01 as `bigint`: year 9999 is ~2.5e17 us, beyond the
 * 2^53 a JS number holds exactly. Years are limited to 0001-9999 (four digits in and out;
 * PostgreSQL has no year 0).
 */

export const MIN_TIMESTAMP_MICROS = -62_135_596_800_000_000n; // 0001-01-01 00:00:00
export const MAX_TIMESTAMP_MICROS = 253_402_300_799_999_999n; // 9999-12-31 23:59:59.999999

const MICROS_PER_SECOND = 1_000_000n;
const SECONDS_PER_DAY = 86_400;
const MAX_ABS_EPOCH_MS = 253_402_300_800_000;

const ZERO = 48;
const DASH = 45;
const COLON = 58;
const SPACE = 32;
const LETTER_T = 84;
const DOT = 46;

function digitAt(text: string, index: number): number {
  const d = text.charCodeAt(index) - ZERO;
  return d >= 0 && d <= 9 ? d : -1;
}

function twoDigits(text: string, index: number): number {
  const tens = digitAt(text, index);
  const ones = digitAt(text, index + 1);
  return tens < 0 || ones < 0 ? -1 : tens * 10 + ones;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Checks shape and calendar without allocating: this runs for about seven values per event.
 * Accepts `YYYY-MM-DDTHH:MM:SS` or with a space, then optionally `.` and 0-6 digits.
 */
function isTimestampText(text: string): boolean {
  const length = text.length;
  if (length < 19 || length > 26) return false;
  const separator = text.charCodeAt(10);
  if (
    text.charCodeAt(4) !== DASH ||
    text.charCodeAt(7) !== DASH ||
    (separator !== LETTER_T && separator !== SPACE) ||
    text.charCodeAt(13) !== COLON ||
    text.charCodeAt(16) !== COLON
  ) {
    return false;
  }
  const century = twoDigits(text, 0);
  const yearOfCentury = twoDigits(text, 2);
  const month = twoDigits(text, 5);
  const day = twoDigits(text, 8);
  const hour = twoDigits(text, 11);
  const minute = twoDigits(text, 14);
  const second = twoDigits(text, 17);
  if (century < 0 || yearOfCentury < 0 || month < 1 || month > 12 || day < 1) return false;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return false;
  const year = century * 100 + yearOfCentury;
  if (year < 1 || day > daysInMonth(year, month)) return false;
  if (length > 19) {
    if (text.charCodeAt(19) !== DOT) return false;
    for (let i = 20; i < length; i++) {
      if (digitAt(text, i) < 0) return false;
    }
  }
  return true;
}

/** Canonical text of a valid Amplitude timestamp, or undefined when it is not one. */
export function canonicalTimestamp(text: string): string | undefined {
  if (!isTimestampText(text)) return undefined;
  if (text.length === 26 && text.charCodeAt(10) === SPACE) return text;
  const fraction = text.length > 20 ? text.slice(20) : '';
  return `${text.slice(0, 10)} ${text.slice(11, 19)}.${fraction.padEnd(6, '0')}`;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days-from-civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** Microseconds since the epoch of an Amplitude timestamp, or undefined when it is not one. */
export function parseTimestamp(text: string): bigint | undefined {
  if (!isTimestampText(text)) return undefined;
  const days = daysFromCivil(Number(text.slice(0, 4)), Number(text.slice(5, 7)), Number(text.slice(8, 10)));
  const seconds =
    days * SECONDS_PER_DAY +
    Number(text.slice(11, 13)) * 3600 +
    Number(text.slice(14, 16)) * 60 +
    Number(text.slice(17, 19));
  const fraction = text.length > 20 ? Number(text.slice(20).padEnd(6, '0')) : 0;
  return BigInt(seconds) * MICROS_PER_SECOND + BigInt(fraction);
}

export function isTimestampInRange(micros: bigint): boolean {
  return micros >= MIN_TIMESTAMP_MICROS && micros <= MAX_TIMESTAMP_MICROS;
}

/** Canonical text of an instant. Throws RangeError outside years 0001-9999 (check first). */
export function formatTimestamp(micros: bigint): string {
  if (!isTimestampInRange(micros)) {
    throw new RangeError(
      `Timestamp ${micros} us is outside 0001-01-01..9999-12-31; check isTimestampInRange first`,
    );
  }
  let millis = micros / 1000n;
  let subMillis = micros % 1000n;
  if (subMillis < 0n) {
    subMillis += 1000n;
    millis -= 1n;
  }
  // Date covers years 0001-9999 exactly at millisecond precision and prints four-digit years there.
  const iso = new Date(Number(millis)).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${String(subMillis).padStart(3, '0')}`;
}

/**
 * Microseconds of an epoch-milliseconds value (merged-ID times), rounded to the microsecond,
 * or undefined when it is not finite or lies outside years 0001-9999.
 */
export function epochMillisToMicros(millis: number): bigint | undefined {
  // Cheap bound first, so absurd values never become huge bigints.
  if (!(Math.abs(millis) <= MAX_ABS_EPOCH_MS)) return undefined;
  const whole = Math.floor(millis);
  const micros = BigInt(whole) * 1000n + BigInt(Math.round((millis - whole) * 1000));
  return isTimestampInRange(micros) ? micros : undefined;
}

/** Differences smaller than this leave event_time equal to client_event_time (seed rule). */
export const EVENT_TIME_ADJUSTMENT_THRESHOLD_MICROS = 60_000_000n;

/**
 * The seed's event_time: client_event_time + (server_received_time - client_upload_time),
 * unadjusted when that difference is under 60 seconds either way. May fall outside the
 * supported range; callers check.
 */
export function seedEventTime(
  clientEventTime: bigint,
  clientUploadTime: bigint,
  serverReceivedTime: bigint,
): bigint {
  const clockOffset = serverReceivedTime - clientUploadTime;
  const magnitude = clockOffset < 0n ? -clockOffset : clockOffset;
  return magnitude < EVENT_TIME_ADJUSTMENT_THRESHOLD_MICROS ? clientEventTime : clientEventTime + clockOffset;
}
