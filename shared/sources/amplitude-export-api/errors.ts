import { describeRange, type HourRange } from '../../base/hours.ts';

/**
 * What went wrong, which drives what the caller does next:
 * - `too-large`: one hour is more than the API returns at once (400 / 504 after retries);
 *   other hours still go on.
 * - `unavailable`: the API kept failing (429, 5xx, timeouts, truncated answers) after every
 *   retry; later hours are left for the next run.
 * - `rejected`: the API refused the request (bad credentials, unexpected status); nothing else
 *   can succeed until a person fixes it.
 * - `invalid-content`: the answer is well-formed but not what this connector can place
 *   (unknown file names, another project's files).
 * - `local`: the machine running the pull failed (e.g. the temp folder is full).
 */
export type ExportApiErrorKind = 'too-large' | 'unavailable' | 'rejected' | 'invalid-content' | 'local';

export class ExportApiError extends Error {
  override readonly name = 'ExportApiError';
  readonly startHour: string;
  readonly endHour: string;

  constructor(
    readonly kind: ExportApiErrorKind,
    readonly range: HourRange,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(`Export API, hours ${describeRange(range)}: ${message}`, options);
    this.startHour = describeRange({ first: range.first, last: range.first });
    this.endHour = describeRange({ first: range.last, last: range.last });
  }

  /** Hour-level failures that do not stop other hours of the same pull. */
  get perHour(): boolean {
    return this.kind === 'too-large';
  }
}

/** `pullHours` failed for some hours; the others were written. */
export class ExportApiPullError extends Error {
  override readonly name = 'ExportApiPullError';

  constructor(
    readonly failures: readonly ExportApiError[],
    readonly notAttempted: readonly HourRange[],
  ) {
    const skipped =
      notAttempted.length > 0
        ? ` Not attempted after that: ${notAttempted.map(describeRange).join(', ')}.`
        : '';
    super(
      `${failures.length} request(s) to the Amplitude Export API failed; the hours that succeeded are in landing, the failed ones are not (no partial files).${skipped} ${failures.map((failure) => failure.message).join(' | ')}`,
    );
  }
}
